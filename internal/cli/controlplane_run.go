package cli

import (
	"context"
	"errors"
	"fmt"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/kplane/kplane/internal/components"
	"github.com/kplane/kplane/internal/controlplane"
	"github.com/kplane/kplane/internal/supervise"
)

// newControlPlaneRunCommand is the hidden command a cluster's child process
// runs: `kplane controlplane-run --dir DIR` runs the control plane described
// by DIR/spec.json (written by the parent, see controlplane.LocalExecutor)
// until SIGTERM/SIGINT or until a component fails (exit status 1).
func newControlPlaneRunCommand() *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:    "controlplane-run --dir DIR",
		Short:  "Run one cluster's control plane in this process (internal)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dir == "" {
				return errors.New("--dir is required")
			}
			spec, err := controlplane.ReadProcessSpec(dir)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
			defer stop()
			ctx, cancel := context.WithCancelCause(ctx)
			defer cancel(nil)
			go supervise.WatchParent(ctx, cancel)
			err = components.Run(ctx, spec)
			if cause := context.Cause(ctx); err == nil && cause != nil && !errors.Is(cause, context.Canceled) {
				err = cause
			}
			if err != nil {
				return fmt.Errorf("cluster %s control plane: %w", spec.ClusterID, err)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "cluster directory holding spec.json")
	return cmd
}
