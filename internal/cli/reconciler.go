package cli

import (
	"log/slog"

	"github.com/kplane/kplane/internal/server"
)

// newReconciler builds the reconciler `kplane serve` runs.
func newReconciler(log *slog.Logger) server.Reconciler {
	return nil // wired to controlplane once its provisioner lands
}
