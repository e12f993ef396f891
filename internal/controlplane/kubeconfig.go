package controlplane

import (
	"encoding/base64"
	"fmt"
	"os"
	"strings"

	"github.com/kplane/kplane/internal/fileutil"
)

// userCert maps a kubeconfig user to its certificate pair.
var userCert = map[string]string{
	UserAdmin:             CertAdmin,
	UserControllerManager: CertControllerManager,
	UserScheduler:         CertScheduler,
}

// Kubeconfig returns a kubeconfig (YAML, certificates embedded) for user
// (UserAdmin, UserControllerManager or UserScheduler) pointing at the
// cluster's public Endpoint. EnsurePKI must have run. Cluster, user and
// context are all named after the cluster (cfg.Name).
func Kubeconfig(cfg ClusterConfig, user string) ([]byte, error) {
	return kubeconfigFor(cfg, user, cfg.Endpoint())
}

func kubeconfigFor(cfg ClusterConfig, user, server string) ([]byte, error) {
	cfg = cfg.withDefaults()
	pair, ok := userCert[user]
	if !ok {
		return nil, fmt.Errorf("kubeconfig: unknown user %q", user)
	}
	ca, err := os.ReadFile(cfg.CertFile(CertCA))
	if err != nil {
		return nil, err
	}
	crt, err := os.ReadFile(cfg.CertFile(pair))
	if err != nil {
		return nil, err
	}
	key, err := os.ReadFile(cfg.KeyFile(pair))
	if err != nil {
		return nil, err
	}
	name := cfg.Name
	userName := name
	if user != UserAdmin {
		userName = user
	}
	b64 := base64.StdEncoding.EncodeToString
	var sb strings.Builder
	fmt.Fprintf(&sb, `apiVersion: v1
kind: Config
clusters:
- name: %[1]s
  cluster:
    server: %[2]s
    certificate-authority-data: %[3]s
users:
- name: %[4]s
  user:
    client-certificate-data: %[5]s
    client-key-data: %[6]s
contexts:
- name: %[1]s
  context:
    cluster: %[1]s
    user: %[4]s
current-context: %[1]s
preferences: {}
`, yamlQuote(name), server, b64(ca), yamlQuote(userName), b64(crt), b64(key))
	return []byte(sb.String()), nil
}

// yamlQuote double-quotes s for YAML (JSON string syntax is valid YAML).
func yamlQuote(s string) string {
	var sb strings.Builder
	sb.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			sb.WriteByte('\\')
			sb.WriteRune(r)
		case r < 0x20:
			fmt.Fprintf(&sb, `\u%04x`, r)
		default:
			sb.WriteRune(r)
		}
	}
	sb.WriteByte('"')
	return sb.String()
}

// writeKubeconfigs writes the controller-manager and scheduler kubeconfigs
// (pointing at LocalEndpoint) and the admin kubeconfig (public Endpoint) into
// the cluster dir, mode 0600.
func writeKubeconfigs(cfg ClusterConfig) error {
	for _, u := range []string{UserControllerManager, UserScheduler, UserAdmin} {
		server := cfg.LocalEndpoint()
		if u == UserAdmin {
			server = cfg.Endpoint()
		}
		b, err := kubeconfigFor(cfg, u, server)
		if err != nil {
			return err
		}
		if err := fileutil.WriteFileIfChanged(cfg.KubeconfigPath(u), b, 0o600); err != nil {
			return err
		}
	}
	return nil
}
