package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/kplane/kplane/internal/components"
	"github.com/kplane/kplane/internal/controlplane"
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
			go watchParent(ctx, cancel)
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

// watchParent cancels ctx when the process that started us (pid in
// KPLANE_PARENT_PID) is no longer our parent. Pdeathsig normally kills us
// first; this covers the window between fork and prctl.
func watchParent(ctx context.Context, cancel context.CancelCauseFunc) {
	want, err := strconv.Atoi(os.Getenv(controlplane.ParentPIDEnv))
	if err != nil || want <= 0 {
		return
	}
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		if os.Getppid() != want {
			cancel(errors.New("parent process is gone"))
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
