package server_test

import (
	"context"
	"strings"
	"testing"
)

// AssociateEncryptionConfig with the aws CLI: EKS's checks (the key, the
// cluster's state, encryption already on), then an Update of type
// AssociateEncryptionConfig InProgress that the reconciler carries out, the
// cluster UPDATING with the key pending (its KMS plugin serves meanwhile).
func TestAssociateEncryptionConfigWithAWSCLI(t *testing.T) {
	s := startServer(t, nil)
	c := newCLI(t, s)
	key := c.text("kms", "create-key", "--query", "KeyMetadata.Arn")
	subnets := strings.Join(s.subnets(), ",")
	c.json(nil, "eks", "create-cluster", "--name", "plain", "--role-arn", testRole, "--resources-vpc-config", "subnetIds="+subnets)
	associate := func(name, keyArn string) []string {
		return []string{"eks", "associate-encryption-config", "--cluster-name", name,
			"--encryption-config", `[{"resources":["secrets"],"provider":{"keyArn":"` + keyArn + `"}}]`}
	}
	c.fails("(ResourceInUseException) when calling the AssociateEncryptionConfig operation", associate("plain", key)...)
	s.activate("plain")
	c.fails("(ResourceNotFoundException) when calling the AssociateEncryptionConfig operation", associate("none", key)...)
	c.fails("(InvalidParameterException) when calling the AssociateEncryptionConfig operation", associate("plain", "arn:aws:kms:us-west-2:000000000000:key/1234abcd-12ab-34cd-56ef-1234567890ab")...)
	c.fails("(InvalidParameterException) when calling the AssociateEncryptionConfig operation", "eks", "associate-encryption-config", "--cluster-name", "plain",
		"--encryption-config", `[{"resources":["configmaps"],"provider":{"keyArn":"`+key+`"}}]`)
	c.json(nil, "kms", "disable-key", "--key-id", key)
	c.fails("is disabled", associate("plain", key)...)
	c.json(nil, "kms", "enable-key", "--key-id", key)

	var out struct {
		Update struct {
			ID, Status, Type string
			Params           []struct{ Type, Value string }
		}
	}
	c.json(&out, associate("plain", key)...)
	u := out.Update
	if u.Status != "InProgress" || u.Type != "AssociateEncryptionConfig" || len(u.Params) != 1 || u.Params[0].Type != "EncryptionConfig" || !strings.Contains(u.Params[0].Value, key) {
		t.Fatalf("update: %+v", u)
	}
	if got := c.text("eks", "describe-update", "--name", "plain", "--update-id", u.ID, "--query", "update.type"); got != "AssociateEncryptionConfig" {
		t.Fatalf("describe-update: %q", got)
	}
	rec, err := s.Store.GetCluster(context.Background(), "plain")
	if err != nil || rec.Cluster.Status != "UPDATING" || len(rec.PendingEncryption) != 1 || len(rec.Cluster.EncryptionConfig) != 0 {
		t.Fatalf("cluster during the update: %+v %v", rec, err)
	}
	c.fails("(ResourceInUseException) when calling the AssociateEncryptionConfig operation", associate("plain", key)...)

	// A cluster created with encryption: EKS allows the association once.
	c.json(nil, "eks", "create-cluster", "--name", "sealed", "--role-arn", testRole, "--resources-vpc-config", "subnetIds="+subnets,
		"--encryption-config", `[{"resources":["secrets"],"provider":{"keyArn":"`+key+`"}}]`)
	s.activate("sealed")
	c.fails("Encryption is already enabled on the cluster", associate("sealed", key)...)
}
