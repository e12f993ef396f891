package components

import (
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kplane/kplane/internal/controlplane"
)

// The flags internal/controlplane generates must parse into the components'
// options (a typo there would otherwise only show when a cluster starts).
func TestGeneratedFlagsParse(t *testing.T) {
	cfg := controlplane.ClusterConfig{
		Name: "demo", ID: "id", Dir: t.TempDir(), SecurePort: 6443,
		EtcdServers: []string{"http://127.0.0.1:2379"},
		EtcdCAFile:  "/ca", EtcdCertFile: "/crt", EtcdKeyFile: "/key",
		LogTypes: []string{controlplane.LogTypeAudit},
	}
	api, err := newAPIServer(controlplane.APIServerArgs(cfg))
	if err != nil {
		t.Fatalf("kube-apiserver: %v", err)
	}
	if got := api.opts.Etcd.StorageConfig.Prefix; got != "/kplane-clusters/id" {
		t.Errorf("etcd prefix %q", got)
	}
	if api.opts.Authentication.Anonymous.Allow {
		t.Error("anonymous auth on")
	}
	cm, err := newControllerManager(controlplane.ControllerManagerArgs(cfg))
	if err != nil {
		t.Fatalf("kube-controller-manager: %v", err)
	}
	if cm.opts.SAController.ServiceAccountKeyFile != filepath.Join(cfg.Dir, "pki", "sa.key") {
		t.Error("service-account-private-key-file not parsed")
	}
	if _, err := newScheduler(controlplane.SchedulerArgs(cfg)); err != nil {
		t.Fatalf("kube-scheduler: %v", err)
	}
	if _, err := newAPIServer([]string{"--no-such-flag=1"}); err == nil {
		t.Error("unknown flag accepted")
	}
	if _, err := newScheduler([]string{"positional"}); err == nil {
		t.Error("positional argument accepted")
	}
}

func TestVersionFromBuildInfo(t *testing.T) {
	if kubernetesModuleVersion() == "" {
		t.Skip("test binaries carry no dependency build info") // the kplane binary does
	}
	v := KubernetesVersion()
	if !strings.HasPrefix(v, "v1.") {
		t.Errorf("KubernetesVersion() = %q, want the k8s.io/kubernetes module version", v)
	}
}

func TestLogFileRotates(t *testing.T) {
	old := MaxLogFileBytes
	MaxLogFileBytes = 100
	defer func() { MaxLogFileBytes = old }()
	path := filepath.Join(t.TempDir(), "x.log")
	l, err := openLogFile(path)
	if err != nil {
		t.Fatal(err)
	}
	line := []byte(strings.Repeat("a", 39) + "\n")
	for range 5 {
		if _, err := l.Write(line); err != nil {
			t.Fatal(err)
		}
	}
	l.Close()
	if _, err := l.Write(line); err != nil {
		t.Errorf("write after close: %v", err)
	}
	cur, _ := os.ReadFile(path)
	prev, _ := os.ReadFile(path + ".1")
	if len(cur) != 40 || len(prev) != 80 {
		t.Errorf("sizes: current %d, rotated %d", len(cur), len(prev))
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", fi.Mode().Perm())
	}
}

// ControllerAccounts names the controller-manager's own accounts, among them
// the one whose controller makes every namespace's default ServiceAccount,
// and none of the controllers it does not run. (That it matches what the
// controller-manager really looks up is checked against a running control
// plane's audit log in internal/controlplane's integration test.)
func TestControllerAccounts(t *testing.T) {
	names := ControllerAccounts()
	if len(names) < 30 {
		t.Fatalf("%d accounts: %v", len(names), names)
	}
	for _, want := range []string{"service-account-controller", "replicaset-controller", "generic-garbage-collector"} {
		if !slices.Contains(names, want) {
			t.Errorf("%s missing from %v", want, names)
		}
	}
	for _, n := range notRunByControllerManager {
		if slices.Contains(names, n) {
			t.Errorf("%s is not run by kube-controller-manager but listed", n)
		}
	}
	if !slices.IsSorted(names) || len(slices.Compact(slices.Clone(names))) != len(names) {
		t.Errorf("not sorted or duplicates: %v", names)
	}
}

// Error and fatal messages of a component's log also reach the process's
// stderr (process.log), up to a cap; other messages do not.
func TestErrorsReachProcessLog(t *testing.T) {
	var own, errs strings.Builder
	capped := &cappedWriter{w: &errs, left: 60}
	w := errorTee{w: &own, errs: capped}
	for _, m := range []string{
		"I1128 00:00:00.000000 1 x.go:1] started\n",
		"E1128 00:00:00.000000 1 x.go:2] leaderelection lost\n",
		"W1128 00:00:00.000000 1 x.go:3] slow\n",
		"F1128 00:00:00.000000 1 x.go:4] cannot go on\n",
		"E1128 00:00:00.000000 1 x.go:5] over the cap\n",
	} {
		if _, err := w.Write([]byte(m)); err != nil {
			t.Fatal(err)
		}
	}
	if strings.Count(own.String(), "\n") != 5 {
		t.Errorf("component log lost messages:\n%s", own.String())
	}
	got := errs.String()
	if !strings.Contains(got, "leaderelection lost") || strings.Contains(got, "started") || strings.Contains(got, "slow") {
		t.Errorf("process log got:\n%s", got)
	}
	if strings.Contains(got, "cannot go on") || strings.Contains(got, "over the cap") || strings.Count(got, "go only to the component logs") != 1 {
		t.Errorf("the cap (60 bytes) was not kept, or not said once:\n%s", got)
	}
}

// A stopping replica ends once its apiserver closed its listener (its
// requests then drained), AfterListenerClosed later; not while it listens.
func TestUntilStoppedListening(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	done := make(chan struct{})
	drained := untilStoppedListening(ln.Addr().String(), done)
	select {
	case <-drained:
		t.Fatal("drained while the apiserver still listens")
	case <-time.After(300 * time.Millisecond):
	}
	closed := time.Now()
	ln.Close()
	select {
	case <-drained:
		if took := time.Since(closed); took < AfterListenerClosed {
			t.Errorf("drained %v after the listener closed, want at least %v", took, AfterListenerClosed)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("not drained 5 s after the listener closed")
	}

	// The apiserver returned first: the wait ends with it.
	ln2, _ := net.Listen("tcp", "127.0.0.1:0")
	defer ln2.Close()
	done2 := make(chan struct{})
	drained2 := untilStoppedListening(ln2.Addr().String(), done2)
	close(done2)
	select {
	case <-drained2:
	case <-time.After(2 * time.Second):
		t.Fatal("not ended with the apiserver")
	}
}
