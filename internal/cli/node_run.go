package cli

import (
	"context"
	"errors"
	"fmt"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/kplane/kplane/internal/node"
	"github.com/kplane/kplane/internal/nodecomponents"
	"github.com/kplane/kplane/internal/supervise"
)

// newNodeRunCommand is the hidden command one worker node's agent runs:
// `kplane node-run --dir DIR` runs the node described by DIR/spec.json (see
// node.Run) until SIGTERM/SIGINT (then it tears the node down and exits 0)
// or until a part of the node fails (exit status 1).
func newNodeRunCommand() *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:    "node-run --dir DIR",
		Short:  "Run one worker node's runtime, kubelet and kube-proxy (internal)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dir == "" {
				return errors.New("--dir is required")
			}
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
			defer stop()
			ctx, cancel := context.WithCancelCause(ctx)
			defer cancel(nil)
			go supervise.WatchParent(ctx, cancel)
			err := node.Run(ctx, dir, node.Components{
				Kubelet:   nodecomponents.Kubelet,
				KubeProxy: nodecomponents.KubeProxy,
			})
			if err != nil {
				return fmt.Errorf("node %s: %w", dir, err)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "node directory holding spec.json")
	return cmd
}
