package ec2

import (
	"errors"
	"strconv"
	"strings"

	"github.com/kplane/kplane/internal/store"
)

func (h *Handler) securityGroupFields() fields[store.SecurityGroup] {
	one := func(f func(store.SecurityGroup) string) func(store.SecurityGroup) []string {
		return func(g store.SecurityGroup) []string { return []string{f(g)} }
	}
	f := fields[store.SecurityGroup]{
		"group-id":    one(func(g store.SecurityGroup) string { return g.ID }),
		"group-name":  one(func(g store.SecurityGroup) string { return g.Name }),
		"vpc-id":      one(func(g store.SecurityGroup) string { return g.VpcID }),
		"description": one(func(g store.SecurityGroup) string { return g.Description }),
		"owner-id":    one(func(store.SecurityGroup) string { return h.cfg.AccountID }),
	}
	// ip-permission.X and egress.ip-permission.X: a value of any rule of that direction.
	ruleValues := map[string]func(r store.SecurityGroupRule) string{
		"cidr": func(r store.SecurityGroupRule) string { return r.CidrIPv4 }, "ipv6-cidr": func(r store.SecurityGroupRule) string { return r.CidrIPv6 },
		"prefix-list-id": func(r store.SecurityGroupRule) string { return r.PrefixListID },
		"group-id":       func(r store.SecurityGroupRule) string { return r.ReferencedGroupID },
		"protocol":       func(r store.SecurityGroupRule) string { return r.Protocol },
		"from-port":      func(r store.SecurityGroupRule) string { return strconv.Itoa(r.FromPort) },
		"to-port":        func(r store.SecurityGroupRule) string { return strconv.Itoa(r.ToPort) },
	}
	for name, get := range ruleValues {
		for _, egress := range []bool{false, true} {
			prefix := "ip-permission."
			if egress {
				prefix = "egress." + prefix
			}
			f[prefix+name] = func(g store.SecurityGroup) []string {
				var out []string
				for _, r := range g.Rules {
					if v := get(r); r.Egress == egress && v != "" {
						out = append(out, v)
					}
				}
				return out
			}
		}
	}
	return f
}

func (h *Handler) describeSecurityGroups(c *call) (any, *apiError) {
	n, err := h.cfg.Store.FullNetwork(c.ctx)
	if err != nil {
		return nil, h.storeError(c, err)
	}
	groups := n.SecurityGroups
	ids, names := c.in.lists["GroupId"], c.in.lists["GroupName"]
	if len(ids) > 0 || len(names) > 0 {
		groups = nil
		for _, id := range ids {
			if e := groupIDs.check(id); e != nil {
				return nil, e
			}
			g, found := n.SecurityGroup(id)
			if !found {
				return nil, groupIDs.notFoundError(id)
			}
			groups = append(groups, g)
		}
		for _, name := range names {
			g, e := h.groupByName(n, name)
			if e != nil {
				return nil, e
			}
			groups = append(groups, g)
		}
	}
	groups, e := filterItems(groups, c.in.filters, h.securityGroupFields(), func(g store.SecurityGroup) map[string]string { return g.Tags })
	if e != nil {
		return nil, e
	}
	page, next, e := paginate(groups, func(g store.SecurityGroup) string { return g.ID }, c.in)
	if e != nil {
		return nil, e
	}
	out := &describeSecurityGroupsResult{NextToken: next}
	for _, g := range page {
		out.Groups.Items = append(out.Groups.Items, h.securityGroupItem(g))
	}
	return out, nil
}

// groupByName finds a group by name in the default VPC, where EC2 looks
// group names up.
func (h *Handler) groupByName(n *store.Network, name string) (store.SecurityGroup, *apiError) {
	var dflt *store.VPC
	for i := range n.VPCs {
		if n.VPCs[i].IsDefault {
			dflt = &n.VPCs[i]
		}
	}
	if dflt == nil {
		return store.SecurityGroup{}, errorf(codeVpcNotSpecified, "No default VPC for this user. GroupName is only supported for EC2-Classic and default VPC.")
	}
	for _, g := range n.SecurityGroups {
		if g.VpcID == dflt.ID && g.Name == name {
			return g, nil
		}
	}
	return store.SecurityGroup{}, errorf(codeInvalidGroupNotFound, "The security group '%s' does not exist in default VPC '%s'", printable(name), dflt.ID)
}

