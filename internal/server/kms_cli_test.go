package server_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// cli runs the real aws CLI (and python3 with boto3) against s.
type cli struct {
	t    *testing.T
	s    *testServer
	home string
	env  []string
}

func newCLI(t *testing.T, s *testServer) *cli {
	t.Helper()
	if _, err := exec.LookPath("aws"); err != nil {
		t.Skip("aws CLI not installed")
	}
	home := t.TempDir()
	creds := filepath.Join(home, "credentials")
	os.WriteFile(creds, []byte("[default]\naws_access_key_id = "+s.Root.AccessKeyID+"\naws_secret_access_key = "+s.Root.SecretAccessKey+"\n"), 0o600)
	c := &cli{t: t, s: s, home: home}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") && !strings.HasPrefix(kv, "HOME=") {
			c.env = append(c.env, kv)
		}
	}
	c.env = append(c.env, "HOME="+home, "AWS_SHARED_CREDENTIALS_FILE="+creds, "AWS_CONFIG_FILE="+filepath.Join(home, "config"),
		"AWS_ENDPOINT_URL="+s.URL, "AWS_DEFAULT_REGION="+s.Region, "AWS_EC2_METADATA_DISABLED=true", "AWS_MAX_ATTEMPTS=1", "AWS_PAGER=")
	return c
}

