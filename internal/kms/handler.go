package kms

import (
	"net/http"

	"github.com/kplane/kplane/internal/auth"
	"github.com/kplane/kplane/internal/awsjson"
)

// TargetPrefix is the X-Amz-Target prefix of KMS calls.
const TargetPrefix = "TrentService"

// Handler serves KMS's JSON 1.1 API, verifying SigV4 for the signing name
// "kms" with v. requestID gives the request id.
func (s *Service) Handler(v *auth.Verifier, requestID func(*http.Request) string) *awsjson.Service {
	return &awsjson.Service{
		SigningName: "kms", TargetPrefix: TargetPrefix, Verifier: v, RequestID: requestID,
		InternalError: "KMSInternalException", Resource: s.resource,
		Ops: map[string]awsjson.Op{
			"CreateKey":            s.createKey,
			"DescribeKey":          s.describeKey,
			"ListKeys":             s.listKeys,
			"EnableKey":            s.enableKey,
			"DisableKey":           s.disableKey,
			"ScheduleKeyDeletion":  s.scheduleKeyDeletion,
			"CancelKeyDeletion":    s.cancelKeyDeletion,
			"CreateAlias":          s.createAlias,
			"ListAliases":          s.listAliases,
			"DeleteAlias":          s.deleteAlias,
			"Encrypt":              s.encrypt,
			"Decrypt":              s.decrypt,
			"GenerateDataKey":      s.generateDataKey,
			"TagResource":          s.tagResource,
			"UntagResource":        s.untagResource,
			"ListResourceTags":     s.listResourceTags,
			"GetKeyPolicy":         s.getKeyPolicy,
			"PutKeyPolicy":         s.putKeyPolicy,
			"ListKeyPolicies":      s.listKeyPolicies,
			"EnableKeyRotation":    s.enableKeyRotation,
			"DisableKeyRotation":   s.disableKeyRotation,
			"GetKeyRotationStatus": s.getKeyRotationStatus,
		},
	}
}
