package iam

import (
	"strings"

	"github.com/kplane/kplane/internal/policy"
	"github.com/kplane/kplane/internal/store"
)

// resourceTagKeys adds the condition keys of the tags of the user, role or
// customer managed policy that resource names (aws:ResourceTag/KEY, and
// iam:ResourceTag/KEY, which IAM also sets for its own resources), so a
// policy can allow iam:* only on what carries a tag. Other ARNs add none.
func (s *Service) resourceTagKeys(resource string, keys map[string][]string) map[string][]string {
	a, ok := parseARN(resource)
	if !ok || a.service != "iam" || a.account != s.accountID {
		return keys
	}
	kind, rest, _ := strings.Cut(a.resource, "/")
	name := rest[strings.LastIndex(rest, "/")+1:]
	var tags []store.IAMTag
	var arn string
	switch kind {
	case "user":
		if u := s.index.User(name); u != nil {
			tags, arn = u.Tags, u.Arn
		}
	case "role":
		if r := s.index.Role(name); r != nil {
			tags, arn = r.Tags, r.Arn
		}
	case "policy":
		if p := s.index.Policy(name); p != nil {
			tags, arn = p.Tags, p.Arn
		}
	}
	if arn != resource || len(tags) == 0 {
		return keys
	}
	m := make(map[string]string, len(tags))
	for _, t := range tags {
		m[t.Key] = t.Value
	}
	keys = policy.ResourceTagKeys(keys, m)
	for k, v := range m {
		keys["iam:resourcetag/"+strings.ToLower(k)] = []string{v}
	}
	return keys
}
