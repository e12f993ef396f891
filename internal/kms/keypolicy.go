package kms

import (
	"encoding/json"
	"fmt"

	"github.com/kplane/kplane/internal/awsjson"
	"github.com/kplane/kplane/internal/store"
)

// A key's policy and rotation setting: what infrastructure code sets at
// CreateKey and reads back after (terraform's aws_kms_key calls
// EnableKeyRotation, GetKeyPolicy and GetKeyRotationStatus). kplane keeps the
// policy as written and answers it; IAM policies, not key policies, decide
// access here. Rotation is recorded, the material is not rotated.

const (
	defaultPolicyName  = "default"
	defaultRotationDay = 365
)

// defaultKeyPolicy is the policy KMS gives a key created without one: the
// account's IAM policies decide.
func (s *Service) defaultKeyPolicy() string {
	return fmt.Sprintf(`{
  "Version" : "2012-10-17",
  "Id" : "key-default-1",
  "Statement" : [ {
    "Sid" : "Enable IAM User Permissions",
    "Effect" : "Allow",
    "Principal" : {
      "AWS" : "arn:aws:iam::%s:root"
    },
    "Action" : "kms:*",
    "Resource" : "*"
  } ]
}`, s.accountID)
}

func (s *Service) policyOf(k *store.KMSKey) string {
	if k.Policy == "" {
		return s.defaultKeyPolicy()
	}
	return k.Policy
}

// checkPolicyName: "default" is the only policy a key has.
func checkPolicyName(name *string) *awsjson.Error {
	var v awsjson.Validation
	if name != nil {
		v.Length("policyName", *name, 1, 128)
	}
	if e := v.Err(); e != nil {
		return e
	}
	if name != nil && *name != defaultPolicyName {
		return awsjson.Errorf("NotFoundException", "No such policy exists: %s. The only valid policy name is default.", *name)
	}
	return nil
}

// checkPolicyDocument refuses what is not a JSON object, as KMS does.
func checkPolicyDocument(doc string) *awsjson.Error {
	var obj map[string]any
	if err := json.Unmarshal([]byte(doc), &obj); err != nil {
		return awsjson.Errorf("MalformedPolicyDocumentException", "The key policy is not a JSON document.")
	}
	return nil
}

func (s *Service) getKeyPolicy(c *awsjson.Call) (any, *awsjson.Error) {
	var in struct{ KeyId, PolicyName *string }
	if e := s.decodeKeyID(c, &in, &in.KeyId); e != nil {
		return nil, e
	}
	if e := checkPolicyName(in.PolicyName); e != nil {
		return nil, e
	}
	k, e := s.resolve(c.R.Context(), *in.KeyId, false)
	if e != nil {
		return nil, e
	}
	return struct{ Policy, PolicyName string }{s.policyOf(k), defaultPolicyName}, nil
}

func (s *Service) listKeyPolicies(c *awsjson.Call) (any, *awsjson.Error) {
	var in struct {
		KeyId  *string
		Limit  *int
		Marker *string
	}
	if e := s.decodeKeyID(c, &in, &in.KeyId); e != nil {
		return nil, e
	}
	var v awsjson.Validation
	v.Range("limit", in.Limit, 1, 1000)
	if e := v.Err(); e != nil {
		return nil, e
	}
	if _, e := s.resolve(c.R.Context(), *in.KeyId, false); e != nil {
		return nil, e
	}
	return struct {
		PolicyNames []string
		Truncated   bool
	}{[]string{defaultPolicyName}, false}, nil
}

func (s *Service) putKeyPolicy(c *awsjson.Call) (any, *awsjson.Error) {
	var in struct {
		KeyId, PolicyName, Policy      *string
		BypassPolicyLockoutSafetyCheck *bool
	}
	if e := s.decodeKeyID(c, &in, &in.KeyId); e != nil {
		return nil, e
	}
	var v awsjson.Validation
	v.Required("policy", in.Policy != nil)
	if in.Policy != nil {
		v.Length("policy", *in.Policy, 1, 32768)
	}
	if e := v.Err(); e != nil {
		return nil, e
	}
	if e := checkPolicyName(in.PolicyName); e != nil {
		return nil, e
	}
	if e := checkPolicyDocument(*in.Policy); e != nil {
		return nil, e
	}
	_, e := s.changeKey(c, *in.KeyId, func(k *store.KMSKey) *awsjson.Error {
		k.Policy = *in.Policy
		return nil
	})
	return nil, e
}

// rotatable: a disabled key's rotation cannot change (DisabledException),
// nor a key's pending deletion (KMSInvalidStateException).
func rotatable(k *store.KMSKey) *awsjson.Error {
	switch k.KeyState {
	case StateDisabled:
		return awsjson.Errorf("DisabledException", "%s is disabled.", k.Arn)
	case StatePendingDeletion:
		return pendingDeletion(k)
	}
	return nil
}

func (s *Service) enableKeyRotation(c *awsjson.Call) (any, *awsjson.Error) {
	var in struct {
		KeyId                *string
		RotationPeriodInDays *int
	}
	days, e := s.decodeKeyDays(c, &in, &in.KeyId, &in.RotationPeriodInDays, "rotationPeriodInDays", 90, 2560, defaultRotationDay)
	if e != nil {
		return nil, e
	}
	_, e = s.changeKey(c, *in.KeyId, func(k *store.KMSKey) *awsjson.Error {
		if e := rotatable(k); e != nil {
			return e
		}
		k.RotationDays = days
		return nil
	})
	return nil, e
}

func (s *Service) disableKeyRotation(c *awsjson.Call) (any, *awsjson.Error) {
	return s.changeKeyOnly(c, func(k *store.KMSKey) *awsjson.Error {
		if e := rotatable(k); e != nil {
			return e
		}
		k.RotationDays = 0
		return nil
	})
}

func (s *Service) getKeyRotationStatus(c *awsjson.Call) (any, *awsjson.Error) {
	var in keyIDInput
	if e := s.decodeKeyID(c, &in, &in.KeyId); e != nil {
		return nil, e
	}
	k, e := s.resolve(c.R.Context(), *in.KeyId, false)
	if e != nil {
		return nil, e
	}
	out := struct {
		KeyId                string
		KeyRotationEnabled   bool
		RotationPeriodInDays *int           `json:",omitempty"`
		NextRotationDate     *awsjson.Epoch `json:",omitempty"`
	}{KeyId: k.Arn, KeyRotationEnabled: k.RotationDays > 0}
	if k.RotationDays > 0 {
		days := k.RotationDays
		at := k.CreationDate.AddDate(0, 0, days)
		for now := s.now(); !at.After(now); {
			at = at.AddDate(0, 0, days)
		}
		next := awsjson.Epoch(at)
		out.RotationPeriodInDays, out.NextRotationDate = &days, &next
	}
	return out, nil
}
