package ec2

import (
	"errors"
	"strings"
	"unicode/utf8"

	"github.com/kplane/kplane/internal/store"
)

// EC2's tag rules: keys up to 127 characters, values up to 255, at most 50
// tags per resource, and keys starting with aws: are AWS's own (such as the
// aws:eks:cluster-name of a cluster's security group): users neither set nor
// delete them.
const (
	maxTagKey   = 127
	maxTagValue = 255
	maxTags     = 50
)

func checkTag(t tagParam) *apiError {
	switch {
	case !t.HasKey || t.Key == "":
		return errorf(codeInvalidParameterValue, "Tag keys must not be empty")
	case utf8.RuneCountInString(t.Key) > maxTagKey:
		return errorf(codeInvalidParameterValue, "Tag key exceeds the maximum length of %d characters", maxTagKey)
	case utf8.RuneCountInString(t.Value) > maxTagValue:
		return errorf(codeInvalidParameterValue, "Tag value exceeds the maximum length of %d characters", maxTagValue)
	case reservedKey(t.Key):
		return errorf(codeInvalidParameterValue, "Tag keys starting with 'aws:' are reserved for internal use")
	}
	return nil
}

func reservedKey(k string) bool { return strings.HasPrefix(strings.ToLower(k), "aws:") }

func tagLimit() *apiError {
	return errorf(codeTagLimitExceeded, "The maximum number of Tags for a resource has been reached.")
}

// tagsFromSpecs are the tags a create call's TagSpecifications give a
// resource of type resourceType; a specification for another type is an error.
func tagsFromSpecs(specs []tagSpec, resourceType string) (map[string]string, *apiError) {
	var out map[string]string
	for _, s := range specs {
		if s.ResourceType == "" {
			return nil, missing("TagSpecification.ResourceType")
		}
		if s.ResourceType != resourceType {
			return nil, errorf(codeInvalidParameterValue, "'%s' is not a valid taggable resource type for this operation.", printable(s.ResourceType))
		}
		for _, t := range s.Tags {
			if e := checkTag(t); e != nil {
				return nil, e
			}
			if out == nil {
				out = map[string]string{}
			}
			out[t.Key] = t.Value
		}
	}
	if len(out) > maxTags {
		return nil, tagLimit()
	}
	return out, nil
}

// resourceKind says which kind of id the tag calls got: kplane's inventory
// has VPCs, subnets, security groups and their rules; launch templates are
// tagged too.
func resourceKind(id string) (idKind, *apiError) {
	for _, k := range []idKind{vpcIDs, subnetIDs, ruleIDs, groupIDs, templateIDs} {
		if strings.HasPrefix(id, k.prefix) {
			return k, k.check(id)
		}
	}
	return idKind{}, errorf(codeInvalidID, "The ID '%s' is not valid", printable(id))
}

// tagResources checks the ResourceId list and applies change to each
// resource's tags, all or none.
func (h *Handler) tagResources(c *call, change func(tags map[string]string) *apiError) (any, *apiError) {
	ids := c.in.lists["ResourceId"]
	if len(ids) == 0 {
		return nil, missing("ResourceId")
	}
	if len(ids) > store.MaxTagResources {
		return nil, errorf(codeInvalidParameterValue, "kplane tags at most %d resources per call; %d were given.", store.MaxTagResources, len(ids))
	}
	for _, id := range ids {
		if _, e := resourceKind(id); e != nil {
			return nil, e
		}
	}
	var failed *apiError
	err := h.cfg.Store.ChangeTags(c.ctx, ids, func(_ string, tags map[string]string) error {
		if e := change(tags); e != nil {
			failed = e
			return errors.New(e.msg)
		}
		return nil
	})
	var nf *store.NotFoundError
	switch {
	case failed != nil:
		return nil, failed
	case errors.As(err, &nf):
		k, _ := resourceKind(nf.ID)
		return nil, k.notFoundError(nf.ID)
	case err != nil:
		return nil, h.storeError(c, err)
	}
	return success, nil
}

func (h *Handler) createTags(c *call) (any, *apiError) {
	if len(c.in.tags) == 0 {
		return nil, missing("Tag")
	}
	for _, t := range c.in.tags {
		if e := checkTag(t); e != nil {
			return nil, e
		}
	}
	return h.tagResources(c, func(tags map[string]string) *apiError {
		for _, t := range c.in.tags {
			tags[t.Key] = t.Value
		}
		if len(tags) > maxTags {
			return tagLimit()
		}
		return nil
	})
}

// deleteTags deletes the named tags; one given with a value goes only when
// its value is that. Without tags it deletes every tag but AWS's own.
func (h *Handler) deleteTags(c *call) (any, *apiError) {
	for _, t := range c.in.tags {
		if !t.HasKey || t.Key == "" {
			return nil, errorf(codeInvalidParameterValue, "Tag keys must not be empty")
		}
		if reservedKey(t.Key) {
			return nil, errorf(codeInvalidParameterValue, "Tag keys starting with 'aws:' are reserved for internal use")
		}
	}
	return h.tagResources(c, func(tags map[string]string) *apiError {
		if len(c.in.tags) == 0 {
			for k := range tags {
				if !reservedKey(k) {
					delete(tags, k)
				}
			}
		}
		for _, t := range c.in.tags {
			if v, found := tags[t.Key]; found && (!t.HasValue || v == t.Value) {
				delete(tags, t.Key)
			}
		}
		return nil
	})
}
