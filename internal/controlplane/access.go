package controlplane

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"

	"github.com/kplane/kplane/internal/access"
	"github.com/kplane/kplane/internal/authn"
	"github.com/kplane/kplane/internal/fileutil"
	"github.com/kplane/kplane/internal/store"
)

// Token authentication: each apiserver asks kplane's webhook who a bearer
// token is. A short cache keeps revoked access from lingering.
const (
	webhookCacheTTL = "5s"
)

// webhookArgs writes the cluster's webhook kubeconfig and returns the
// apiserver flags that use it.
func webhookArgs(cfg ClusterConfig, kplaneURL string) ([]string, error) {
	file := filepath.Join(cfg.Dir, "authn-webhook.kubeconfig")
	if err := fileutil.WriteFileIfChanged(file, authn.WebhookKubeconfig(kplaneURL+authn.WebhookPath+cfg.ID), 0o600); err != nil {
		return nil, err
	}
	return []string{
		"--authentication-token-webhook-config-file=" + file,
		"--authentication-token-webhook-version=v1",
		"--authentication-token-webhook-cache-ttl=" + webhookCacheTTL,
	}, nil
}

// readAwsAuth reads the cluster's kube-system/aws-auth ConfigMap from the
// replica cfg with the admin certificate ("" data when it does not exist).
func readAwsAuth(ctx context.Context, cfg ClusterConfig) (access.AwsAuth, error) {
	var cm struct {
		Data map[string]string `json:"data"`
	}
	code, err := adminRequest(ctx, cfg, http.MethodGet, "/api/v1/namespaces/kube-system/configmaps/aws-auth", nil, &cm)
	if err != nil || code == http.StatusNotFound {
		return access.AwsAuth{}, err
	}
	if code != http.StatusOK {
		return access.AwsAuth{}, fmt.Errorf("reading aws-auth: HTTP %d", code)
	}
	return access.AwsAuth{MapRoles: cm.Data["mapRoles"], MapUsers: cm.Data["mapUsers"]}, nil
}

// ensureAccessBindings binds each access policy's group to its ClusterRole,
// cluster-wide and in every namespace an association names, so the groups
// the token webhook gives mean in the cluster what the policies mean on EKS.
func ensureAccessBindings(ctx context.Context, cfg ClusterConfig, entries []*store.AccessEntryRecord, clusterWide bool) error {
	for _, p := range access.Policies {
		if !clusterWide {
			break
		}
		if err := createIfAbsent(ctx, cfg, "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
			binding("ClusterRoleBinding", p.BindingName(), "", p.ClusterRole, p.ClusterGroup())); err != nil {
			return err
		}
	}
	for _, e := range entries {
		for _, a := range e.Policies {
			p, ok := access.PolicyByArn(a.PolicyArn)
			if !ok || a.AccessScope.Type != "namespace" {
				continue
			}
			for _, ns := range a.AccessScope.Namespaces {
				err := createIfAbsent(ctx, cfg, "/apis/rbac.authorization.k8s.io/v1/namespaces/"+ns+"/rolebindings",
					binding("RoleBinding", p.BindingName(), ns, p.ClusterRole, p.NamespaceGroup(ns)))
				if err != nil && err != errNoNamespace {
					return err
				}
			}
		}
	}
	return nil
}

func hasNamespaced(entries []*store.AccessEntryRecord) bool {
	for _, e := range entries {
		for _, a := range e.Policies {
			if a.AccessScope.Type == "namespace" {
				return true
			}
		}
	}
	return false
}

var errNoNamespace = fmt.Errorf("namespace does not exist yet")

func binding(kind, name, ns, clusterRole, group string) map[string]any {
	meta := map[string]any{"name": name, "labels": map[string]string{"app.kubernetes.io/managed-by": "kplane"}}
	if ns != "" {
		meta["namespace"] = ns
	}
	return map[string]any{
		"apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind, "metadata": meta,
		"roleRef":  map[string]string{"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": clusterRole},
		"subjects": []map[string]string{{"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": group}},
	}
}

func createIfAbsent(ctx context.Context, cfg ClusterConfig, path string, obj any) error {
	code, err := adminRequest(ctx, cfg, http.MethodPost, path, obj, nil)
	switch {
	case err != nil:
		return err
	case code == http.StatusCreated || code == http.StatusConflict:
		return nil
	case code == http.StatusNotFound:
		return errNoNamespace
	}
	return fmt.Errorf("POST %s: HTTP %d", path, code)
}

// adminRequest calls the cluster's API as its admin; out, if set, gets the
// JSON answer of a 200.
func adminRequest(ctx context.Context, cfg ClusterConfig, method, path string, in, out any) (int, error) {
	c, err := AdminHTTPClient(cfg)
	if err != nil {
		return 0, err
	}
	defer c.CloseIdleConnections()
	return requestWith(ctx, c, cfg, method, path, in, out)
}

// requestWith is adminRequest on a client the caller keeps (for many calls).
func requestWith(ctx context.Context, c *http.Client, cfg ClusterConfig, method, path string, in, out any) (int, error) {
	var body io.Reader
	if in != nil {
		b, _ := json.Marshal(in)
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, cfg.LocalEndpoint()+path, body)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if out != nil && resp.StatusCode == http.StatusOK {
		return resp.StatusCode, json.NewDecoder(resp.Body).Decode(out)
	}
	io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}
