package kms

import (
	"encoding/json"
	"strings"

	"github.com/kplane/kplane/internal/awsjson"
	"github.com/kplane/kplane/internal/policy"
)

// What each KMS call asks of IAM (action kms:Operation): CreateKey, ListKeys
// and ListAliases act on "*", the alias calls on the alias's ARN, every
// other call on the key its KeyId names (by id, ARN, alias or alias ARN),
// with the key's tags as aws:ResourceTag/* and the tags a call sets as
// aws:RequestTag/*.
func (s *Service) resource(c *awsjson.Call) (string, map[string][]string) {
	var in struct {
		KeyID     string `json:"KeyId"`
		AliasName string `json:"AliasName"`
		Tags      []Tag  `json:"Tags"`
	}
	json.Unmarshal(c.Body, &in)
	var keys map[string][]string
	if len(in.Tags) > 0 {
		set := map[string]string{}
		for _, t := range in.Tags {
			if t.TagKey != nil && t.TagValue != nil {
				set[*t.TagKey] = *t.TagValue
			}
		}
		keys = policy.RequestTagKeys(keys, set)
	}
	switch c.Op {
	case "CreateKey", "ListKeys", "ListAliases":
		return "*", keys
	case "CreateAlias", "DeleteAlias":
		return s.aliasArn(in.AliasName), keys
	}
	if in.KeyID == "" {
		return "*", keys
	}
	k, e := s.resolve(c.R.Context(), in.KeyID, true)
	if e != nil {
		if strings.HasPrefix(in.KeyID, "arn:") {
			return in.KeyID, keys
		}
		return s.keyArn(in.KeyID), keys
	}
	return k.Arn, policy.ResourceTagKeys(keys, k.Tags)
}
