package cli

import (
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/kplane/kplane/internal/controlplane"
	"github.com/kplane/kplane/internal/lb"
	"github.com/kplane/kplane/internal/server"
	"github.com/kplane/kplane/internal/store"
	"github.com/kplane/kplane/internal/supervise"
	"github.com/kplane/kplane/internal/versions"
)

// controlPlaneFlags are `kplane serve`'s settings of the control planes.
type controlPlaneFlags struct {
	replicas        int
	privateSources  []string
	endpointAddress string
	// updateTimeout bounds a cluster update's roll (0: the reconciler's default).
	updateTimeout time.Duration
	// runtimeConfig are MINOR=GROUP/VERSION=BOOL settings of kube-apiserver's --runtime-config.
	runtimeConfig []string
}

// runtimeConfigByMinor reads --apiserver-runtime-config: per minor, the
// kube-apiserver --runtime-config value (settings of one minor joined by commas).
func runtimeConfigByMinor(settings []string) (map[string]string, error) {
	out := map[string]string{}
	for _, s := range settings {
		minor, gv, ok := strings.Cut(s, "=")
		if _, _, isMinor := versions.ParseMinor(minor); !ok || !isMinor || !strings.Contains(gv, "/") {
			return nil, fmt.Errorf("--apiserver-runtime-config %q: want MINOR=GROUP/VERSION=true, e.g. 1.36=networking.k8s.io/v1beta1=true", s)
		}
		if out[minor] != "" {
			gv = out[minor] + "," + gv
		}
		out[minor] = gv
	}
	return out, nil
}

// newReconciler builds the reconciler `kplane serve` runs: control planes as
// supervised child processes of this binary, each cluster's replicas behind
// a load balancer in kplane that owns the cluster's endpoint.
func newReconciler(log *slog.Logger, f controlPlaneFlags) (*controlplane.LocalProvisioner, server.Reconciler, error) {
	if f.replicas < 1 {
		return nil, nil, fmt.Errorf("--control-plane-replicas must be at least 1, not %d", f.replicas)
	}
	if ip := net.ParseIP(f.endpointAddress); ip == nil || ip.IsUnspecified() {
		return nil, nil, fmt.Errorf("--endpoint-address %q: want the one IP address clients reach cluster endpoints at (not 0.0.0.0 or ::)", f.endpointAddress)
	}
	var private []netip.Prefix
	for _, s := range f.privateSources {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, nil, fmt.Errorf("--private-sources: %w", err)
		}
		private = append(private, p.Masked())
	}
	runtimeConfig, err := runtimeConfigByMinor(f.runtimeConfig)
	if err != nil {
		return nil, nil, err
	}
	exec, err := controlplane.NewLocalExecutor(supervise.Options{
		Logf: func(format string, args ...any) { log.Info(fmt.Sprintf(format, args...)) },
	})
	if err != nil {
		return nil, nil, err
	}
	controlplane.FillSpareKeys()
	prov := &controlplane.LocalProvisioner{
		EndpointAddress: f.endpointAddress,
		Executor:        exec,
		Balancer:        lb.New(lb.Config{Log: log}),
		Replicas:        f.replicas,
		PrivateSources:  private,
		RuntimeConfig:   runtimeConfig,
		// Network namespaces need root; without it no node can run here.
		NodeNetwork: os.Geteuid() == 0,
	}
	return prov, &controlplane.Reconciler{Provisioner: prov, Log: log, UpdateTimeout: f.updateTimeout}, nil
}

// authenticatorLogFile is a cluster's "authenticator" log and whether it is enabled.
func authenticatorLogFile(dataDir string) func(*store.ClusterRecord) (string, bool) {
	return func(rec *store.ClusterRecord) (string, bool) {
		cfg := controlplane.ConfigFor(rec, dataDir)
		return cfg.LogFile(controlplane.LogTypeAuthenticator), cfg.LogEnabled(controlplane.LogTypeAuthenticator)
	}
}

// clusterLogFiles are a cluster's enabled EKS log types and each one's files
// (one per replica; kplane's own for the authenticator).
func clusterLogFiles(dataDir string) func(*store.ClusterRecord) map[string][]string {
	return func(rec *store.ClusterRecord) map[string][]string {
		cfg := controlplane.ConfigFor(rec, dataDir)
		out := map[string][]string{}
		for _, t := range cfg.LogTypes {
			out[t] = controlplane.LogFiles(cfg.Dir, t)
		}
		return out
	}
}
