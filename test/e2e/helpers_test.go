//go:build e2e

package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/kplane/kplane/internal/nodenet"
)

const (
	region   = "us-west-2"
	roleArn  = "arn:aws:iam::000000000000:role/eks-cluster-role"
	pollStep = 500 * time.Millisecond
)

// kplane is one `kplane serve` process on its own data directory and port.
type kplane struct {
	t       *testing.T
	work    string // unique per test: every process we start names a path under it
	dataDir string
	home    string // HOME of every tool we run, so no ~/.aws or ~/.kube leaks in
	port    int
	url     string
	logPath string
	// args are further `kplane serve` flags (startKplaneWith).
	args []string
	// extraEnv is further environment of `kplane serve` (fault injectors).
	extraEnv []string
	// listenHost is the address kplane's API listens on (default 127.0.0.1).
	listenHost string

	cmd    *exec.Cmd
	exited chan struct{}
}

// startKplane starts `kplane serve` on a fresh data directory and a free port
// and waits until it is ready. Everything it started is killed in t.Cleanup.
func startKplane(t *testing.T) *kplane {
	t.Helper()
	return startKplaneWith(t)
}

// startKplaneWith is startKplane with further `kplane serve` flags.
func startKplaneWith(t *testing.T, args ...string) *kplane {
	t.Helper()
	return startKplaneEnv(t, nil, args...)
}

// startKplaneEnv is startKplaneWith with further environment for kplane.
func startKplaneEnv(t *testing.T, env []string, args ...string) *kplane {
	t.Helper()
	return startKplaneOn(t, "127.0.0.1", env, args...)
}