func (c *cli) run(name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	cmd.Env, cmd.Dir = c.env, c.home
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// json runs aws ARGS --output json and decodes the answer into v.
func (c *cli) json(v any, args ...string) {
	c.t.Helper()
	out, err := c.run("aws", append(args, "--output", "json")...)
	if err != nil {
		c.t.Fatalf("aws %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	if v != nil {
		if err := json.Unmarshal([]byte(out), v); err != nil {
			c.t.Fatalf("aws %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// text runs aws ARGS --output text.
func (c *cli) text(args ...string) string {
	c.t.Helper()
	out, err := c.run("aws", append(args, "--output", "text")...)
	if err != nil {
		c.t.Fatalf("aws %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(out)
}

// fails runs aws ARGS and wants it to fail with want in its output.
func (c *cli) fails(want string, args ...string) {
	c.t.Helper()
	out, err := c.run("aws", args...)
	if err == nil || !strings.Contains(out, want) {
		c.t.Fatalf("aws %s: %v, want %q in\n%s", strings.Join(args, " "), err, want, out)
	}
}

func (c *cli) file(name, content string) string {
	p := filepath.Join(c.home, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		c.t.Fatal(err)
	}
	return p
}

type keyMetadata struct {
	KeyId, Arn, KeyState, Description, KeyUsage, KeySpec string
	Enabled                                              bool
	DeletionDate                                         float64
}

// KMS with the aws CLI against a real kplane: keys by id, ARN, alias and
// alias ARN; Encrypt/Decrypt round trips through files; the key states and
// their errors; tags; and EKS's encryptionConfig checked against the keys.
func TestKMSWithAWSCLI(t *testing.T) {
	s := startServer(t, nil)
	c := newCLI(t, s)
	var made struct{ KeyMetadata keyMetadata }
	c.json(&made, "kms", "create-key", "--description", "cluster secrets", "--tags", "TagKey=team,TagValue=platform")
	k := made.KeyMetadata
	if k.KeyState != "Enabled" || !k.Enabled || k.KeyUsage != "ENCRYPT_DECRYPT" || k.KeySpec != "SYMMETRIC_DEFAULT" ||
		k.Arn != "arn:aws:kms:us-west-2:000000000000:key/"+k.KeyId {
		t.Fatalf("create-key: %+v", k)
	}
	c.json(nil, "kms", "create-alias", "--alias-name", "alias/eks-secrets", "--target-key-id", k.KeyId)
	for _, ref := range []string{k.KeyId, k.Arn, "alias/eks-secrets", "arn:aws:kms:us-west-2:000000000000:alias/eks-secrets"} {
		if got := c.text("kms", "describe-key", "--key-id", ref, "--query", "KeyMetadata.KeyId"); got != k.KeyId {
			t.Fatalf("describe-key %s: %q", ref, got)
		}
	}
	c.fails("An error occurred (AlreadyExistsException) when calling the CreateAlias operation", "kms", "create-alias", "--alias-name", "alias/eks-secrets", "--target-key-id", k.KeyId)
	c.fails("An error occurred (NotFoundException) when calling the DescribeKey operation", "kms", "describe-key", "--key-id", "alias/nope")
	c.fails("An error occurred (NotFoundException) when calling the DescribeKey operation", "kms", "describe-key", "--key-id", "1234abcd-12ab-34cd-56ef-1234567890ab")

	// Encrypt a file, decrypt the blob back, as the KMS docs show it.
	plain := c.file("secret.txt", "the plans for the moon base\n")
	blob := c.text("kms", "encrypt", "--key-id", "alias/eks-secrets", "--plaintext", "fileb://"+plain,
		"--encryption-context", "purpose=test", "--query", "CiphertextBlob")
	raw := c.file("secret.b64", blob)
	out, err := c.run("sh", "-c", "base64 -d "+raw+" > secret.enc")
	if err != nil {
		t.Fatal(out)
	}
	got := c.text("kms", "decrypt", "--ciphertext-blob", "fileb://secret.enc", "--encryption-context", "purpose=test", "--query", "Plaintext")
	if out, _ := c.run("sh", "-c", "echo "+got+" | base64 -d"); out != "the plans for the moon base\n" {
		t.Fatalf("decrypt: %q", out)
	}
	c.fails("(InvalidCiphertextException) when calling the Decrypt operation", "kms", "decrypt", "--ciphertext-blob", "fileb://secret.enc")
	c.fails("(InvalidCiphertextException) when calling the Decrypt operation", "kms", "decrypt", "--ciphertext-blob", "fileb://"+plain)

	c.json(nil, "kms", "disable-key", "--key-id", k.KeyId)
	c.fails("(DisabledException) when calling the Encrypt operation", "kms", "encrypt", "--key-id", k.Arn, "--plaintext", "fileb://"+plain)
	c.fails("(DisabledException) when calling the Decrypt operation", "kms", "decrypt", "--ciphertext-blob", "fileb://secret.enc", "--encryption-context", "purpose=test")
	c.json(nil, "kms", "enable-key", "--key-id", k.KeyId)

	// EKS takes only an enabled key of the account and region.
	subnets := strings.Join(s.subnets(), ",")
	create := func(name, key string) []string {
		return []string{"eks", "create-cluster", "--name", name, "--role-arn", testRole, "--resources-vpc-config", "subnetIds=" + subnets,
			"--encryption-config", `[{"resources":["secrets"],"provider":{"keyArn":"` + key + `"}}]`}
	}
	c.fails("(InvalidParameterException) when calling the CreateCluster operation", create("nokey", "arn:aws:kms:us-west-2:000000000000:key/1234abcd-12ab-34cd-56ef-1234567890ab")...)
	c.fails("(InvalidParameterException) when calling the CreateCluster operation", create("noalias", "arn:aws:kms:us-west-2:000000000000:alias/none")...)
	c.fails("(InvalidParameterException) when calling the CreateCluster operation", create("otheraccount", "arn:aws:kms:us-west-2:111111111111:key/"+k.KeyId)...)
	c.json(nil, "kms", "disable-key", "--key-id", k.KeyId)
	c.fails("is disabled", create("disabled", k.Arn)...)
	c.json(nil, "kms", "enable-key", "--key-id", k.KeyId)
	if got := c.text(append(create("encrypted", "arn:aws:kms:us-west-2:000000000000:alias/eks-secrets"), "--query", "cluster.encryptionConfig[0].provider.keyArn")...); !strings.HasSuffix(got, "alias/eks-secrets") {
		t.Fatalf("create-cluster with a key: %q", got)
	}

	var sched struct {
		KeyId, KeyState     string
		PendingWindowInDays int
	}
	c.fails("(ValidationException) when calling the ScheduleKeyDeletion operation", "kms", "schedule-key-deletion", "--key-id", k.KeyId, "--pending-window-in-days", "3")
	c.json(&sched, "kms", "schedule-key-deletion", "--key-id", k.KeyId, "--pending-window-in-days", "7")
	if sched.KeyState != "PendingDeletion" || sched.PendingWindowInDays != 7 || sched.KeyId != k.Arn {
		t.Fatalf("schedule-key-deletion: %+v", sched)
	}
	c.fails("(KMSInvalidStateException) when calling the Encrypt operation", "kms", "encrypt", "--key-id", k.KeyId, "--plaintext", "fileb://"+plain)
	c.fails("(KMSInvalidStateException) when calling the EnableKey operation", "kms", "enable-key", "--key-id", k.KeyId)
	c.json(nil, "kms", "cancel-key-deletion", "--key-id", k.KeyId)
	if got := c.text("kms", "describe-key", "--key-id", k.KeyId, "--query", "KeyMetadata.KeyState"); got != "Disabled" {
		t.Fatalf("after cancel-key-deletion: %s", got)
	}

	c.json(nil, "kms", "tag-resource", "--key-id", k.KeyId, "--tags", "TagKey=env,TagValue=dev")
	c.json(nil, "kms", "untag-resource", "--key-id", k.KeyId, "--tag-keys", "team")
	if got := c.text("kms", "list-resource-tags", "--key-id", k.KeyId, "--query", "Tags[].[TagKey,TagValue]"); got != "env\tdev" {
		t.Fatalf("list-resource-tags: %q", got)
	}
	c.fails("(TagException) when calling the TagResource operation", "kms", "tag-resource", "--key-id", k.KeyId, "--tags", "TagKey=aws:x,TagValue=y")
	if got := c.text("kms", "list-aliases", "--key-id", k.KeyId, "--query", "Aliases[].AliasName"); got != "alias/eks-secrets" {
		t.Fatalf("list-aliases: %q", got)
	}
	c.json(nil, "kms", "delete-alias", "--alias-name", "alias/eks-secrets")
	c.fails("(NotFoundException) when calling the DeleteAlias operation", "kms", "delete-alias", "--alias-name", "alias/eks-secrets")

	// boto3: ListKeys through its paginator (Limit 1, Marker), GenerateDataKey and Decrypt.
	for i := 0; i < 2; i++ {
		c.json(nil, "kms", "create-key")
	}
	script := `
import boto3, sys
kms = boto3.client("kms")
ids = [k["KeyId"] for page in kms.get_paginator("list_keys").paginate(PaginationConfig={"PageSize": 1}) for k in page["Keys"]]
assert len(ids) == 3 and len(set(ids)) == 3, ids
enabled = [i for i in ids if kms.describe_key(KeyId=i)["KeyMetadata"]["KeyState"] == "Enabled"]
assert len(enabled) == 2, enabled
dk = kms.generate_data_key(KeyId=enabled[0], KeySpec="AES_256")
assert kms.decrypt(CiphertextBlob=dk["CiphertextBlob"])["Plaintext"] == dk["Plaintext"]
try:
    kms.encrypt(KeyId=enabled[0], Plaintext=b"x", EncryptionAlgorithm="RSAES_OAEP_SHA_256")
    sys.exit("encrypt with RSAES accepted")
except kms.exceptions.InvalidKeyUsageException:
    pass
print("ok")
`
	if out, err := c.run("python3", "-c", script); err != nil || strings.TrimSpace(out) != "ok" {
		t.Fatalf("boto3: %v\n%s", err, out)
	}
	// Unsigned or wrongly signed calls are refused before any operation runs.
	c.fails("(MissingAuthenticationTokenException) when calling the ListKeys operation", "kms", "list-keys", "--no-sign-request")
}
