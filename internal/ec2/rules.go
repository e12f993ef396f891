package ec2

import (
	"errors"

	"github.com/kplane/kplane/internal/store"
)

// Security group rules: Authorize/Revoke SecurityGroupIngress/Egress,
// ModifySecurityGroupRules and DescribeSecurityGroupRules. A group keeps at
// most maxRulesPerDirection rules each way, as EC2's default quota.

const maxRulesPerDirection = 60

var ruleIDs = idKind{"sgr-", "InvalidSecurityGroupRuleId.NotFound", "InvalidSecurityGroupRuleId.Malformed", "security group rule ID"}

// changeError carries an EC2 error out of a store change function.
type changeError struct{ e *apiError }

func (c changeError) Error() string { return c.e.msg }

// targetGroup is the group a rule call names (GroupId, or GroupName in the
// default VPC), with the inventory it was found in.
func (h *Handler) targetGroup(c *call) (store.SecurityGroup, *store.Network, *apiError) {
	n, err := h.cfg.Store.FullNetwork(c.ctx)
	if err != nil {
		return store.SecurityGroup{}, nil, h.storeError(c, err)
	}
	id, name := c.in.str("GroupId"), c.in.str("GroupName")
	switch {
	case id == "" && name == "":
		return store.SecurityGroup{}, nil, errorf(codeMissingParameter, "The request must contain the parameter groupName or groupId")
	case id != "" && name != "":
		return store.SecurityGroup{}, nil, errorf(codeInvalidParameterCombo, "The parameter groupName cannot be used with the parameter groupId")
	case id == "":
		g, e := h.groupByName(n, name)
		return g, n, e
	}
	if e := groupIDs.check(id); e != nil {
		return store.SecurityGroup{}, nil, e
	}
	g, ok := n.SecurityGroup(id)
	if !ok {
		return store.SecurityGroup{}, nil, groupIDs.notFoundError(id)
	}
	return g, n, nil
}

// changeRules writes change to group g and maps the store's errors.
func (h *Handler) changeRules(c *call, g store.SecurityGroup, change func(g *store.SecurityGroup) *apiError) (store.SecurityGroup, *apiError) {
	written, err := h.cfg.Store.ChangeSecurityGroupRules(c.ctx, g.ID, func(g *store.SecurityGroup) error {
		if e := change(g); e != nil {
			return changeError{e}
		}
		return nil
	})
	var ce changeError
	var pe *store.PeerError
	switch {
	case errors.As(err, &ce):
		return written, ce.e
	case errors.As(err, &pe) && pe.OtherVPC:
		return written, errorf(codeInvalidGroupNotFound, "You have specified two resources that belong to different networks.")
	case errors.As(err, &pe):
		return written, groupIDs.notFoundError(pe.GroupID)
	case errors.Is(err, store.ErrNotFound):
		return written, groupIDs.notFoundError(g.ID)
	case err != nil:
		return written, h.storeError(c, err)
	}
	return written, nil
}

func (h *Handler) authorizeIngress(c *call) (any, *apiError) { return h.authorizeRules(c, false) }
func (h *Handler) authorizeEgress(c *call) (any, *apiError)  { return h.authorizeRules(c, true) }

func (h *Handler) authorizeRules(c *call, egress bool) (any, *apiError) {
	g, n, e := h.targetGroup(c)
	if e != nil {
		return nil, e
	}
	var rules []store.SecurityGroupRule
	if t := c.in.trees["IpPermissions"]; t != nil {
		rules, e = h.permissionRules(t, egress, n, g)
	} else if egress {
		e = errorf(codeMissingParameter, "The request must contain the parameter ipPermissions")
	} else {
		rules, e = h.flatRules(c.in, n, g)
	}
	if e != nil {
		return nil, e
	}
	tagsOf, e := tagsFromSpecs(c.in.tagSpecs, "security-group-rule")
	if e != nil {
		return nil, e
	}
	for i := range rules {
		rules[i].ID = store.NewResourceID("sgr")
		rules[i].Tags = tagsOf
		for _, earlier := range rules[:i] {
			if earlier.SameTraffic(rules[i]) {
				return nil, duplicateRule(rules[i])
			}
		}
	}
	written, e := h.changeRules(c, g, func(g *store.SecurityGroup) *apiError {
		count := 0
		for _, have := range g.Rules {
			if have.Egress == egress {
				count++
			}
			for _, r := range rules {
				if have.SameTraffic(r) {
					return duplicateRule(r)
				}
			}
		}
		if count+len(rules) > maxRulesPerDirection {
			return errorf(codeRulesLimitExceeded, "The maximum number of rules per security group has been reached.")
		}
		g.Rules = append(g.Rules, rules...)
		return nil
	})
	if e != nil {
		return nil, e
	}
	out := &authorizeRulesResult{Return: true}
	for _, r := range rules {
		out.Rules.Items = append(out.Rules.Items, h.ruleItem(written, r))
	}
	return out, nil
}

