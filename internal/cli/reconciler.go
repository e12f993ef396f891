package cli

import (
	"fmt"
	"log/slog"

	"github.com/kplane/kplane/internal/controlplane"
	"github.com/kplane/kplane/internal/server"
	"github.com/kplane/kplane/internal/store"
)

// newReconciler builds the reconciler `kplane serve` runs: control planes as
// supervised child processes of this binary.
func newReconciler(log *slog.Logger) (server.Reconciler, error) {
	exec, err := controlplane.NewLocalExecutor(controlplane.LocalExecutorOptions{
		Logf: func(format string, args ...any) { log.Info(fmt.Sprintf(format, args...)) },
	})
	if err != nil {
		return nil, err
	}
	return &controlplane.Reconciler{
		Provisioner: &controlplane.LocalProvisioner{Executor: exec},
		Log:         log,
	}, nil
}

// authenticatorLogFile is a cluster's "authenticator" log and whether it is enabled.
func authenticatorLogFile(dataDir string) func(*store.ClusterRecord) (string, bool) {
	return func(rec *store.ClusterRecord) (string, bool) {
		cfg := controlplane.ConfigFor(rec, dataDir)
		return cfg.LogFile(controlplane.LogTypeAuthenticator), cfg.LogEnabled(controlplane.LogTypeAuthenticator)
	}
}
