package controlplane

import (
	"bytes"
	"context"
	"encoding/json"
	"hash/fnv"
	"net/http"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/kplane/kplane/internal/supervise"
	"github.com/kplane/kplane/internal/versions"
)

// Executor runs cluster control planes: each ClusterConfig is one process
// (a replica), named by its ProcessKey. LocalExecutor runs each as a child
// process of kplane; another implementation (e.g. Deployments in a
// management Kubernetes cluster) can replace it.
type Executor = supervise.Executor[ClusterConfig]

// LocalExecutor runs each control plane as `kplane controlplane-run --dir
// PROCESS_DIR`, a child process kept running by a supervise.Supervisor.
type LocalExecutor struct {
	sup *supervise.Supervisor
	mu  sync.Mutex
	// prepared is when each process's files were last prepared.
	prepared map[string]time.Time
}

var _ Executor = (*LocalExecutor)(nil)

// NewLocalExecutor returns a LocalExecutor.
func NewLocalExecutor(opts supervise.Options) (*LocalExecutor, error) {
	sup, err := supervise.New(opts)
	if err != nil {
		return nil, err
	}
	return &LocalExecutor{sup: sup, prepared: map[string]time.Time{}}, nil
}

// controlPlaneRunCommand is kplane's hidden child subcommand.
const controlPlaneRunCommand = "controlplane-run"

// runArgs are the child's arguments for a process directory.
func runArgs(dir string) []string { return []string{controlPlaneRunCommand, "--dir", dir} }

// ProcessLogPath is DIR/logs/process.log: the child's own stdout/stderr
// (startup errors, panics), independent of the EKS log types.
func ProcessLogPath(dir string) string { return supervise.LogPath(dir) }

// Ensure prepares cfg's files (Prepare) and starts supervising the
// control plane's process. If it is already supervised and the spec changed
// (e.g. new log types), the process is restarted gracefully to apply it.
// Returns the error of the first start attempt, if any (the supervisor
// keeps retrying).
func (e *LocalExecutor) Ensure(ctx context.Context, cfg ClusterConfig) error {
	if e.runningPrepared(cfg) {
		return nil
	}
	spec, _, err := Prepare(cfg)
	if err != nil {
		return err
	}
	specJSON, _ := json.Marshal(spec)
	cfg = cfg.withDefaults()
	// Each minor other than kplane's own runs from its program beside kplane.
	exe, err := versions.Executable(e.sup.Executable(), cfg.KubernetesVersion)
	if err != nil {
		return err
	}
	now := time.Now()
	if err := e.sup.Ensure(ctx, supervise.Process{
		Key: cfg.ProcessKey(), Kind: "control plane", Dir: cfg.ProcessDir(), Executable: exe,
		Args: runArgs(cfg.ProcessDir()), Spec: specJSON, Ready: readyzProbe(cfg),
		User: processUser(cfg.ID),
	}); err != nil {
		return err
	}
	e.mu.Lock()
	e.prepared[cfg.ProcessKey()] = now
	e.mu.Unlock()
	return nil
}

// RecheckFilesEvery is how often Ensure runs Prepare again for a process
// already running its spec (it re-reads and verifies every certificate,
// renewing those near expiry). The reconciler calls Ensure every 100 ms
// while a cluster comes up and on every resync; checking the files each time
// took CPU from the starting apiserver for nothing.
var RecheckFilesEvery = time.Hour

// runningPrepared reports whether cfg's process is supervised with the very
// spec cfg gives and its files were prepared less than RecheckFilesEvery ago.
func (e *LocalExecutor) runningPrepared(cfg ClusterConfig) bool {
	if cfg.Validate() != nil {
		return false
	}
	cfg = cfg.withDefaults()
	p, ok := e.sup.Running(cfg.ProcessKey())
	if !ok {
		return false
	}
	e.mu.Lock()
	prepared := e.prepared[cfg.ProcessKey()]
	e.mu.Unlock()
	specJSON, _ := json.Marshal(BuildProcessSpec(cfg))
	return p.Dir == cfg.ProcessDir() && bytes.Equal(p.Spec, specJSON) && time.Since(prepared) < RecheckFilesEvery
}

// Stop stops the process called key (ID or ID/ZONE) and waits until it is
// gone (SIGTERM, SIGKILL after the grace period). Unknown keys are a no-op
// (KillStale stops a leftover process of a previous kplane run).
func (e *LocalExecutor) Stop(ctx context.Context, key string) error {
	err := e.sup.Stop(ctx, key)
	e.mu.Lock()
	delete(e.prepared, key)
	e.mu.Unlock()
	return err
}

// StopAll stops every control plane (kplane shutdown).
func (e *LocalExecutor) StopAll(ctx context.Context) error { return e.sup.StopAll(ctx) }

// State reports the supervisor's view of the process called key.
func (e *LocalExecutor) State(key string) supervise.State { return e.sup.State(key) }

// KillStale kills a control-plane process left over from a previous kplane
// run in the process directory dir and waits until it is gone.
func KillStale(dir string) (killed bool, err error) {
	return supervise.KillStale(dir, runArgs(dir))
}

// Control planes run as users of their own, one per cluster, taken from
// ControlPlaneUIDRange ids above ControlPlaneUIDBase (by a hash of the
// cluster id: two clusters may share one, which costs only a shared limit).
const (
	ControlPlaneUIDBase  = 0x7E000000 // 2113929216: far above the ids hosts give users and containers
	ControlPlaneUIDRange = 1 << 20
)

// processUser is the user cluster id's control plane runs as when kplane
// runs as root. The apiserver, controller-manager and scheduler need none of
// root's powers but reading and writing their files (the data directory may
// sit under a 0700 directory, hence CAP_DAC_OVERRIDE). And their inotify
// instances, one per watched certificate (11 per replica), count against
// that user's fs.inotify.max_user_instances (128 by default), not root's,
// which the nodes' kubelets need: with every control plane under root, the
// seventh one-node cluster's kubelet could no longer start.
func processUser(clusterID string) *supervise.User {
	if os.Geteuid() != 0 {
		return nil
	}
	h := fnv.New32a()
	h.Write([]byte(clusterID))
	id := ControlPlaneUIDBase + h.Sum32()%ControlPlaneUIDRange
	return &supervise.User{UID: id, GID: id, AmbientCaps: []uintptr{unix.CAP_DAC_OVERRIDE}}
}

// readyzProbe is the control plane's readiness: its apiserver's /readyz
// answers 200 to the admin client.
func readyzProbe(cfg ClusterConfig) func(context.Context) bool {
	client := sync.OnceValues(func() (*http.Client, error) { return AdminHTTPClient(cfg) })
	url := cfg.LocalEndpoint() + "/readyz"
	return func(ctx context.Context) bool {
		c, err := client()
		if err != nil {
			return false
		}
		code, _, err := getStatus(ctx, c, url)
		return err == nil && code == http.StatusOK
	}
}
