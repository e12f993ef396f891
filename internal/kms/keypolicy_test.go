package kms

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestKeyPolicyAndRotation: what terraform's aws_kms_key sets and reads back.
// A key made without a policy has KMS's default one; CreateKey's and
// PutKeyPolicy's policy reads back as written; "default" is the only policy
// name; rotation is off until EnableKeyRotation (365 days unless told),
// refused on a disabled key and on one pending deletion.
func TestKeyPolicyAndRotation(t *testing.T) {
	e := newTestEnv(t)
	plain := e.createKey()
	got := e.must("GetKeyPolicy", `{"KeyId":"`+plain+`","PolicyName":"default"}`)
	if p := got["Policy"].(string); !strings.Contains(p, `"arn:aws:iam::000000000000:root"`) || !strings.Contains(p, `"kms:*"`) || got["PolicyName"] != "default" {
		t.Fatalf("default key policy: %v", got)
	}
	const doc = `{"Version":"2012-10-17","Statement":[{"Sid":"Admins","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::000000000000:role/admin"},"Action":"kms:*","Resource":"*"}]}`
	withPolicy := e.must("CreateKey", `{"Policy":`+quote(doc)+`}`)["KeyMetadata"].(map[string]any)["Arn"].(string)
	if p := e.must("GetKeyPolicy", `{"KeyId":"`+withPolicy+`"}`)["Policy"]; p != doc {
		t.Fatalf("CreateKey's policy read back as %v", p)
	}
	e.fails("CreateKey", `{"Policy":"not json"}`, "MalformedPolicyDocumentException")
	e.fails("GetKeyPolicy", `{"KeyId":"`+plain+`","PolicyName":"other"}`, "NotFoundException")
	e.fails("GetKeyPolicy", `{"KeyId":"alias/none"}`, "NotFoundException")
	e.fails("PutKeyPolicy", `{"KeyId":"`+plain+`"}`, "ValidationException")
	e.fails("PutKeyPolicy", `{"KeyId":"`+plain+`","Policy":"[1"}`, "MalformedPolicyDocumentException")
	e.must("PutKeyPolicy", `{"KeyId":"`+plain+`","PolicyName":"default","Policy":`+quote(doc)+`}`)
	if p := e.must("GetKeyPolicy", `{"KeyId":"`+plain+`"}`)["Policy"]; p != doc {
		t.Fatalf("PutKeyPolicy's policy read back as %v", p)
	}
	if names := e.must("ListKeyPolicies", `{"KeyId":"`+plain+`"}`)["PolicyNames"].([]any); len(names) != 1 || names[0] != "default" {
		t.Fatalf("ListKeyPolicies: %v", names)
	}

	status := func() map[string]any { return e.must("GetKeyRotationStatus", `{"KeyId":"`+plain+`"}`) }
	if s := status(); s["KeyRotationEnabled"] != false || s["RotationPeriodInDays"] != nil {
		t.Fatalf("a new key's rotation: %v", s)
	}
	e.must("EnableKeyRotation", `{"KeyId":"`+plain+`"}`)
	if s := status(); s["KeyRotationEnabled"] != true || s["RotationPeriodInDays"] != float64(365) || s["NextRotationDate"] == nil {
		t.Fatalf("after EnableKeyRotation: %v", s)
	}
	e.fails("EnableKeyRotation", `{"KeyId":"`+plain+`","RotationPeriodInDays":30}`, "ValidationException")
	e.must("EnableKeyRotation", `{"KeyId":"`+plain+`","RotationPeriodInDays":90}`)
	if s := status(); s["RotationPeriodInDays"] != float64(90) {
		t.Fatalf("after a 90-day period: %v", s)
	}
	e.must("DisableKeyRotation", `{"KeyId":"`+plain+`"}`)
	if s := status(); s["KeyRotationEnabled"] != false {
		t.Fatalf("after DisableKeyRotation: %v", s)
	}
	e.must("DisableKey", `{"KeyId":"`+plain+`"}`)
	e.fails("EnableKeyRotation", `{"KeyId":"`+plain+`"}`, "DisabledException")
	e.must("ScheduleKeyDeletion", `{"KeyId":"`+withPolicy+`","PendingWindowInDays":7}`)
	e.fails("EnableKeyRotation", `{"KeyId":"`+withPolicy+`"}`, "KMSInvalidStateException")
	if p := e.must("GetKeyPolicy", `{"KeyId":"`+withPolicy+`"}`)["Policy"]; p != doc {
		t.Fatalf("a key pending deletion's policy: %v", p)
	}
}

// quote is s as a JSON string.
func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