// startKplaneOn is startKplaneEnv with kplane's API listening on host.
func startKplaneOn(t *testing.T, host string, env []string, args ...string) *kplane {
	t.Helper()
	work := t.TempDir()
	k := &kplane{
		t:       t,
		work:    work,
		dataDir: filepath.Join(work, "data"),
		home:    filepath.Join(work, "home"),
		logPath: filepath.Join(work, "serve.log"),
		args:    args,

		extraEnv:   env,
		listenHost: host,
	}
	if err := os.MkdirAll(k.home, 0o700); err != nil {
		t.Fatal(err)
	}
	k.port = freePort(t)
	k.url = "http://" + net.JoinHostPort(host, strconv.Itoa(k.port))
	t.Cleanup(k.cleanup)
	k.start()
	return k
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// start runs `kplane serve` (again) on k's data dir and port and waits for readyz.
func (k *kplane) start() {
	k.t.Helper()
	logf, err := os.OpenFile(k.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		k.t.Fatal(err)
	}
	defer logf.Close()
	fmt.Fprintf(logf, "--- e2e: starting kplane serve at %s\n", time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(kplaneBin, append([]string{"serve", "--data-dir", k.dataDir, "--listen", net.JoinHostPort(k.listenHost, strconv.Itoa(k.port))}, k.args...)...)
	cmd.Env = append(k.env(), k.extraEnv...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// If this test binary dies without its cleanups (a -timeout panic), kplane
	// goes too, and its control planes with it (their own Pdeathsig).
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		k.t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	k.cmd, k.exited = cmd, exited

	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case <-exited:
			k.t.Fatalf("kplane serve exited before it was ready (%v); log:\n%s", cmd.ProcessState, k.logTail(30))
		default:
		}
		resp, err := client.Get(k.url + "/_kplane/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			k.t.Fatalf("kplane serve not ready within 60s (last: %v); log:\n%s", err, k.logTail(30))
		}
		time.Sleep(100 * time.Millisecond)
	}
	k.t.Logf("kplane serve pid %d ready at %s in %v", cmd.Process.Pid, k.url, time.Since(start).Round(time.Millisecond))
}

// sigkill kills `kplane serve` with SIGKILL and waits until it is gone.
func (k *kplane) sigkill() {
	k.t.Helper()
	if k.cmd == nil {
		return
	}
	_ = k.cmd.Process.Signal(syscall.SIGKILL)
	select {
	case <-k.exited:
	case <-time.After(30 * time.Second):
		k.t.Errorf("kplane serve pid %d did not exit within 30s of SIGKILL", k.cmd.Process.Pid)
	}
	k.cmd = nil
}

// cleanup kills what this test started: the serve process by its pid, then
// every process whose command line names this test's unique work directory
// (the control-plane children, `controlplane-run --dir WORK/data/clusters/ID`).
func (k *kplane) cleanup() {
	if k.t.Failed() {
		k.t.Logf("kplane serve log (tail):\n%s", k.logTail(40))
		dirs, _ := filepath.Glob(filepath.Join(k.dataDir, "clusters", "*", "logs", "process.log"))
		for _, f := range dirs {
			k.t.Logf("%s (tail):\n%s", f, tailFile(f, 15))
		}
	}
	k.sigkill()
	deadline := time.Now().Add(30 * time.Second)
	for {
		procs := processesMatching(k.work)
		if len(procs) == 0 {
			// A SIGKILLed kplane leaves its sockets under /run/kplane/HASH
			// (the egress socket's home when the data directory's path is too
			// long for a unix socket); the test's data directory goes, so do they.
			os.RemoveAll(filepath.Dir(nodenet.DirFor(k.dataDir)))
			os.Remove("/run/kplane")
			return
		}
		for pid := range procs {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		if time.Now().After(deadline) {
			k.t.Errorf("processes still alive after cleanup: %v", procs)
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (k *kplane) logTail(n int) string { return tailFile(k.logPath, n) }

func tailFile(name string, n int) string {
	b, err := os.ReadFile(name)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// env is the environment of every process the test runs for k: the test's own
// minus HOME, AWS_* and KUBECONFIG, plus k's HOME, credentials and endpoint.
func (k *kplane) env() []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if name == "HOME" || name == "KUBECONFIG" || strings.HasPrefix(name, "AWS_") ||
			name == "GOCACHE" || name == "GOMODCACHE" || name == "GOPATH" {
			continue
		}
		env = append(env, kv)
	}
	env = append(env, goEnv...)
	return append(env,
		"HOME="+k.home,
		"AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(k.dataDir, "credentials"),
		"AWS_CONFIG_FILE="+filepath.Join(k.home, ".aws", "config"),
		"AWS_ENDPOINT_URL="+k.url,
		"AWS_DEFAULT_REGION="+region,
		"AWS_PAGER=",
	)
}

// exec runs a command with k's environment and returns its stdout; the error
// carries stderr.
func (k *kplane) exec(timeout time.Duration, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = k.env()
	cmd.Dir = k.work
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		return stdout.String(), fmt.Errorf("%s %s: %w: %s", filepath.Base(name), strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// awsCLI runs the aws CLI against k.
func (k *kplane) awsCLI(args ...string) (string, error) {
	return k.exec(60*time.Second, "aws", append(args, "--output", "json")...)
}

func (k *kplane) mustAWS(args ...string) string {
	k.t.Helper()
	out, err := k.awsCLI(args...)
	if err != nil {
		k.t.Fatal(err)
	}
	return out
}

// kplaneCLI runs `kplane ARGS --data-dir DIR`.
func (k *kplane) kplaneCLI(args ...string) (string, error) {
	return k.exec(60*time.Second, kplaneBin, append(args, "--data-dir", k.dataDir)...)
}

// kubectl runs kubectl with kubeconfig kc.
func (k *kplane) kubectl(kc string, args ...string) (string, error) {
	return k.exec(60*time.Second, "kubectl", append([]string{"--kubeconfig", kc, "--request-timeout=10s"}, args...)...)
}

func (k *kplane) mustKubectl(kc string, args ...string) string {
	k.t.Helper()
	out, err := k.kubectl(kc, args...)
	if err != nil {
		k.t.Fatal(err)
	}
	return out
}

// cluster is the part of describe-cluster the tests look at.
type cluster struct {
	Name                 string `json:"name"`
	ID                   string `json:"id"`
	Status               string `json:"status"`
	Endpoint             string `json:"endpoint"`
	CertificateAuthority struct {
		Data string `json:"data"`
	} `json:"certificateAuthority"`
	Health struct {
		Issues []issue `json:"issues"`
	} `json:"health"`
	Identity struct {
		OIDC struct {
			Issuer string `json:"issuer"`
		} `json:"oidc"`
	} `json:"identity"`
	Logging struct {
		ClusterLogging []struct {
			Types   []string `json:"types"`
			Enabled bool     `json:"enabled"`
		} `json:"clusterLogging"`
	} `json:"logging"`
}

type issue struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// enabledLogTypes lists the log types describe-cluster reports enabled.
func (c *cluster) enabledLogTypes() []string {
	var out []string
	for _, l := range c.Logging.ClusterLogging {
		if l.Enabled {
			out = append(out, l.Types...)
		}
	}
	return out
}

func (k *kplane) subnetIDs() string {
	k.t.Helper()
	out, err := k.kplaneCLI("network", "--subnet-ids")
	if err != nil {
		k.t.Fatal(err)
	}
	ids := strings.TrimSpace(out)
	if len(strings.Split(ids, ",")) < 2 {
		k.t.Fatalf("kplane network --subnet-ids: want at least two subnets, got %q", ids)
	}
	return ids
}

// createCluster calls create-cluster and checks the answer says CREATING.
func (k *kplane) createCluster(name string) *cluster {
	k.t.Helper()
	out := k.mustAWS("eks", "create-cluster", "--name", name, "--role-arn", roleArn,
		"--resources-vpc-config", "subnetIds="+k.subnetIDs())
	var resp struct{ Cluster cluster }
	if err := json.Unmarshal([]byte(out), &resp); err != nil {
		k.t.Fatalf("create-cluster %s: %v: %s", name, err, out)
	}
	if resp.Cluster.Name != name || resp.Cluster.Status != "CREATING" || resp.Cluster.ID == "" {
		k.t.Fatalf("create-cluster %s answered name %q status %q id %q, want %s CREATING with an id", name, resp.Cluster.Name, resp.Cluster.Status, resp.Cluster.ID, name)
	}
	return &resp.Cluster
}

// errNotFound is describe's answer for a cluster that does not exist.
var errNotFound = errors.New("ResourceNotFoundException")

// describe runs describe-cluster; errNotFound when the cluster does not exist.
func (k *kplane) describe(name string) (*cluster, error) {
	out, err := k.awsCLI("eks", "describe-cluster", "--name", name)
	if err != nil {
		if strings.Contains(err.Error(), "ResourceNotFoundException") {
			return nil, fmt.Errorf("%w: %v", errNotFound, err)
		}
		return nil, err
	}
	var resp struct{ Cluster cluster }
	if err := json.Unmarshal([]byte(out), &resp); err != nil {
		return nil, fmt.Errorf("describe-cluster %s: %v: %s", name, err, out)
	}
	return &resp.Cluster, nil
}

func (k *kplane) mustDescribe(name string) *cluster {
	k.t.Helper()
	c, err := k.describe(name)
	if err != nil {
		k.t.Fatal(err)
	}
	return c
}

// waitActive polls describe-cluster every 0.5 s until the cluster is ACTIVE.
func (k *kplane) waitActive(name string, timeout time.Duration) (*cluster, time.Duration) {
	k.t.Helper()
	start := time.Now()
	deadline := start.Add(timeout)
	var last *cluster
	for {
		c, err := k.describe(name)
		if err != nil {
			k.t.Fatal(err)
		}
		last = c
		switch c.Status {
		case "ACTIVE":
			return c, time.Since(start)
		case "FAILED":
			k.t.Fatalf("cluster %s FAILED: %+v", name, c.Health.Issues)
		}
		if time.Now().After(deadline) {
			k.t.Fatalf("cluster %s not ACTIVE within %v: status %s, issues %+v", name, timeout, last.Status, last.Health.Issues)
		}
		time.Sleep(pollStep)
	}
}

// createActive creates a cluster and waits until it is ACTIVE.
func (k *kplane) createActive(name string) *cluster {
	k.t.Helper()
	k.createCluster(name)
	c, took := k.waitActive(name, 3*time.Minute)
	k.t.Logf("cluster %s (id %s) ACTIVE %v after create-cluster", name, c.ID, took.Round(time.Millisecond))
	return c
}

// waitGone waits until describe-cluster says ResourceNotFoundException for
// name and returns how long that took.
func (k *kplane) waitGone(name string) time.Duration {
	k.t.Helper()
	return eventually(k.t, 2*time.Minute, pollStep, name+" gone", func() error {
		c, err := k.describe(name)
		if errors.Is(err, errNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		return fmt.Errorf("still there, status %s", c.Status)
	})
}

// kubeconfig writes `kplane kubeconfig NAME` to a file and returns its path.
func (k *kplane) kubeconfig(name string) string {
	k.t.Helper()
	out, err := k.kplaneCLI("kubeconfig", name)
	if err != nil {
		k.t.Fatal(err)
	}
	path := filepath.Join(k.work, name+".kubeconfig")
	if err := os.WriteFile(path, []byte(out), 0o600); err != nil {
		k.t.Fatal(err)
	}
	return path
}

// eventually calls f every step until it returns nil or timeout passes, and
// returns how long that took.
func eventually(t *testing.T, timeout, step time.Duration, what string, f func() error) time.Duration {
	t.Helper()
	start := time.Now()
	deadline := start.Add(timeout)
	for {
		err := f()
		if err == nil {
			return time.Since(start)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v: %v", what, timeout, err)
		}
		time.Sleep(step)
	}
}

func (k *kplane) clusterDir(id string) string { return filepath.Join(k.dataDir, "clusters", id) }

// controlPlanePID is the pid of the cluster's first replica (0 if none runs).
func (k *kplane) controlPlanePID(id string) int {
	pids := k.replicaPIDs(id)
	if len(pids) == 0 {
		return 0
	}
	return pids[0]
}

// replicaPIDs reads DIR/clusters/ID/replicas/ZONE/pid for each replica, in
// zone order (0 for one not running).
func (k *kplane) replicaPIDs(id string) []int {
	dirs, _ := filepath.Glob(filepath.Join(k.clusterDir(id), "replicas", "*"))
	var pids []int
	for _, d := range dirs {
		b, _ := os.ReadFile(filepath.Join(d, "pid"))
		pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
		pids = append(pids, pid)
	}
	return pids
}

// processesMatching returns the live processes (not zombies) other than this
// one whose command line contains s, by pid.
func processesMatching(s string) map[int]string {
	out := map[int]string{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || len(b) == 0 {
			continue
		}
		cmdline := strings.TrimSpace(strings.ReplaceAll(string(b), "\x00", " "))
		if strings.Contains(cmdline, s) && !isZombie(pid) {
			out[pid] = cmdline
		}
	}
	return out
}

func isZombie(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true // gone
	}
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 && i+2 < len(s) {
		return s[i+2] == 'Z' || s[i+2] == 'X'
	}
	return false
}

// etcd opens kplane's embedded etcd as its root user (the client certificate
// kplane keeps in DIR/pki/etcd). The endpoint is read from DIR/etcd-endpoint
// now: its port may change when kplane restarts.
func (k *kplane) etcd() *clientv3.Client {
	dir := filepath.Join(k.dataDir, "pki", "etcd")
	return k.etcdAs(filepath.Join(dir, "root.crt"), filepath.Join(dir, "root.key"))
}

// etcdAs opens the embedded etcd presenting the client pair certFile/keyFile
// (over https, trusting DIR/pki/etcd/ca.crt; plain http has no client pair).
func (k *kplane) etcdAs(certFile, keyFile string) *clientv3.Client {
	k.t.Helper()
	b, err := os.ReadFile(filepath.Join(k.dataDir, "etcd-endpoint"))
	if err != nil {
		k.t.Fatal(err)
	}
	endpoint := strings.TrimSpace(string(b))
	cfg := clientv3.Config{Endpoints: []string{endpoint}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()}
	if strings.HasPrefix(endpoint, "https://") {
		ca, err := os.ReadFile(filepath.Join(k.dataDir, "pki", "etcd", "ca.crt"))
		if err != nil {
			k.t.Fatal(err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(ca) {
			k.t.Fatal("no certificate in the etcd CA file")
		}
		pair, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			k.t.Fatal(err)
		}
		cfg.TLS = &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{pair}}
	}
	cli, err := clientv3.New(cfg)
	if err != nil {
		k.t.Fatal(err)
	}
	k.t.Cleanup(func() { cli.Close() })
	return cli
}

// countKeys counts the etcd keys under prefix.
func countKeys(t *testing.T, cli *clientv3.Client, prefix string) int64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := cli.Get(ctx, prefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		t.Fatalf("etcd count %s: %v", prefix, err)
	}
	return resp.Count
}

// sdk is an EKS client (Go SDK) on k's root credentials, for polling faster
// than the aws CLI can (it takes about a second a call).
func (k *kplane) sdk() *eks.Client {
	k.t.Helper()
	f, err := os.Open(filepath.Join(k.dataDir, "credentials"))
	if err != nil {
		k.t.Fatal(err)
	}
	defer f.Close()
	vals := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if key, v, ok := strings.Cut(sc.Text(), "="); ok {
			vals[strings.TrimSpace(key)] = strings.TrimSpace(v)
		}
	}
	id, secret := vals["aws_access_key_id"], vals["aws_secret_access_key"]
	if id == "" || secret == "" {
		k.t.Fatalf("no root credentials in %s", f.Name())
	}
	return eks.New(eks.Options{
		Region:           region,
		BaseEndpoint:     aws.String(k.url),
		Credentials:      credentials.NewStaticCredentialsProvider(id, secret, vals["aws_session_token"]),
		RetryMaxAttempts: 1,
	})
}

// kubeCreds are what a kubeconfig holds for its current context.
type kubeCreds struct {
	Server          string
	CAPEM           []byte
	CertPEM, KeyPEM []byte
	ClusterName     string
}

// readKubeconfig reads the current context's server, CA and client pair with
// kubectl config view.
func (k *kplane) readKubeconfig(kc string) kubeCreds {
	k.t.Helper()
	get := func(path string) string {
		out, err := k.exec(30*time.Second, "kubectl", "config", "view", "--kubeconfig", kc, "--raw", "--minify", "-o", "jsonpath={"+path+"}")
		if err != nil {
			k.t.Fatal(err)
		}
		return strings.TrimSpace(out)
	}
	dec := func(s string) []byte {
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil || len(b) == 0 {
			k.t.Fatalf("kubeconfig %s: bad base64 %q: %v", kc, s, err)
		}
		return b
	}
	return kubeCreds{
		Server:      get(".clusters[0].cluster.server"),
		ClusterName: get(".clusters[0].name"),
		CAPEM:       dec(get(".clusters[0].cluster.certificate-authority-data")),
		CertPEM:     dec(get(".users[0].user.client-certificate-data")),
		KeyPEM:      dec(get(".users[0].user.client-key-data")),
	}
}

// httpsClient trusts caPEM only and presents the client pair if given.
func httpsClient(t *testing.T, caPEM, certPEM, keyPEM []byte, timeout time.Duration) *http.Client {
	t.Helper()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatalf("no certificate in CA PEM %q", caPEM)
	}
	cfg := &tls.Config{RootCAs: pool}
	if certPEM != nil {
		pair, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return &http.Client{Timeout: timeout, Transport: &http.Transport{TLSClientConfig: cfg, DisableKeepAlives: true}}
}

// hostPort returns host and host:port of an https endpoint.
func hostPort(t *testing.T, endpoint string) (host, addr string) {
	t.Helper()
	u, err := parseHTTPS(endpoint)
	if err != nil {
		t.Fatal(err)
	}
	return u.Hostname(), u.Host
}

// parseHTTPS parses an endpoint that must be https://host:port.
func parseHTTPS(endpoint string) (*url.URL, error) {
	u, err := url.Parse(endpoint)
	if err != nil {
		return nil, fmt.Errorf("endpoint %q: %v", endpoint, err)
	}
	if u.Scheme != "https" || u.Hostname() == "" || u.Port() == "" || (u.Path != "" && u.Path != "/") {
		return nil, fmt.Errorf("endpoint %q is not https://HOST:PORT", endpoint)
	}
	return u, nil
}
