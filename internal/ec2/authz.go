package ec2

import (
	"net/http"
	"strings"

	"github.com/kplane/kplane/internal/auth"
	"github.com/kplane/kplane/internal/policy"
)

// What each EC2 action asks of IAM: its action is ec2:ACTION and its
// resources are named here, as the EC2 service authorization reference
// names them (Describe calls act on "*"; a create on TYPE/*, with the tags
// it sets; a call on ids on each id's ARN, with that resource's tags as
// aws:ResourceTag/*, authz_tags.go). An action missing here acts on
// "*"; files that add actions add theirs here too.
var resourcesOf = map[string]func(h *Handler, in *input) []string{
	"CreateVpc":                     func(h *Handler, _ *input) []string { return []string{h.arn("vpc", "*")} },
	"CreateSubnet":                  func(h *Handler, _ *input) []string { return []string{h.arn("subnet", "*")} },
	"CreateSecurityGroup":           func(h *Handler, _ *input) []string { return []string{h.arn("security-group", "*")} },
	"DeleteVpc":                     func(h *Handler, in *input) []string { return []string{h.idArn(in.str("VpcId"))} },
	"DeleteSubnet":                  func(h *Handler, in *input) []string { return []string{h.idArn(in.str("SubnetId"))} },
	"DeleteSecurityGroup":           groupArn,
	"AuthorizeSecurityGroupIngress": groupArn,
	"AuthorizeSecurityGroupEgress":  groupArn,
	"RevokeSecurityGroupIngress":    groupArn,
	"RevokeSecurityGroupEgress":     groupArn,
	"ModifySecurityGroupRules":      groupArn,
	"CreateTags":                    func(h *Handler, in *input) []string { return h.idArns(in.lists["ResourceId"]) },
	"DeleteTags":                    func(h *Handler, in *input) []string { return h.idArns(in.lists["ResourceId"]) },
	"CreateLaunchTemplate":          func(h *Handler, _ *input) []string { return []string{h.arn("launch-template", "*")} },
	"CreateLaunchTemplateVersion":   templateArn,
	"ModifyLaunchTemplate":          templateArn,
	"DeleteLaunchTemplate":          templateArn,
	"DeleteLaunchTemplateVersions":  templateArn,
}

// groupArn is the ARN of the call's GroupId; a group named by GroupName is
// security-group/*.
func groupArn(h *Handler, in *input) []string {
	if id := in.str("GroupId"); id != "" {
		return []string{h.idArn(id)}
	}
	return []string{h.arn("security-group", "*")}
}

// templateArn is the ARN of the call's LaunchTemplateId; a template named
// by LaunchTemplateName is launch-template/*.
func templateArn(h *Handler, in *input) []string {
	if id := in.str("LaunchTemplateId"); id != "" {
		return []string{h.idArn(id)}
	}
	return []string{h.arn("launch-template", "*")}
}

// idArn is the ARN of a resource by its id's prefix.
func (h *Handler) idArn(id string) string {
	kinds := []struct{ prefix, kind string }{
		{"vpc-", "vpc"}, {"subnet-", "subnet"}, {"sg-", "security-group"}, {"sgr-", "security-group-rule"},
		{"lt-", "launch-template"}, {"i-", "instance"}, {"eni-", "network-interface"}, {"vol-", "volume"},
	}
	for _, k := range kinds {
		if strings.HasPrefix(id, k.prefix) {
			return h.arn(k.kind, id)
		}
	}
	return h.arn("*", id)
}

func (h *Handler) idArns(ids []string) []string {
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		out = append(out, h.idArn(id))
	}
	return out
}

// authorize asks IAM whether the caller may run the action on each of its
// resources. A refusal is EC2's UnauthorizedOperation.
func (h *Handler) authorize(r *http.Request, cred *auth.Credential, action string, in *input) *apiError {
	if h.cfg.Authorizer == nil || cred == nil {
		return nil
	}
	resources := []string{"*"}
	if f := resourcesOf[action]; f != nil {
		resources = f(h, in)
	}
	requested := map[string]string{}
	for _, s := range in.tagSpecs {
		for _, t := range s.Tags {
			requested[t.Key] = t.Value
		}
	}
	if action == "CreateTags" {
		for _, t := range in.tags {
			requested[t.Key] = t.Value
		}
	}
	for _, res := range resources {
		res = h.namedTemplate(r.Context(), action, in, res)
		keys := policy.ResourceTagKeys(policy.RequestTagKeys(nil, requested), h.resourceTags(r.Context(), res))
		if action == "DeleteTags" {
			var names []string
			for _, t := range in.tags {
				names = append(names, t.Key)
			}
			keys = policy.TagKeys(keys, names)
		}
		if ref := h.cfg.Authorizer.Authorize(r, cred, &policy.Request{Action: "ec2:" + action, Resource: res, Context: keys}); ref != nil {
			return &apiError{status: http.StatusForbidden, code: "UnauthorizedOperation",
				msg: "You are not authorized to perform this operation. " + ref.Message}
		}
	}
	return nil
}