func (h *Handler) revokeIngress(c *call) (any, *apiError) { return h.revokeRules(c, false) }
func (h *Handler) revokeEgress(c *call) (any, *apiError)  { return h.revokeRules(c, true) }

func (h *Handler) revokeRules(c *call, egress bool) (any, *apiError) {
	ids := c.in.lists["SecurityGroupRuleId"]
	t := c.in.trees["IpPermissions"]
	if len(ids) > 0 && (t != nil || c.in.has("CidrIp") || c.in.has("SourceSecurityGroupName")) {
		return nil, errorf(codeInvalidParameterCombo, "The parameter SecurityGroupRuleIds cannot be used with the parameter IpPermissions")
	}
	for _, id := range ids {
		if e := ruleIDs.check(id); e != nil {
			return nil, e
		}
	}
	g, n, e := h.targetGroup(c)
	if e != nil {
		return nil, e
	}
	var wanted []store.SecurityGroupRule
	if len(ids) == 0 {
		if t != nil {
			wanted, e = h.permissionRules(t, egress, n, g)
		} else if egress {
			e = errorf(codeMissingParameter, "The request must contain the parameter ipPermissions")
		} else {
			wanted, e = h.flatRules(c.in, n, g)
		}
		if e != nil {
			return nil, e
		}
	}
	vpc, _ := n.VPC(g.VpcID)
	var revoked, unknown []store.SecurityGroupRule
	_, e = h.changeRules(c, g, func(g *store.SecurityGroup) *apiError {
		revoked, unknown = nil, nil
		gone := map[string]bool{}
		for _, id := range ids {
			found := false
			for _, r := range g.Rules {
				if r.ID == id && r.Egress == egress {
					found = true
					gone[id] = true
					revoked = append(revoked, r)
				}
			}
			if !found {
				return errorf(ruleIDs.notFound, "The security group rule ID '%s' does not exist", id)
			}
		}
		for _, w := range wanted {
			found := false
			for _, r := range g.Rules {
				if r.SameTraffic(w) && !gone[r.ID] {
					found = true
					gone[r.ID] = true
					revoked = append(revoked, r)
				}
			}
			if !found {
				unknown = append(unknown, w)
			}
		}
		// Outside a default VPC, EC2 revokes nothing when a rule is not there.
		if len(unknown) > 0 && !vpc.IsDefault {
			return errorf(codeInvalidPermissionNotFound, "The specified rule does not exist in this security group.")
		}
		kept := g.Rules[:0:0]
		for _, r := range g.Rules {
			if !gone[r.ID] {
				kept = append(kept, r)
			}
		}
		g.Rules = kept
		return nil
	})
	if e != nil {
		return nil, e
	}
	out := &revokeRulesResult{Return: true}
	if len(unknown) > 0 {
		out.Unknown = &itemSet[ipPermissionItem]{Items: permissionsOf(unknown, egress, h.cfg.AccountID)}
	}
	for _, r := range revoked {
		out.Revoked.Items = append(out.Revoked.Items, revokedRuleItem{
			SecurityGroupRuleID: r.ID, GroupID: g.ID, IsEgress: r.Egress, IPProtocol: r.Protocol,
			FromPort: r.FromPort, ToPort: r.ToPort, CidrIPv4: r.CidrIPv4, CidrIPv6: r.CidrIPv6,
			PrefixListID: r.PrefixListID, ReferencedGroupID: r.ReferencedGroupID, Description: r.Description,
		})
	}
	return out, nil
}

// modifyRules replaces rules of a group by id with SecurityGroupRuleRequests.
func (h *Handler) modifyRules(c *call) (any, *apiError) {
	if c.in.str("GroupId") == "" {
		return nil, missing("GroupId")
	}
	g, n, e := h.targetGroup(c)
	if e != nil {
		return nil, e
	}
	if e := c.in.trees["SecurityGroupRule"].conform(ruleUpdatesShape); e != nil {
		return nil, e
	}
	items, e := c.in.trees["SecurityGroupRule"].items()
	if e != nil {
		return nil, e
	}
	if len(items) == 0 {
		return nil, missing("SecurityGroupRule")
	}
	updates := map[string]store.SecurityGroupRule{}
	var order []string
	for _, it := range items {
		id := it.str("SecurityGroupRuleId")
		if id == "" {
			return nil, missing("SecurityGroupRule.N.SecurityGroupRuleId")
		}
		if e := ruleIDs.check(id); e != nil {
			return nil, e
		}
		req := it.member("SecurityGroupRule")
		if req == nil {
			return nil, missing("SecurityGroupRule.N.SecurityGroupRule")
		}
		r, e := h.ruleRequest(req, n, g)
		if e != nil {
			return nil, e
		}
		r.ID = id
		updates[id] = r
		order = append(order, id)
	}
	_, e = h.changeRules(c, g, func(g *store.SecurityGroup) *apiError {
		index := map[string]int{}
		for i, r := range g.Rules {
			index[r.ID] = i
		}
		for _, id := range order {
			i, ok := index[id]
			if !ok {
				return errorf(ruleIDs.notFound, "The security group rule ID '%s' does not exist", id)
			}
			u := updates[id]
			u.Egress, u.Tags = g.Rules[i].Egress, g.Rules[i].Tags
			g.Rules[i] = u
		}
		for i, a := range g.Rules {
			for _, b := range g.Rules[:i] {
				if a.SameTraffic(b) {
					return duplicateRule(a)
				}
			}
		}
		return nil
	})
	if e != nil {
		return nil, e
	}
	return success, nil
}

