package kms

import (
	"context"
	"testing"
)

// A cluster's key issue follows the key's state with EKS's codes: none
// while enabled, KmsKeyDisabled, KmsKeyMarkedForDeletion, and
// KmsKeyNotFound for a key (or alias) that does not exist.
func TestClusterKeyIssue(t *testing.T) {
	e := newTestEnv(t)
	arn := e.must("CreateKey", `{}`)["KeyMetadata"].(map[string]any)["Arn"].(string)
	issue := func(ref string) string {
		code, msg := e.svc.ClusterKeyIssue(context.Background(), ref)
		if (code == "") != (msg == "") {
			t.Fatalf("code %q with message %q", code, msg)
		}
		return code
	}
	if got := issue(arn); got != "" {
		t.Fatalf("enabled key: %q", got)
	}
	e.must("DisableKey", `{"KeyId":"`+arn+`"}`)
	if got := issue(arn); got != "KmsKeyDisabled" {
		t.Fatalf("disabled key: %q", got)
	}
	e.must("ScheduleKeyDeletion", `{"KeyId":"`+arn+`","PendingWindowInDays":7}`)
	if got := issue(arn); got != "KmsKeyMarkedForDeletion" {
		t.Fatalf("key pending deletion: %q", got)
	}
	e.must("CancelKeyDeletion", `{"KeyId":"`+arn+`"}`)
	e.must("EnableKey", `{"KeyId":"`+arn+`"}`)
	if got := issue(arn); got != "" {
		t.Fatalf("key enabled again: %q", got)
	}
	if got := issue("arn:aws:kms:us-west-2:000000000000:key/1234abcd-12ab-34cd-56ef-1234567890ab"); got != "KmsKeyNotFound" {
		t.Fatalf("no such key: %q", got)
	}
}
