package controlplane

import (
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
)

func flagValue(args []string, name string) (string, bool) {
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			return v, true
		}
	}
	return "", false
}

func wantFlags(t *testing.T, what string, args []string, want map[string]string) {
	t.Helper()
	for k, v := range want {
		got, ok := flagValue(args, k)
		if !ok || got != v {
			t.Errorf("%s --%s = %q (set %v), want %q", what, k, got, ok, v)
		}
	}
}

func TestAPIServerArgs(t *testing.T) {
	cfg := testConfig(t)
	cfg.EtcdServers = []string{"https://e1:2379", "https://e2:2379"}
	cfg.EtcdCAFile, cfg.EtcdCertFile, cfg.EtcdKeyFile = "/etcd/ca", "/etcd/crt", "/etcd/key"
	cfg.ServiceAccountIssuer = "https://oidc.example/id/ABC"
	cfg.ExtraAPIServerArgs = []string{"--v=2"}
	args := APIServerArgs(cfg)
	pki := filepath.Join(cfg.Dir, "pki")
	wantFlags(t, "apiserver", args, map[string]string{
		"advertise-address":                "127.0.0.1",
		"bind-address":                     "127.0.0.1",
		"secure-port":                      "6443",
		"etcd-servers":                     "https://e1:2379,https://e2:2379",
		"etcd-prefix":                      "/kplane-clusters/id-1",
		"etcd-cafile":                      "/etcd/ca",
		"etcd-certfile":                    "/etcd/crt",
		"etcd-keyfile":                     "/etcd/key",
		"service-cluster-ip-range":         "10.100.0.0/16",
		"authorization-mode":               "Node,RBAC",
		"anonymous-auth":                   "false",
		"client-ca-file":                   filepath.Join(pki, "ca.crt"),
		"tls-cert-file":                    filepath.Join(pki, "apiserver.crt"),
		"tls-private-key-file":             filepath.Join(pki, "apiserver.key"),
		"requestheader-client-ca-file":     filepath.Join(pki, "front-proxy-ca.crt"),
		"proxy-client-cert-file":           filepath.Join(pki, "front-proxy-client.crt"),
		"service-account-issuer":           "https://oidc.example/id/ABC",
		"service-account-key-file":         filepath.Join(pki, "sa.pub"),
		"service-account-signing-key-file": filepath.Join(pki, "sa.key"),
		"endpoint-reconciler-type":         "none", // replicas behind kplane's balancer
		"enable-aggregator-routing":        "true", // webhooks by Service reached at their pods
	})
	if _, ok := flagValue(args, "audit-log-path"); ok {
		t.Error("audit log without the audit log type")
	}
	if args[len(args)-1] != "--v=2" {
		t.Error("extra args not last")
	}

	cfg.AdvertiseAddress = "192.168.1.10"
	cfg.LogTypes = []string{LogTypeAudit}
	args = APIServerArgs(cfg)
	wantFlags(t, "apiserver", args, map[string]string{
		"endpoint-reconciler-type": "none", // also with a routable advertise address: replicas' ports differ
		"advertise-address":        "192.168.1.10",
		"audit-policy-file":        filepath.Join(cfg.Dir, "audit-policy.yaml"),
		"audit-log-path":           filepath.Join(cfg.Dir, "logs", "audit.log"),
	})
}

func TestControllerManagerAndSchedulerArgs(t *testing.T) {
	cfg := testConfig(t)
	pki := filepath.Join(cfg.Dir, "pki")
	wantFlags(t, "controller-manager", ControllerManagerArgs(cfg), map[string]string{
		"kubeconfig":                       filepath.Join(cfg.Dir, "controller-manager.kubeconfig"),
		"use-service-account-credentials":  "true",
		"cluster-signing-cert-file":        filepath.Join(pki, "ca.crt"),
		"cluster-signing-key-file":         filepath.Join(pki, "ca.key"),
		"root-ca-file":                     filepath.Join(pki, "ca.crt"),
		"service-account-private-key-file": filepath.Join(pki, "sa.key"),
		"leader-elect":                     "true",
		"secure-port":                      "0",
		"cluster-name":                     "demo",
		"kube-api-qps":                     "200",
		"kube-api-burst":                   "300",
		"leader-elect-renew-deadline":      "20s",
	})
	wantFlags(t, "scheduler", SchedulerArgs(cfg), map[string]string{
		"kubeconfig":                  filepath.Join(cfg.Dir, "scheduler.kubeconfig"),
		"leader-elect":                "true",
		"leader-elect-retry-period":   "5s",
		"leader-elect-lease-duration": "30s",
		"secure-port":                 "0",
	})
}

