//go:build e2e

package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// AssociateEncryptionConfig on a running cluster: Secrets made before lie
// plain in etcd; the Update goes InProgress to Successful, rolling the
// replicas onto the KMS v2 provider and rewriting every Secret, after which
// every Secret in etcd is KMS ciphertext and reads back as written through
// the API. Then the key's state shows on the cluster as EKS shows it: a
// disabled key is a KmsKeyDisabled health issue and new Secrets cannot be
// written (once the apiserver's cached data key expires: KMS v2 keeps
// writing with it for up to 3 minutes after its plugin turns unhealthy; reads
// that need the plugin fail too, as on EKS); enabling the key clears the
// issue, and writes and reads succeed again.
func TestAssociateEncryptionThenDisableKey(t *testing.T) {
	k := startKplane(t)
	var key string
	if err := json.Unmarshal([]byte(k.mustAWS("kms", "create-key", "--query", "KeyMetadata.Arn")), &key); err != nil {
		t.Fatal(err)
	}
	c := k.createActive("late")
	kc := k.kubeconfig("late")
	k.kubectlEventually(time.Minute, kc, "create", "namespace", "team-a")
	secrets := map[string]string{"default/before-1": "first plain", "default/before-2": "second plain", "team-a/before-3": "third plain"}
	for nsName, v := range secrets {
		ns, name, _ := strings.Cut(nsName, "/")
		k.mustKubectl(kc, "create", "secret", "generic", name, "-n", ns, "--from-literal=v="+v)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	etcd := k.etcd()
	prefix := "/kplane-clusters/" + c.ID + "/secrets/"
	for nsName, v := range secrets {
		resp, err := etcd.Get(ctx, prefix+nsName)
		if err != nil || len(resp.Kvs) != 1 || !strings.Contains(string(resp.Kvs[0].Value), v) {
			t.Fatalf("secret %s before the association is not plain in etcd: %v", nsName, err)
		}
	}

	k.mustAWS("eks", "describe-cluster", "--name", "late") // still no encryptionConfig
	out := k.mustAWS("eks", "associate-encryption-config", "--cluster-name", "late",
		"--encryption-config", `[{"resources":["secrets"],"provider":{"keyArn":"`+key+`"}}]`)
	var started struct {
		Update struct{ ID, Status, Type string }
	}
	if err := json.Unmarshal([]byte(out), &started); err != nil || started.Update.Status != "InProgress" || started.Update.Type != "AssociateEncryptionConfig" {
		t.Fatalf("associate-encryption-config: %v %s", err, out)
	}
	took := eventually(t, 8*time.Minute, time.Second, "the AssociateEncryptionConfig update to end", func() error {
		out, err := k.awsCLI("eks", "describe-update", "--name", "late", "--update-id", started.Update.ID, "--query", "update.[status,errors]")
		if err != nil {
			return err
		}
		if strings.Contains(out, "Failed") {
			t.Fatalf("update Failed: %s", out)
		}
		if !strings.Contains(out, "Successful") {
			return fmt.Errorf("update: %s", out)
		}
		return nil
	})
	t.Logf("AssociateEncryptionConfig Successful %v after the call", took.Round(time.Millisecond))
	var after []string
	if err := json.Unmarshal([]byte(k.mustAWS("eks", "describe-cluster", "--name", "late", "--query", "cluster.[status,encryptionConfig[0].provider.keyArn]")), &after); err != nil || len(after) != 2 || after[0] != "ACTIVE" || after[1] != key {
		t.Fatalf("cluster after the update: %v %v", after, err)
	}
	// Every Secret in etcd, ours and the cluster's own, is KMS ciphertext.
	all, err := etcd.Get(ctx, prefix, clientv3.WithPrefix())
	if err != nil || len(all.Kvs) < len(secrets) {
		t.Fatalf("secrets in etcd: %v, %d", err, len(all.Kvs))
	}
	for _, kv := range all.Kvs {
		if !strings.HasPrefix(string(kv.Value), "k8s:enc:kms:v2:kplane-kms:") || strings.Contains(string(kv.Value), " plain") {
			t.Fatalf("%s is not KMS ciphertext after the association: %q", kv.Key, kv.Value[:min(len(kv.Value), 60)])
		}
	}
	for nsName, v := range secrets {
		ns, name, _ := strings.Cut(nsName, "/")
		if got := k.mustKubectl(kc, "get", "secret", name, "-n", ns, "-o", "jsonpath={.data.v}"); got != b64(v) {
			t.Fatalf("secret %s through the API: %q", nsName, got)
		}
	}

	// The key disabled: a health issue, then no new Secret can be written.
	k.mustAWS("kms", "disable-key", "--key-id", key)
	eventually(t, time.Minute, time.Second, "the KmsKeyDisabled health issue", func() error {
		cl := k.mustDescribe("late")
		for _, is := range cl.Health.Issues {
			if is.Code == "KmsKeyDisabled" {
				return nil
			}
		}
		return fmt.Errorf("issues %+v", cl.Health.Issues)
	})
	n := 0
	refusedAfter := eventually(t, 5*time.Minute, 5*time.Second, "a Secret write refused with the key disabled", func() error {
		n++
		_, err := k.kubectl(kc, "create", "secret", "generic", fmt.Sprintf("while-disabled-%d", n), "--from-literal=v=x")
		if err == nil {
			return fmt.Errorf("secret while-disabled-%d written", n)
		}
		return nil
	})
	t.Logf("Secret writes refused %v after the key was disabled", refusedAfter.Round(time.Second))

	// Enabled again: the issue goes and writes succeed.
	k.mustAWS("kms", "enable-key", "--key-id", key)
	eventually(t, time.Minute, time.Second, "the health issue to clear", func() error {
		if is := k.mustDescribe("late").Health.Issues; len(is) > 0 {
			return fmt.Errorf("issues %+v", is)
		}
		return nil
	})
	k.kubectlEventually(2*time.Minute, kc, "create", "secret", "generic", "after-enable", "--from-literal=v=back")
	// Reads need the key too (an apiserver that has not cached a Secret's
	// data key asks the plugin): they work again.
	for nsName, v := range secrets {
		ns, name, _ := strings.Cut(nsName, "/")
		if got := k.kubectlEventually(time.Minute, kc, "get", "secret", name, "-n", ns, "-o", "jsonpath={.data.v}"); got != b64(v) {
			t.Fatalf("secret %s after the key came back: %q", nsName, got)
		}
	}
	resp, err := etcd.Get(ctx, prefix+"default/after-enable")
	if err != nil || len(resp.Kvs) != 1 || !strings.HasPrefix(string(resp.Kvs[0].Value), "k8s:enc:kms:v2:") {
		t.Fatalf("secret written after the key came back: %v", err)
	}
}
