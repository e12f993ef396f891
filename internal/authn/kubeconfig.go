package authn

import (
	"encoding/json"
)

// WebhookKubeconfig returns the kubeconfig YAML kube-apiserver's --authentication-token-webhook-config-file needs to reach url (plain http on loopback is fine).
//
// The cluster is the webhook, the user is kube-apiserver itself (no credentials: the
// webhook trusts its caller by where it listens). The URL is written as a JSON string,
// which is a valid YAML double-quoted scalar whatever characters it holds.
func WebhookKubeconfig(url string) []byte {
	quoted, _ := json.Marshal(url) // a string always marshals
	return []byte(`apiVersion: v1
kind: Config
clusters:
- name: kplane-authn
  cluster:
    server: ` + string(quoted) + `
users:
- name: kube-apiserver
  user: {}
contexts:
- name: kplane-authn
  context:
    cluster: kplane-authn
    user: kube-apiserver
current-context: kplane-authn
`)
}
