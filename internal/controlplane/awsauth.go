package controlplane

import (
	"context"
	"fmt"
	"net/http"

	"sigs.k8s.io/yaml"

	"github.com/kplane/kplane/internal/store"
)

// nodeMapRole is the aws-auth mapRoles entry EKS writes for a managed
// nodegroup's node role.
func nodeMapRole(roleArn string) map[string]any {
	return map[string]any{
		"rolearn":  roleArn,
		"username": "system:node:{{EC2PrivateDNSName}}",
		"groups":   []string{"system:bootstrappers", "system:nodes"},
	}
}

const awsAuthPath = "/api/v1/namespaces/kube-system/configmaps/aws-auth"

// EnsureNodeRoleMapped adds roleArn's node entry to the cluster's
// kube-system/aws-auth ConfigMap (making the ConfigMap if there is none)
// unless roleArn is mapped there already, as EKS does for a managed
// nodegroup in CONFIG_MAP mode. A user's own entry for the role is left as
// it is. The write carries the resourceVersion read, so a concurrent edit
// makes it fail and the caller tries again.
func (p *LocalProvisioner) EnsureNodeRoleMapped(ctx context.Context, rec *store.ClusterRecord, roleArn string) error {
	cfg, err := p.servingReplica(rec)
	if err != nil {
		return err
	}
	return ensureNodeRoleMapped(ctx, cfg, roleArn)
}

// ensureNodeRoleMapped is EnsureNodeRoleMapped against the replica cfg.
func ensureNodeRoleMapped(ctx context.Context, cfg ClusterConfig, roleArn string) error {
	var cm map[string]any
	code, err := adminRequest(ctx, cfg, http.MethodGet, awsAuthPath, nil, &cm)
	if err != nil {
		return err
	}
	entry := nodeMapRole(roleArn)
	if code == http.StatusNotFound {
		roles, _ := yaml.Marshal([]any{entry})
		obj := map[string]any{
			"apiVersion": "v1", "kind": "ConfigMap",
			"metadata": map[string]any{"name": "aws-auth", "namespace": "kube-system"},
			"data":     map[string]string{"mapRoles": string(roles)},
		}
		code, err = adminRequest(ctx, cfg, http.MethodPost, "/api/v1/namespaces/kube-system/configmaps", obj, nil)
		if err == nil && code != http.StatusCreated {
			err = fmt.Errorf("creating aws-auth: HTTP %d", code)
		}
		return err
	}
	if code != http.StatusOK {
		return fmt.Errorf("reading aws-auth: HTTP %d", code)
	}
	data, _ := cm["data"].(map[string]any)
	if data == nil {
		data = map[string]any{}
	}
	current, _ := data["mapRoles"].(string)
	var roles []map[string]any
	if err := yaml.Unmarshal([]byte(current), &roles); err != nil {
		return fmt.Errorf("aws-auth mapRoles is not a YAML list: %w", err)
	}
	for _, r := range roles {
		if r["rolearn"] == roleArn {
			return nil
		}
	}
	roles = append(roles, entry)
	b, err := yaml.Marshal(roles)
	if err != nil {
		return err
	}
	data["mapRoles"] = string(b)
	cm["data"] = data
	code, err = adminRequest(ctx, cfg, http.MethodPut, awsAuthPath, cm, nil)
	if err == nil && code != http.StatusOK {
		err = fmt.Errorf("updating aws-auth: HTTP %d", code)
	}
	return err
}

// RemoveNodeRoleMapping removes the node entry EnsureNodeRoleMapped added
// for roleArn (same role, EKS's node username) from aws-auth, as EKS does
// when the last managed nodegroup with that role goes. Other entries, a
// user's own for the role among them, stay.
func (p *LocalProvisioner) RemoveNodeRoleMapping(ctx context.Context, rec *store.ClusterRecord, roleArn string) error {
	cfg, err := p.servingReplica(rec)
	if err != nil {
		return err
	}
	var cm map[string]any
	code, err := adminRequest(ctx, cfg, http.MethodGet, awsAuthPath, nil, &cm)
	if err != nil || code == http.StatusNotFound {
		return err
	}
	if code != http.StatusOK {
		return fmt.Errorf("reading aws-auth: HTTP %d", code)
	}
	data, _ := cm["data"].(map[string]any)
	current, _ := data["mapRoles"].(string)
	var roles []map[string]any
	if err := yaml.Unmarshal([]byte(current), &roles); err != nil {
		return fmt.Errorf("aws-auth mapRoles is not a YAML list: %w", err)
	}
	ours := nodeMapRole(roleArn)
	kept := roles[:0]
	for _, r := range roles {
		if r["rolearn"] != ours["rolearn"] || r["username"] != ours["username"] {
			kept = append(kept, r)
		}
	}
	if len(kept) == len(roles) {
		return nil
	}
	b, err := yaml.Marshal(kept)
	if err != nil {
		return err
	}
	data["mapRoles"] = string(b)
	code, err = adminRequest(ctx, cfg, http.MethodPut, awsAuthPath, cm, nil)
	if err == nil && code != http.StatusOK {
		err = fmt.Errorf("updating aws-auth: HTTP %d", code)
	}
	return err
}
