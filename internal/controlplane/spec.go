package controlplane

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/kplane/kplane/internal/fileutil"
)

// ProcessSpec is what one cluster's control-plane process
// (`kplane controlplane-run --dir DIR`) runs. The parent writes it as
// DIR/spec.json; internal/components.Run executes it. Plain JSON, no k8s types.
type ProcessSpec struct {
	ClusterID string `json:"clusterID"`
	// KubernetesVersion is the minor the process must run ("1.36"); the
	// program of that minor runs it, and refuses a spec of another minor.
	// A change of minor is a change of spec: the replica restarts on the
	// new minor's program.
	KubernetesVersion string `json:"kubernetesVersion,omitempty"`

	// Component command lines (flags only, no program name). Empty
	// ControllerManagerArgs / SchedulerArgs: that component is not run
	// (e.g. apiserver-only for a benchmark floor).
	APIServerArgs         []string `json:"apiServerArgs"`
	ControllerManagerArgs []string `json:"controllerManagerArgs,omitempty"`
	SchedulerArgs         []string `json:"schedulerArgs,omitempty"`

	// ReadyzURL is polled (TLS, client cert) before the controller-manager
	// and scheduler are started.
	ReadyzURL      string `json:"readyzURL"`
	CAFile         string `json:"caFile"`
	ClientCertFile string `json:"clientCertFile"`
	ClientKeyFile  string `json:"clientKeyFile"`
	// AdminCertFile / AdminKeyFile: a system:masters client certificate,
	// with which the child makes the controller-manager's ServiceAccounts
	// while kube-apiserver still bootstraps RBAC (components.Run); ""
	// leaves that to the controller-manager.
	AdminCertFile string `json:"adminCertFile,omitempty"`
	AdminKeyFile  string `json:"adminKeyFile,omitempty"`

	// Log files per component; "" discards that component's log.
	// The apiserver log also receives the process-global klog output.
	APIServerLogFile         string `json:"apiServerLogFile,omitempty"`
	ControllerManagerLogFile string `json:"controllerManagerLogFile,omitempty"`
	SchedulerLogFile         string `json:"schedulerLogFile,omitempty"`

	// GOGC (debug.SetGCPercent) once all components are up; 0 = unchanged.
	// A GOGC (GOMEMLIMIT) environment variable in the child overrides
	// GOGC and StartupGOGC (MemoryLimitBytes).
	GOGC int `json:"gogc,omitempty"`
	// StartupGOGC is used until then (less GC work while starting); 0 = GOGC.
	StartupGOGC int `json:"startupGOGC,omitempty"`
	// MemoryLimitBytes is the soft limit (debug.SetMemoryLimit); 0 = none.
	MemoryLimitBytes int64 `json:"memoryLimitBytes,omitempty"`
}

// SpecPath is DIR/spec.json.
func SpecPath(dir string) string { return filepath.Join(dir, "spec.json") }

// WriteProcessSpec writes spec to DIR/spec.json (mode 0600, atomically),
// unless the file already holds exactly that.
func WriteProcessSpec(dir string, spec ProcessSpec) error {
	b, err := json.MarshalIndent(spec, "", "  ")
	if err != nil {
		return err
	}
	b = append(b, '\n')
	return fileutil.WriteFileIfChanged(SpecPath(dir), b, 0o600)
}

// ReadProcessSpec reads DIR/spec.json.
func ReadProcessSpec(dir string) (ProcessSpec, error) {
	var spec ProcessSpec
	b, err := os.ReadFile(SpecPath(dir))
	if err != nil {
		return spec, err
	}
	if err := json.Unmarshal(b, &spec); err != nil {
		return spec, fmt.Errorf("%s: %w", SpecPath(dir), err)
	}
	if len(spec.APIServerArgs) == 0 {
		return spec, fmt.Errorf("%s: no apiServerArgs", SpecPath(dir))
	}
	return spec, nil
}
