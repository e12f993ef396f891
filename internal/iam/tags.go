package iam

import (
	"strconv"
	"strings"

	"github.com/kplane/kplane/internal/store"
)

// mergeTags sets tags on have (keys ignore case; a new value replaces the
// old), within IAM's 50 tags.
func mergeTags(have []store.IAMTag, tags []tag) ([]store.IAMTag, *apiError) {
	out := append([]store.IAMTag(nil), have...)
	for _, t := range tags {
		i := 0
		for ; i < len(out); i++ {
			if strings.EqualFold(out[i].Key, t.Key) {
				break
			}
		}
		if i < len(out) {
			out[i] = store.IAMTag{Key: t.Key, Value: t.Value}
		} else {
			out = append(out, store.IAMTag{Key: t.Key, Value: t.Value})
		}
	}
	if len(out) > maxTags {
		return nil, newError(409, "LimitExceeded", "The number of tags has reached the maximum limit.")
	}
	return out, nil
}

func removeTags(have []store.IAMTag, keys []string) []store.IAMTag {
	var out []store.IAMTag
	for _, t := range have {
		drop := false
		for _, k := range keys {
			if strings.EqualFold(t.Key, k) {
				drop = true
				break
			}
		}
		if !drop {
			out = append(out, t)
		}
	}
	return out
}

// readTagKeys reads TagKeys.member.N.
func readTagKeys(v *validator) []string {
	var keys []string
	for i := 1; ; i++ {
		name := "TagKeys.member." + strconv.Itoa(i)
		if !v.p.has(name) {
			break
		}
		k, _ := v.str(name, "tagKeys."+strconv.Itoa(i)+".member", true, 1, 128, validTagText, patTagKey)
		keys = append(keys, k)
	}
	if len(keys) == 0 && !v.p.has("TagKeys") {
		v.fail("tagKeys", "", true, "not be null")
	}
	if len(keys) > maxTags {
		v.errs = append(v.errs, "Value '[...]' at 'tagKeys' failed to satisfy constraint: Member must have length less than or equal to 50")
	}
	return keys
}

func tagsPage(tags []store.IAMTag, l listing) (any, *apiError) {
	keyOf := func(t store.IAMTag) string { return strings.ToLower(t.Key) }
	sorted := append([]store.IAMTag(nil), tags...)
	for i := 1; i < len(sorted); i++ {
		for j := i; j > 0 && keyOf(sorted[j]) < keyOf(sorted[j-1]); j-- {
			sorted[j], sorted[j-1] = sorted[j-1], sorted[j]
		}
	}
	got, truncated, next, e := page(sorted, keyOf, l)
	if e != nil {
		return nil, e
	}
	res := &listTagsResult{IsTruncated: truncated, Marker: next}
	res.Tags.Members = make([]tag, 0, len(got))
	for _, t := range got {
		res.Tags.Members = append(res.Tags.Members, tag{Key: t.Key, Value: t.Value})
	}
	return res, nil
}

// Tags of users and roles.

func (s *Service) tagEntity(c *call, k *entityKind, add bool) (any, *apiError) {
	var tags []tag
	var keys []string
	var tagsErr *apiError
	name, e := s.entityCall(c, k, func(v *validator) map[string][]string {
		if !add {
			keys = readTagKeys(v)
			return nil
		}
		if tags, tagsErr = v.tags(); tagsErr == nil && len(tags) == 0 && !c.p.has("Tags") {
			v.fail("tags", "", true, "not be null")
		}
		return tagKeys(tags)
	})
	if tagsErr != nil {
		return nil, tagsErr
	}
	if e != nil {
		return nil, e
	}
	return nil, s.updateEntity(c, k, name, func(ent *entity) *apiError {
		if !add {
			*ent.tags = removeTags(*ent.tags, keys)
			return nil
		}
		var e *apiError
		*ent.tags, e = mergeTags(*ent.tags, tags)
		return e
	})
}

func (s *Service) listEntityTags(c *call, k *entityKind) (any, *apiError) {
	name, l, e := s.listingCall(c, k, false)
	if e != nil {
		return nil, e
	}
	ent, e := s.readEntity(c, k, name)
	if e != nil {
		return nil, e
	}
	return tagsPage(*ent.tags, l)
}

// Policy tags.

func (s *Service) tagPolicy(c *call) (any, *apiError) {
	v := validator{p: c.p}
	tags, e := v.tags()
	if e != nil {
		return nil, e
	}
	ref, e := s.readPolicyArn(c, &v)
	if e != nil {
		return nil, e
	}
	_, e = s.updatePolicy(c, ref, func(p *store.IAMPolicy) *apiError {
		var e *apiError
		p.Tags, e = mergeTags(p.Tags, tags)
		return e
	})
	return nil, e
}

func (s *Service) untagPolicy(c *call) (any, *apiError) {
	v := validator{p: c.p}
	keys := readTagKeys(&v)
	ref, e := s.readPolicyArn(c, &v)
	if e != nil {
		return nil, e
	}
	_, e = s.updatePolicy(c, ref, func(p *store.IAMPolicy) *apiError {
		p.Tags = removeTags(p.Tags, keys)
		return nil
	})
	return nil, e
}

func (s *Service) listPolicyTags(c *call) (any, *apiError) {
	v := validator{p: c.p}
	l := readListing(&v, false)
	ref, e := s.readPolicyArn(c, &v)
	if e != nil {
		return nil, e
	}
	if ref.managed != nil {
		return &listTagsResult{}, nil
	}
	p, e := s.customerPolicy(c, ref)
	if e != nil {
		return nil, e
	}
	return tagsPage(p.Tags, l)
}