// Group names and descriptions: up to 255 characters of the set EC2 allows
// in a VPC.
const maxGroupText = 255

func validGroupText(s string) bool {
	if len(s) > maxGroupText {
		return false
	}
	for _, c := range s {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune(" ._-:/()#,@[]+=&;{}!$*", c)
		if !ok {
			return false
		}
	}
	return true
}

func (h *Handler) createSecurityGroup(c *call) (any, *apiError) {
	name, desc := c.in.str("GroupName"), c.in.str("GroupDescription")
	switch {
	case name == "":
		return nil, missing("GroupName")
	case desc == "":
		return nil, missing("GroupDescription")
	case strings.HasPrefix(strings.ToLower(name), "sg-"):
		return nil, errorf(codeInvalidParameterValue, "Group names may not be in the format sg-*.")
	case strings.EqualFold(name, "default"):
		return nil, errorf(codeInvalidParameterValue, "Cannot use reserved security group name: default")
	case !validGroupText(name):
		return nil, invalidValue("GroupName", printable(name), "Up to 255 characters: a-z, A-Z, 0-9, spaces, and ._-:/()#,@[]+=&;{}!$*")
	case !validGroupText(desc):
		return nil, invalidValue("GroupDescription", printable(desc), "Up to 255 characters: a-z, A-Z, 0-9, spaces, and ._-:/()#,@[]+=&;{}!$*")
	}
	vpcID := c.in.str("VpcId")
	if vpcID == "" {
		n, err := h.cfg.Store.Network(c.ctx)
		if err != nil {
			return nil, h.storeError(c, err)
		}
		for _, v := range n.VPCs {
			if v.IsDefault {
				vpcID = v.ID
			}
		}
		if vpcID == "" {
			return nil, errorf(codeVpcNotSpecified, "No default VPC for this user")
		}
	} else if e := vpcIDs.check(vpcID); e != nil {
		return nil, e
	}
	tagsOf, e := tagsFromSpecs(c.in.tagSpecs, "security-group")
	if e != nil {
		return nil, e
	}
	g := store.SecurityGroup{ID: store.NewResourceID("sg"), VpcID: vpcID, Name: name, Description: desc, Tags: tagsOf,
		Rules: []store.SecurityGroupRule{store.AllowAllEgress()}}
	switch err := h.cfg.Store.CreateSecurityGroup(c.ctx, g); {
	case errors.Is(err, store.ErrNotFound):
		return nil, vpcIDs.notFoundError(vpcID)
	case errors.Is(err, store.ErrExists):
		return nil, errorf(codeInvalidGroupDuplicate, "The security group '%s' already exists for VPC '%s'", name, vpcID)
	case err != nil:
		return nil, h.storeError(c, err)
	}
	return &createSecurityGroupResult{Return: true, GroupID: g.ID, SecurityGroupArn: h.arn("security-group", g.ID), TagSet: tagSetOf(g.Tags)}, nil
}

func (h *Handler) deleteSecurityGroup(c *call) (any, *apiError) {
	id, name := c.in.str("GroupId"), c.in.str("GroupName")
	switch {
	case id == "" && name == "":
		return nil, errorf(codeMissingParameter, "The request must contain the parameter groupName or groupId")
	case id != "" && name != "":
		return nil, errorf(codeInvalidParameterCombo, "The parameter groupName cannot be used with the parameter groupId")
	case id == "":
		n, err := h.cfg.Store.Network(c.ctx)
		if err != nil {
			return nil, h.storeError(c, err)
		}
		g, e := h.groupByName(n, name)
		if e != nil {
			return nil, e
		}
		id = g.ID
	}
	if e := groupIDs.check(id); e != nil {
		return nil, e
	}
	switch err := h.cfg.Store.DeleteSecurityGroup(c.ctx, id); {
	case errors.Is(err, store.ErrNotFound):
		return nil, groupIDs.notFoundError(id)
	case errors.Is(err, store.ErrInUse):
		return nil, errorf(codeDependencyViolation, "resource %s has a dependent object", id)
	case errors.Is(err, store.ErrCannotDelete):
		return nil, errorf(codeCannotDelete, "the specified group: %q name: \"default\" cannot be deleted by a user", id)
	case err != nil:
		return nil, h.storeError(c, err)
	}
	return &deleteSecurityGroupResult{Return: true, GroupID: id}, nil
}
