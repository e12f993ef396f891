package controlplane

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kplane/kplane/internal/supervise"
)

// newTestCluster returns a config for a cluster on etcdURL with a fresh port.
func newTestCluster(t *testing.T, etcdURL, id string) ClusterConfig {
	t.Helper()
	port, err := AllocatePort()
	if err != nil {
		t.Fatal(err)
	}
	return ClusterConfig{
		Name:        "name-" + id,
		ID:          id,
		Dir:         filepath.Join(t.TempDir(), id),
		SecurePort:  port,
		EtcdServers: []string{etcdURL},
		EtcdPrefix:  "/kplane-clusters/" + id,
		LogTypes:    []string{LogTypeAPI, LogTypeAudit, LogTypeControllerManager, LogTypeScheduler},
	}
}

func newTestExecutor(t *testing.T) *LocalExecutor {
	t.Helper()
	e, err := NewLocalExecutor(supervise.Options{
		Executable:      kplaneBinary(t),
		StopGracePeriod: 10 * time.Second,
		InitialBackoff:  100 * time.Millisecond,
		Logf:            t.Logf,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := e.StopAll(ctx); err != nil {
			t.Errorf("StopAll: %v", err)
		}
	})
	return e
}

// dumpLogs prints the tail of a cluster's logs when the test failed, and
// copies DIR/logs to $KPLANE_TEST_LOGDIR/<id> if that is set (CI artifacts).
func dumpLogs(t *testing.T, cfg ClusterConfig) {
	t.Cleanup(func() {
		if d := os.Getenv("KPLANE_TEST_LOGDIR"); d != "" {
			if err := os.CopyFS(filepath.Join(d, cfg.ID), os.DirFS(filepath.Join(cfg.Dir, "logs"))); err != nil {
				t.Logf("copy logs: %v", err)
			}
		}
		if !t.Failed() {
			return
		}
		for _, f := range []string{ProcessLogPath(cfg.Dir), cfg.LogFile(LogTypeAPI), cfg.LogFile(LogTypeControllerManager)} {
			b, _ := os.ReadFile(f)
			if len(b) > 6000 {
				b = b[len(b)-6000:]
			}
			t.Logf("==== %s (tail)\n%s", f, b)
		}
	})
}

// api sends one request to the cluster's apiserver as the admin user
// (system:masters) and returns the status and body: the test needs nothing
// but Go, not kubectl.
func api(t *testing.T, cfg ClusterConfig, method, path, body string) (int, string, error) {
	t.Helper()
	c, err := AdminHTTPClient(cfg)
	if err != nil {
		return 0, "", err
	}
	defer c.CloseIdleConnections()
	req, err := http.NewRequest(method, cfg.LocalEndpoint()+path, strings.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// mustCreate POSTs an object and fails the test unless it is created.
func mustCreate(t *testing.T, cfg ClusterConfig, path, object string) {
	t.Helper()
	code, body, err := api(t, cfg, http.MethodPost, path, object)
	if err != nil || code != http.StatusCreated {
		t.Fatalf("POST %s: %d %v: %s", path, code, err, body)
	}
}

// listNames lists path and returns the items' names.
func listNames(t *testing.T, cfg ClusterConfig, path string) ([]string, error) {
	t.Helper()
	code, body, err := api(t, cfg, http.MethodGet, path, "")
	if err != nil || code != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %d %v: %s", path, code, err, body)
	}
	var list struct {
		Items []struct {
			Metadata struct{ Name string } `json:"metadata"`
		} `json:"items"`
	}
	if err := json.Unmarshal([]byte(body), &list); err != nil {
		return nil, err
	}
	var names []string
	for _, it := range list.Items {
		names = append(names, it.Metadata.Name)
	}
	return names, nil
}

func eventually(t *testing.T, timeout time.Duration, what string, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s: %v", what, timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func vmRSS(pid int) (int, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			return strconv.Atoi(f[1])
		}
	}
	return 0, fmt.Errorf("no VmRSS")
}

