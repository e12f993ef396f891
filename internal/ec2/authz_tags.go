package ec2

import (
	"context"
	"strings"
)

// namedTemplate is the ARN of the launch template a call names by
// LaunchTemplateName, so that its tags decide as they do when it is named by
// id; res unchanged when there is none.
func (h *Handler) namedTemplate(ctx context.Context, action string, in *input, res string) string {
	name := in.str("LaunchTemplateName")
	if action == "CreateLaunchTemplate" || name == "" || res != h.arn("launch-template", "*") {
		return res
	}
	if id, err := h.cfg.Store.LaunchTemplateID(ctx, name); err == nil {
		return h.arn("launch-template", id)
	}
	return res
}

// resourceTags are the tags of the VPC, subnet, security group, launch
// template or instance res names (aws:ResourceTag/* of the call on it); nil
// for a wildcard, another kind or a resource that does not exist.
func (h *Handler) resourceTags(ctx context.Context, res string) map[string]string {
	prefix := "arn:aws:ec2:" + h.cfg.Region + ":" + h.cfg.AccountID + ":"
	kind, id, ok := strings.Cut(strings.TrimPrefix(res, prefix), "/")
	if !ok || id == "*" || !strings.HasPrefix(res, prefix) {
		return nil
	}
	switch kind {
	case "vpc", "subnet", "security-group":
		n, err := h.cfg.Store.FullNetwork(ctx)
		if err != nil {
			return nil
		}
		for _, v := range n.VPCs {
			if v.ID == id {
				return v.Tags
			}
		}
		for _, s := range n.Subnets {
			if s.ID == id {
				return s.Tags
			}
		}
		for _, g := range n.SecurityGroups {
			if g.ID == id {
				return g.Tags
			}
		}
	case "launch-template":
		if lt, _, err := h.cfg.Store.GetLaunchTemplate(ctx, id); err == nil {
			return lt.Tags
		}
	case "instance":
		all, err := h.cfg.Store.Instances(ctx)
		if err != nil {
			return nil
		}
		for _, i := range all {
			if i.ID == id {
				return i.Tags
			}
		}
	}
	return nil
}
