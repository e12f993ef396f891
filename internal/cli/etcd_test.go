package cli

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kplane/kplane/internal/pki"
)

// etcdFiles are a valid CA, client pair and client CA.
func etcdFiles(t *testing.T) (ca, cert, key, clientCA, clientCAKey string) {
	t.Helper()
	dir := t.TempDir()
	p := func(n string) string { return filepath.Join(dir, n) }
	c, err := pki.LoadOrCreateCA(p("ca.crt"), p("ca.key"), "ca")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pki.LoadOrIssue(p("k.crt"), p("k.key"), c, pki.Spec{CommonName: "kplane", Client: true}); err != nil {
		t.Fatal(err)
	}
	return p("ca.crt"), p("k.crt"), p("k.key"), p("ca.crt"), p("ca.key")
}

// runKplane runs the kplane command line and returns its error.
func runKplane(t *testing.T, args ...string) error {
	t.Helper()
	cmd := NewRootCommand()
	var out bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetArgs(args)
	return cmd.Execute()
}

// `kplane serve` refuses incomplete or wrong external etcd settings before it
// starts anything, naming what is wrong.
func TestServeEtcdFlags(t *testing.T) {
	ca, cert, key, cca, ccaKey := etcdFiles(t)
	full := []string{"--etcd-endpoints", "https://127.0.0.1:1", "--etcd-cafile", ca, "--etcd-certfile", cert,
		"--etcd-keyfile", key, "--etcd-client-ca-cert", cca, "--etcd-client-ca-key", ccaKey}
	without := func(flag string) []string {
		var out []string
		for i := 0; i < len(full); i += 2 {
			if full[i] != flag {
				out = append(out, full[i], full[i+1])
			}
		}
		return out
	}
	with := func(flag, value string) []string {
		out := append([]string(nil), full...)
		for i := 0; i < len(out); i += 2 {
			if out[i] == flag {
				out[i+1] = value
			}
		}
		return out
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"TLS flags without endpoints", without("--etcd-endpoints"), "need --etcd-endpoints"},
		{"endpoints alone", []string{"--etcd-endpoints", "https://127.0.0.1:1"}, "--etcd-cafile, --etcd-certfile, --etcd-keyfile, --etcd-client-ca-cert, --etcd-client-ca-key"},
		{"no client CA key", without("--etcd-client-ca-key"), "also needs --etcd-client-ca-key"},
		{"no cafile", without("--etcd-cafile"), "also needs --etcd-cafile"},
		{"plain http", with("--etcd-endpoints", "http://127.0.0.1:1"), "plain http"},
		{"missing cert file", with("--etcd-certfile", "/nonexistent/k.crt"), "/nonexistent/k.crt"},
		{"client CA not a CA", with("--etcd-client-ca-cert", cert), "not a CA certificate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dataDir := t.TempDir()
			args := append([]string{"serve", "--data-dir", dataDir, "--listen", "127.0.0.1:0"}, tc.args...)
			err := runKplane(t, args...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("want an error with %q, got %v", tc.want, err)
			}
			// Nothing was started: no credentials, no etcd.
			if entries, _ := os.ReadDir(dataDir); len(entries) > 0 {
				t.Errorf("the data directory was written: %v", entries)
			}
		})
	}
}

// Commands run beside serve take the same flags (without the client CA,
// which only serve uses) or find serve's settings in the data directory.
func TestBesideEtcdFlags(t *testing.T) {
	ca, cert, key, _, _ := etcdFiles(t)
	dataDir := t.TempDir()
	if err := runKplane(t, "network", "--data-dir", dataDir, "--etcd-endpoints", "https://127.0.0.1:1", "--etcd-cafile", ca); err == nil ||
		!strings.Contains(err.Error(), "also needs --etcd-certfile, --etcd-keyfile") {
		t.Fatalf("network with half the TLS flags: %v", err)
	}
	if err := runKplane(t, "kubeconfig", "x", "--data-dir", dataDir, "--etcd-client-ca-cert", ca); err == nil ||
		!strings.Contains(err.Error(), "unknown flag") {
		t.Fatalf("kubeconfig with --etcd-client-ca-cert: %v", err)
	}
	if err := runKplane(t, "network", "--data-dir", dataDir); err == nil || !strings.Contains(err.Error(), "is kplane serving from") {
		t.Fatalf("network with nothing to find: %v", err)
	}
	e := etcdFlags{endpoints: []string{"https://127.0.0.1:1"}}
	e.tls.CAFile, e.tls.CertFile, e.tls.KeyFile = ca, cert, key
	if err := e.remember(dataDir); err != nil {
		t.Fatal(err)
	}
	cfg, err := (&etcdFlags{}).besideConfig(dataDir)
	if err != nil || cfg.TLS != e.tls || len(cfg.Endpoints) != 1 {
		t.Fatalf("besideConfig from what serve left: %+v %v, want %+v", cfg, err, e.tls)
	}
}