func portListening(port int) bool {
	c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// TestControlPlaneLifecycle runs a real control plane through the local
// executor: ready, bootstrapped, serves the API, the controller-manager
// works, the supervisor restarts a killed child without data loss, and Stop
// leaves nothing behind.
func TestControlPlaneLifecycle(t *testing.T) {
	etcdURL := startEtcd(t)
	e := newTestExecutor(t)
	cfg := newTestCluster(t, etcdURL, "c1")
	dumpLogs(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	start := time.Now()
	if err := e.Ensure(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	if err := WaitReady(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	readyAfter := time.Since(start)
	if err := WaitBootstrapped(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	bootstrappedAfter := time.Since(start)
	checkControllerAccounts(t, cfg)
	checkNodeRoleMapping(t, cfg)
	st := e.State(cfg.ID)
	rss, _ := vmRSS(st.PID)
	t.Logf("MEASURE Ensure->readyz %s, Ensure->bootstrapped %s, RSS at bootstrapped %d MiB", readyAfter.Round(time.Millisecond), bootstrappedAfter.Round(time.Millisecond), rss/1024)

	// Every thread of the child runs at supervise.ChildNice (kplane's own stay as they are).
	threads, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/stat", st.PID))
	if len(threads) < 2 {
		t.Fatalf("child %d: threads %v", st.PID, threads)
	}
	for _, f := range threads {
		if n := niceOf(t, f); n != supervise.ChildNice {
			t.Errorf("%s: nice %d, want %d", f, n, supervise.ChildNice)
		}
	}
	// Only the forking thread of this process has it (it may be the main one).
	own, _ := filepath.Glob("/proc/self/task/*/stat")
	atChildNice := 0
	for _, f := range own {
		if niceOf(t, f) == supervise.ChildNice {
			atChildNice++
		}
	}
	if atChildNice > 1 {
		t.Errorf("%d of this process's %d threads run at nice %d, want only the forking one", atChildNice, len(own), supervise.ChildNice)
	}

	// Ensure again is a no-op: same process.
	if err := e.Ensure(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	if got := e.State(cfg.ID).PID; got != st.PID {
		t.Fatalf("Ensure restarted the child: pid %d -> %d", st.PID, got)
	}
	// ... and does not go over the files again (Prepare) for a process that
	// runs its spec, until RecheckFilesEvery has passed.
	kubeconfigFile := cfg.KubeconfigPath(UserScheduler)
	if err := os.Remove(kubeconfigFile); err != nil {
		t.Fatal(err)
	}
	if err := e.Ensure(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(kubeconfigFile); err == nil {
		t.Error("Ensure ran Prepare again for a process running its spec")
	}
	defer func(d time.Duration) { RecheckFilesEvery = d }(RecheckFilesEvery)
	RecheckFilesEvery = 0
	if err := e.Ensure(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(kubeconfigFile); err != nil {
		t.Errorf("Ensure after RecheckFilesEvery did not prepare the files again: %v", err)
	}
	if got := e.State(cfg.ID).PID; got != st.PID {
		t.Fatalf("preparing the files again restarted the child: pid %d -> %d", st.PID, got)
	}

	mustCreate(t, cfg, "/api/v1/namespaces", `{"metadata":{"name":"demo"}}`)
	mustCreate(t, cfg, "/api/v1/namespaces/demo/configmaps", `{"metadata":{"name":"cm1"},"data":{"k":"v1"}}`)
	mustCreate(t, cfg, "/apis/apps/v1/namespaces/demo/deployments", `{"metadata":{"name":"web"},"spec":{"replicas":2,
		"selector":{"matchLabels":{"app":"web"}},
		"template":{"metadata":{"labels":{"app":"web"}},"spec":{"containers":[{"name":"pause","image":"registry.k8s.io/pause:3.10"}]}}}}`)
	eventually(t, 60*time.Second, "ReplicaSet created by the controller-manager", func() error {
		names, err := listNames(t, cfg, "/apis/apps/v1/namespaces/demo/replicasets?labelSelector=app%3Dweb")
		if err != nil || len(names) != 1 || !strings.HasPrefix(names[0], "web-") {
			return fmt.Errorf("%v: %v", err, names)
		}
		return nil
	})
	// and its pods (not scheduled: there are no nodes)
	eventually(t, 30*time.Second, "pods created by the ReplicaSet", func() error {
		names, err := listNames(t, cfg, "/api/v1/namespaces/demo/pods?labelSelector=app%3Dweb")
		if err != nil || len(names) != 2 {
			return fmt.Errorf("%v: %v", err, names)
		}
		return nil
	})

	// Each component writes under its upstream name, as managedFields show
	// on any cluster: the controller-manager the deployment's status and the
	// pods, the scheduler the pods' PodScheduled condition (no nodes),
	// kube-apiserver the default namespace.
	eventually(t, 30*time.Second, "field managers of the components", func() error {
		managers := map[string]bool{}
		for _, path := range []string{"/apis/apps/v1/namespaces/demo/deployments/web",
			"/api/v1/namespaces/demo/pods?labelSelector=app%3Dweb", "/api/v1/namespaces/default"} {
			code, body, err := api(t, cfg, http.MethodGet, path, "")
			if err != nil || code != http.StatusOK {
				return fmt.Errorf("GET %s: %d %v", path, code, err)
			}
			for _, m := range regexp.MustCompile(`"manager":"([^"]*)"`).FindAllStringSubmatch(body, -1) {
				managers[m[1]] = true
			}
		}
		for _, want := range []string{"kube-controller-manager", "kube-scheduler", "kube-apiserver"} {
			if !managers[want] {
				return fmt.Errorf("no field manager %s among %v", want, managers)
			}
		}
		if own := filepath.Base(kplaneBinary(t)); managers[own] {
			return fmt.Errorf("field manager %s, the binary's name, among %v", own, managers)
		}
		return nil
	})

	// Logs of the enabled types are written.
	for _, lt := range []string{LogTypeAPI, LogTypeAudit, LogTypeControllerManager, LogTypeScheduler} {
		if fi, err := os.Stat(cfg.LogFile(lt)); err != nil || fi.Size() == 0 {
			t.Errorf("log %s: %v (empty?)", lt, err)
		}
	}
	if b, _ := os.ReadFile(cfg.LogFile(LogTypeAudit)); !strings.Contains(string(b), `"namespaces"`) {
		t.Errorf("audit log has no namespace events")
	}

	// Kill the child: the supervisor restarts it, data survives.
	oldPID := e.State(cfg.ID).PID
	if err := syscall.Kill(oldPID, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killedAt := time.Now()
	eventually(t, 30*time.Second, "restarted child", func() error {
		st := e.State(cfg.ID)
		if st.PID == 0 || st.PID == oldPID {
			return fmt.Errorf("state %+v", st)
		}
		return nil
	})
	if err := WaitReady(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	t.Logf("MEASURE SIGKILL->ready again %s", time.Since(killedAt).Round(time.Millisecond))
	st = e.State(cfg.ID)
	if st.Restarts < 1 || !strings.Contains(st.LastExitReason, "killed") {
		t.Errorf("state after kill: %+v", st)
	}
	if code, body, err := api(t, cfg, http.MethodGet, "/api/v1/namespaces/demo/configmaps/cm1", ""); err != nil || code != http.StatusOK || !strings.Contains(body, `"k":"v1"`) {
		t.Errorf("configmap after restart: %d %v: %s", code, err, body)
	}
	eventually(t, 10*time.Second, "state Running", func() error {
		if st := e.State(cfg.ID); st.Phase != supervise.PhaseRunning || !st.Ready || st.LastReadyAt.Before(killedAt) {
			return fmt.Errorf("state %+v", st)
		}
		return nil
	})

	// A changed spec (log types) restarts the child gracefully to apply it.
	before := e.State(cfg.ID)
	cfg.LogTypes = []string{LogTypeAPI}
	if err := e.Ensure(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "restart for a new spec", func() error {
		st := e.State(cfg.ID)
		if st.PID == 0 || st.PID == before.PID || st.Restarts != before.Restarts+1 {
			return fmt.Errorf("state %+v", st)
		}
		return nil
	})
	if st := e.State(cfg.ID); st.LastExitReason != "restarted to apply a new spec (exited)" {
		t.Errorf("exit reason after spec change: %q (want a clean exit)", st.LastExitReason)
	}
	if err := WaitReady(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	if spec, _ := ReadProcessSpec(cfg.Dir); spec.SchedulerLogFile != "" {
		t.Errorf("spec.json not updated: %+v", spec)
	}

	// Stop: no process, no port, no pid file.
	pid := e.State(cfg.ID).PID
	stopStart := time.Now()
	if err := e.Stop(ctx, cfg.ID); err != nil {
		t.Fatal(err)
	}
	t.Logf("MEASURE Stop took %s", time.Since(stopStart).Round(time.Millisecond))
	if supervise.Alive(pid) {
		t.Errorf("pid %d still alive after Stop", pid)
	}
	if portListening(cfg.SecurePort) {
		t.Errorf("port %d still listening after Stop", cfg.SecurePort)
	}
	if _, err := os.Stat(filepath.Join(cfg.Dir, "pid")); !os.IsNotExist(err) {
		t.Errorf("pid file left: %v", err)
	}
	if st := e.State(cfg.ID); st.Phase != supervise.PhaseStopped || st.PID != 0 {
		t.Errorf("state after stop: %+v", st)
	}
	if b, _ := os.ReadFile(ProcessLogPath(cfg.Dir)); bytes.Contains(b, []byte("panic")) {
		t.Errorf("process log has a panic:\n%s", b)
	}
}

// TestClusterIsolation: two clusters on one etcd under different prefixes
// do not trust each other's certificates nor see each other's objects.
func TestClusterIsolation(t *testing.T) {
	etcdURL := startEtcd(t)
	e := newTestExecutor(t)
	a := newTestCluster(t, etcdURL, "iso-a")
	b := newTestCluster(t, etcdURL, "iso-b")
	for _, c := range []*ClusterConfig{&a, &b} {
		c.APIServerOnly = true // isolation is the apiserver's business
		c.LogTypes = []string{LogTypeAPI}
		dumpLogs(t, *c)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	for _, c := range []ClusterConfig{a, b} {
		if err := e.Ensure(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []ClusterConfig{a, b} {
		if err := WaitReady(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	pa, _ := ReadCACertPEM(a)
	pb, _ := ReadCACertPEM(b)
	if bytes.Equal(pa, pb) {
		t.Fatal("clusters share a CA")
	}

	clientA, err := AdminHTTPClient(a)
	if err != nil {
		t.Fatal(err)
	}
	clientB, err := AdminHTTPClient(b)
	if err != nil {
		t.Fatal(err)
	}
	do := func(c *http.Client, method, url, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequestWithContext(ctx, method, url, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, url, err)
		}
		defer resp.Body.Close()
		rb, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(rb)
	}

	// A's admin certificate against B's apiserver (trusting B's CA): 401.
	crossClient, err := tlsClient(b.CertFile(CertCA), a.CertFile(CertAdmin), a.KeyFile(CertAdmin), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if code, body := do(crossClient, "GET", b.LocalEndpoint()+"/api/v1/namespaces", ""); code != http.StatusUnauthorized {
		t.Fatalf("A's admin cert on B: HTTP %d, want 401: %s", code, body)
	}

	// The embedded components report a real version (not v0.0.0-master),
	// without -ldflags.
	if code, body := do(clientA, "GET", a.LocalEndpoint()+"/version", ""); code != http.StatusOK || !strings.Contains(body, `"gitVersion": "v1.`) {
		t.Errorf("/version: HTTP %d: %s", code, body)
	}

	// A namespace created in A is not visible in B.
	if code, body := do(clientA, "POST", a.LocalEndpoint()+"/api/v1/namespaces", `{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"only-in-a"}}`); code != http.StatusCreated {
		t.Fatalf("create namespace in A: HTTP %d: %s", code, body)
	}
	if code, _ := do(clientA, "GET", a.LocalEndpoint()+"/api/v1/namespaces/only-in-a", ""); code != http.StatusOK {
		t.Fatalf("namespace in A: HTTP %d", code)
	}
	if code, _ := do(clientB, "GET", b.LocalEndpoint()+"/api/v1/namespaces/only-in-a", ""); code != http.StatusNotFound {
		t.Fatalf("A's namespace in B: HTTP %d, want 404", code)
	}
	if _, body := do(clientB, "GET", b.LocalEndpoint()+"/api/v1/namespaces", ""); strings.Contains(body, "only-in-a") {
		t.Fatalf("B lists A's namespace")
	}
}

// TestKillStale: a leftover control-plane process of a previous kplane run
// (pid file + matching command line) is killed; other processes are not.
func TestKillStale(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "fake")
	// The shell keeps its arguments on its command line (an exec would
	// replace them); its sleep child goes with the process group at cleanup,
	// so nothing outlives the test.
	if err := os.WriteFile(script, []byte("#!/bin/sh\nsleep 600\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	start := func(args ...string) *exec.Cmd {
		cmd := exec.Command(script, args...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); cmd.Wait() })
		return cmd
	}
	writePid := func(pid int) {
		if err := os.WriteFile(filepath.Join(dir, "pid"), []byte(strconv.Itoa(pid)+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// Not ours (other dir): left alone.
	other := start("controlplane-run", "--dir", dir+"-other")
	writePid(other.Process.Pid)
	if killed, err := KillStale(dir); killed || err != nil {
		t.Fatalf("killed another dir's process: %v %v", killed, err)
	}
	stale := start("controlplane-run", "--dir", dir)
	writePid(stale.Process.Pid)
	waitErr := make(chan error, 1)
	go func() { waitErr <- stale.Wait() }()
	if killed, err := KillStale(dir); !killed || err != nil {
		t.Fatalf("stale process not killed: %v %v", killed, err)
	}
	select {
	case <-waitErr:
	case <-time.After(5 * time.Second):
		t.Fatal("stale process still running")
	}
	if !supervise.Alive(other.Process.Pid) {
		t.Fatal("other process was killed")
	}
}

// niceOf reads the nice value (field 19) from a /proc stat file.
func niceOf(t *testing.T, statFile string) int {
	t.Helper()
	b, err := os.ReadFile(statFile)
	if err != nil {
		t.Fatal(err)
	}
	fields := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	n, err := strconv.Atoi(fields[16]) // fields after "(comm)" start at field 3
	if err != nil {
		t.Fatal(err)
	}
	return n
}
