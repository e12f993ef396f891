package controlplane

import (
	"context"
	"fmt"
	"net/http"
	"net/url"

	"github.com/kplane/kplane/internal/store"
)

// SecretsRewriter is what a Provisioner may also be: it rewrites every
// Secret of a cluster through its API, so that each is stored as the
// apiserver's encryption configuration now says (AssociateEncryptionConfig).
type SecretsRewriter interface {
	RewriteSecrets(ctx context.Context, rec *store.ClusterRecord) (int, error)
}

// RewriteSecrets implements SecretsRewriter through a replica seen ready
// with the current spec.
func (p *LocalProvisioner) RewriteSecrets(ctx context.Context, rec *store.ClusterRecord) (int, error) {
	cfg, err := p.servingReplica(rec)
	if err != nil {
		return 0, err
	}
	return rewriteSecrets(ctx, cfg)
}

// rewriteSecrets writes every Secret back unchanged, a page at a time, as
// `kubectl get secrets -A -o json | kubectl replace -f -` does: the
// apiserver reads a Secret stored by a provider other than its first as
// stale and so really writes it, with the first (the KMS provider). A
// Secret changed meanwhile (409) was written by that change; one deleted
// (404) needs nothing. It returns how many it wrote.
func rewriteSecrets(ctx context.Context, cfg ClusterConfig) (int, error) {
	client, err := AdminHTTPClient(cfg)
	if err != nil {
		return 0, err
	}
	defer client.CloseIdleConnections()
	call := func(method, path string, in, out any) (int, error) {
		return requestWith(ctx, client, cfg, method, path, in, out)
	}
	written, cont := 0, ""
	for {
		var page struct {
			Metadata struct{ Continue string } `json:"metadata"`
			Items    []map[string]any          `json:"items"`
		}
		path := "/api/v1/secrets?limit=250"
		if cont != "" {
			path += "&continue=" + url.QueryEscape(cont)
		}
		code, err := call(http.MethodGet, path, nil, &page)
		if err != nil {
			return written, err
		}
		if code != http.StatusOK {
			return written, fmt.Errorf("listing secrets: HTTP %d", code)
		}
		for _, s := range page.Items {
			meta, _ := s["metadata"].(map[string]any)
			ns, _ := meta["namespace"].(string)
			name, _ := meta["name"].(string)
			s["apiVersion"], s["kind"] = "v1", "Secret"
			code, err := call(http.MethodPut, "/api/v1/namespaces/"+url.PathEscape(ns)+"/secrets/"+url.PathEscape(name), s, nil)
			if err != nil {
				return written, err
			}
			switch code {
			case http.StatusOK:
				written++
			case http.StatusConflict, http.StatusNotFound:
			default:
				return written, fmt.Errorf("rewriting secret %s/%s: HTTP %d", ns, name, code)
			}
		}
		if cont = page.Metadata.Continue; cont == "" {
			return written, nil
		}
	}
}
