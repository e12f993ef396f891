//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// A cluster whose encryptionConfig names a KMS key made with the aws CLI
// encrypts Secrets through kplane's KMS v2 plugin: read straight from etcd a
// Secret is ciphertext (k8s:enc:kms:v2:), through the API it reads as
// written. Its control-plane logs (api, audit) reach CloudWatch Logs.
func TestSecretsEncryptedWithKMS(t *testing.T) {
	k := startKplane(t)
	var made struct{ KeyMetadata struct{ Arn string } }
	if err := json.Unmarshal([]byte(k.mustAWS("kms", "create-key", "--description", "e2e")), &made); err != nil {
		t.Fatal(err)
	}
	key := made.KeyMetadata.Arn
	out := k.mustAWS("eks", "create-cluster", "--name", "sealed", "--role-arn", roleArn,
		"--resources-vpc-config", "subnetIds="+k.subnetIDs(),
		"--encryption-config", `[{"resources":["secrets"],"provider":{"keyArn":"`+key+`"}}]`,
		"--logging", `{"clusterLogging":[{"types":["api","audit"],"enabled":true}]}`)
	var resp struct{ Cluster cluster }
	if err := json.Unmarshal([]byte(out), &resp); err != nil {
		t.Fatal(err)
	}
	id := resp.Cluster.ID
	k.waitActive("sealed", 5*time.Minute)
	kc := k.kubeconfig("sealed")
	k.kubectlEventually(time.Minute, kc, "create", "secret", "generic", "moon", "--from-literal=plan=the base is under the crater")
	got := k.mustKubectl(kc, "get", "secret", "moon", "-o", "jsonpath={.data.plan}")
	if got != "dGhlIGJhc2UgaXMgdW5kZXIgdGhlIGNyYXRlcg==" {
		t.Fatalf("secret through the API: %q", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp2, err := k.etcd().Get(ctx, "/kplane-clusters/"+id+"/secrets/default/moon")
	if err != nil || len(resp2.Kvs) != 1 {
		t.Fatalf("etcd read: %v %v", err, resp2)
	}
	raw := resp2.Kvs[0].Value
	if !strings.HasPrefix(string(raw), "k8s:enc:kms:v2:kplane-kms:") || strings.Contains(string(raw), "under the crater") {
		t.Fatalf("secret in etcd is not KMS ciphertext: %q", raw[:min(len(raw), 80)])
	}
	// A ConfigMap is not encrypted (only secrets are configured).
	k.mustKubectl(kc, "create", "configmap", "open", "--from-literal=x=visible")
	cm, err := k.etcd().Get(ctx, "/kplane-clusters/"+id+"/configmaps/default/open")
	if err != nil || len(cm.Kvs) != 1 || !strings.Contains(string(cm.Kvs[0].Value), "visible") {
		t.Fatalf("configmap in etcd: %v", err)
	}

	// The audit log of that request is in CloudWatch Logs.
	deadline := time.Now().Add(60 * time.Second)
	for {
		out, err := k.awsCLI("logs", "filter-log-events", "--log-group-name", "/aws/eks/sealed/cluster", "--filter-pattern", `"secrets/moon"`)
		if err == nil && strings.Contains(out, "kube-apiserver-audit-") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no audit event of the secret in /aws/eks/sealed/cluster: %v %s", err, out)
		}
		time.Sleep(time.Second)
	}
}