var ruleUpdatesShape = listOf(structOf(map[string]*shape{
	"SecurityGroupRuleId": scalarShape,
	"SecurityGroupRule": structOf(map[string]*shape{"IpProtocol": scalarShape, "FromPort": scalarShape, "ToPort": scalarShape,
		"CidrIpv4": scalarShape, "CidrIpv6": scalarShape, "PrefixListId": scalarShape, "ReferencedGroupId": scalarShape, "Description": scalarShape}),
}))

// ruleRequest reads a SecurityGroupRuleRequest: one protocol, port range
// and peer.
func (h *Handler) ruleRequest(t *tree, n *store.Network, g store.SecurityGroup) (store.SecurityGroupRule, *apiError) {
	r, e := protocolAndPorts(t)
	if e != nil {
		return r, e
	}
	r.Description = t.str("Description")
	if e := checkRuleDescription(r.Description); e != nil {
		return r, e
	}
	peers := 0
	if v := t.str("CidrIpv4"); v != "" {
		peers++
		if r.CidrIPv4, e = checkCidr4(v); e != nil {
			return r, e
		}
	}
	if v := t.str("CidrIpv6"); v != "" {
		peers++
		if r.CidrIPv6, e = checkCidr6(v); e != nil {
			return r, e
		}
	}
	if v := t.str("PrefixListId"); v != "" {
		peers++
		if e := prefixListIDs.check(v); e != nil {
			return r, e
		}
		r.PrefixListID = v
	}
	if v := t.str("ReferencedGroupId"); v != "" {
		peers++
		if r.ReferencedGroupID, e = h.peerGroup(n, g.VpcID, v, "", ""); e != nil {
			return r, e
		}
	}
	if peers != 1 {
		return r, errorf(codeInvalidParameterCombo, "A security group rule needs exactly one of CidrIpv4, CidrIpv6, PrefixListId and ReferencedGroupId")
	}
	return r, nil
}

func (h *Handler) ruleFields() fields[groupRule] {
	return fields[groupRule]{
		"group-id":               func(r groupRule) []string { return []string{r.group.ID} },
		"security-group-rule-id": func(r groupRule) []string { return []string{r.rule.ID} },
	}
}

// groupRule is a rule with the group it belongs to.
type groupRule struct {
	group store.SecurityGroup
	rule  store.SecurityGroupRule
}

func (h *Handler) describeRules(c *call) (any, *apiError) {
	n, err := h.cfg.Store.FullNetwork(c.ctx)
	if err != nil {
		return nil, h.storeError(c, err)
	}
	var all []groupRule
	byID := map[string]groupRule{}
	for _, g := range n.SecurityGroups {
		for _, r := range g.Rules {
			all = append(all, groupRule{g, r})
			byID[r.ID] = groupRule{g, r}
		}
	}
	if ids := c.in.lists["SecurityGroupRuleId"]; len(ids) > 0 {
		all = nil
		for _, id := range ids {
			if e := ruleIDs.check(id); e != nil {
				return nil, e
			}
			gr, ok := byID[id]
			if !ok {
				return nil, errorf(ruleIDs.notFound, "The security group rule ID '%s' does not exist", id)
			}
			all = append(all, gr)
		}
	}
	rules, e := filterItems(all, c.in.filters, h.ruleFields(), func(r groupRule) map[string]string { return r.rule.Tags })
	if e != nil {
		return nil, e
	}
	page, next, e := paginate(rules, func(r groupRule) string { return r.rule.ID }, c.in)
	if e != nil {
		return nil, e
	}
	out := &describeRulesResult{NextToken: next}
	for _, r := range page {
		out.Rules.Items = append(out.Rules.Items, h.ruleItem(r.group, r.rule))
	}
	return out, nil
}