func TestBuildProcessSpec(t *testing.T) {
	cfg := testConfig(t)
	cfg.LogTypes = []string{LogTypeAPI, LogTypeScheduler}
	spec := BuildProcessSpec(cfg)
	if spec.ReadyzURL != "https://127.0.0.1:6443/readyz" || spec.ClusterID != "id-1" {
		t.Errorf("spec %+v", spec)
	}
	if spec.APIServerLogFile != filepath.Join(cfg.Dir, "logs", "api.log") ||
		spec.SchedulerLogFile != filepath.Join(cfg.Dir, "logs", "scheduler.log") ||
		spec.ControllerManagerLogFile != "" {
		t.Errorf("log files: %q %q %q", spec.APIServerLogFile, spec.ControllerManagerLogFile, spec.SchedulerLogFile)
	}
	if len(spec.ControllerManagerArgs) == 0 || len(spec.SchedulerArgs) == 0 {
		t.Error("cm/scheduler args missing")
	}
	if spec.GOGC != DefaultGOGC {
		t.Errorf("GOGC %d", spec.GOGC)
	}
	cfg.APIServerOnly = true
	cfg.GOGC = 42
	spec = BuildProcessSpec(cfg)
	if len(spec.ControllerManagerArgs) != 0 || len(spec.SchedulerArgs) != 0 || spec.GOGC != 42 || spec.StartupGOGC != DefaultStartupGOGC {
		t.Errorf("apiserver-only spec %+v", spec)
	}
}

func TestPrepareWritesSpecAndKubeconfigs(t *testing.T) {
	cfg := testConfig(t)
	cfg.LogTypes = []string{LogTypeAudit}
	spec, pki, err := Prepare(cfg)
	if err != nil {
		t.Fatal(err)
	}
	got, err := ReadProcessSpec(cfg.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, spec) {
		t.Errorf("spec.json round trip:\n%+v\n%+v", got, spec)
	}
	for _, f := range []string{"spec.json", "admin.kubeconfig", "controller-manager.kubeconfig", "scheduler.kubeconfig", "audit-policy.yaml"} {
		fi, err := os.Stat(filepath.Join(cfg.Dir, f))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v", f, fi.Mode().Perm())
		}
	}
	if b, _ := os.ReadFile(cfg.KubeconfigPath(UserControllerManager)); !strings.Contains(string(b), "server: https://127.0.0.1:6443") {
		t.Errorf("controller-manager kubeconfig does not use the local endpoint:\n%s", b)
	}
	// Idempotent.
	if _, pki2, err := Prepare(cfg); err != nil || len(pki2.Generated) != 0 || string(pki2.CACertPEM) != string(pki.CACertPEM) {
		t.Errorf("second Prepare: %v %v", err, pki2.Generated)
	}
	bad := cfg
	bad.SecurePort = 0
	bad.LogTypes = []string{"bogus"}
	if _, _, err := Prepare(bad); err == nil || !strings.Contains(err.Error(), "SecurePort") || !strings.Contains(err.Error(), "bogus") {
		t.Errorf("invalid config: %v", err)
	}
}

func TestKubeconfig(t *testing.T) {
	cfg := testConfig(t)
	if _, err := Kubeconfig(cfg, UserAdmin); err == nil {
		t.Fatal("kubeconfig without PKI")
	}
	if _, err := EnsurePKI(cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := Kubeconfig(cfg, "nobody"); err == nil {
		t.Fatal("unknown user accepted")
	}
	b, err := Kubeconfig(cfg, UserAdmin)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Endpoint() != "https://127.0.0.1:6443" {
		t.Fatalf("endpoint %s", cfg.Endpoint())
	}
	if _, err := exec.LookPath("kubectl"); err != nil {
		t.Skip("no kubectl")
	}
	path := filepath.Join(t.TempDir(), "kc")
	os.WriteFile(path, b, 0o600)
	out, err := exec.Command("kubectl", "--kubeconfig", path, "config", "view", "--raw", "-o",
		"jsonpath={.current-context} {.clusters[0].cluster.server} {.users[0].name}").CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if got := string(out); got != "demo https://127.0.0.1:6443 demo" {
		t.Errorf("kubectl config view: %q", got)
	}
}

func TestAllocatePort(t *testing.T) {
	seen := map[int]bool{}
	for range 5 {
		p, err := AllocatePort()
		if err != nil || p <= 0 {
			t.Fatal(p, err)
		}
		seen[p] = true
	}
	if len(seen) < 2 {
		t.Error("AllocatePort keeps returning the same port")
	}
}

func TestValidate(t *testing.T) {
	cfg := testConfig(t)
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, mut := range map[string]func(*ClusterConfig){
		"ID":           func(c *ClusterConfig) { c.ID = "" },
		"Dir":          func(c *ClusterConfig) { c.Dir = "rel" },
		"EtcdServers":  func(c *ClusterConfig) { c.EtcdServers = nil },
		"BindAddress":  func(c *ClusterConfig) { c.BindAddress = "host" },
		"service CIDR": func(c *ClusterConfig) { c.ServiceCIDR = "10.0.0.0" },
	} {
		c := cfg
		mut(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if !slices.Contains(APIServerArgs(cfg), "--service-cluster-ip-range="+DefaultServiceCIDR) {
		t.Error("default service CIDR")
	}
}
