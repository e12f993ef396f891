// Package childcmd holds the hidden commands kplane's child processes run: a
// cluster's control plane (`controlplane-run`) and a worker node's agent
// (`node-run`). It is its own package so that the per-version component
// programs (k8s/v1.NN, kplane-k8s-1.NN) offer the same entry points without
// importing the rest of kplane's command line.
package childcmd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/kplane/kplane/internal/components"
	"github.com/kplane/kplane/internal/controlplane"
	"github.com/kplane/kplane/internal/node"
	"github.com/kplane/kplane/internal/nodecomponents"
	"github.com/kplane/kplane/internal/supervise"
	"github.com/kplane/kplane/internal/versions"
)

// Commands are the child commands, for a root command to add.
func Commands() []*cobra.Command {
	return []*cobra.Command{ControlPlaneRun(), NodeRun(), release()}
}

// release prints the Kubernetes release of the components this program
// carries ("1.36.3"): kplane asks each per-minor program at start.
func release() *cobra.Command {
	return &cobra.Command{
		Use:    versions.ReleaseCommand,
		Short:  "Print the Kubernetes release of the components in this program (internal)",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintln(cmd.OutOrStdout(), strings.TrimPrefix(components.KubernetesVersion(), "v"))
			return err
		},
	}
}

// ControlPlaneRun is `kplane controlplane-run --dir DIR`: it runs the control
// plane described by DIR/spec.json (written by the parent, see
// controlplane.LocalExecutor) until SIGTERM/SIGINT or until a component fails
// (exit status 1).
func ControlPlaneRun() *cobra.Command {
	return child("controlplane-run", "Run one cluster's control plane in this process (internal)",
		"cluster directory holding spec.json",
		func(ctx context.Context, dir string) error {
			spec, err := controlplane.ReadProcessSpec(dir)
			if err != nil {
				return err
			}
			if err := carries(spec.KubernetesVersion); err != nil {
				return err
			}
			if err := injectedStartFailure(spec.KubernetesVersion); err != nil {
				return err
			}
			if err := components.Run(ctx, spec); err != nil {
				return fmt.Errorf("cluster %s control plane: %w", spec.ClusterID, err)
			}
			return nil
		})
}

// NodeRun is `kplane node-run --dir DIR`: it runs the node described by
// DIR/spec.json (see node.Run) until SIGTERM/SIGINT (then it tears the node
// down and exits 0) or until a part of the node fails (exit status 1).
func NodeRun() *cobra.Command {
	return child("node-run", "Run one worker node's runtime, kubelet and kube-proxy (internal)",
		"node directory holding spec.json",
		func(ctx context.Context, dir string) error {
			err := node.Run(ctx, dir, node.Components{
				Kubelet:   nodecomponents.Kubelet,
				KubeProxy: nodecomponents.KubeProxy,
			})
			if err != nil {
				return fmt.Errorf("node %s: %w", dir, err)
			}
			return nil
		})
}

// carries refuses to run a spec of another minor than this program's
// components ("" asks for no particular one).
func carries(minor string) error {
	have := strings.TrimPrefix(components.KubernetesVersion(), "v")
	if minor != "" && !strings.HasPrefix(have, minor+".") {
		return fmt.Errorf("this program carries Kubernetes %s, not %s: %s runs %s", have, minor, versions.ProgramName(minor), minor)
	}
	return nil
}

// FailMinorEnv names a minor whose control planes fail at start: the fault
// injector of the failed-upgrade tests (kplane passes its environment to its
// children). Never set outside tests.
const FailMinorEnv = "KPLANE_TEST_FAIL_CONTROL_PLANE_MINOR"

func injectedStartFailure(minor string) error {
	if fail := os.Getenv(FailMinorEnv); fail != "" && fail == minor {
		return fmt.Errorf("%s=%s: this control plane fails at start (fault injected)", FailMinorEnv, fail)
	}
	return nil
}

// child is a hidden command that runs run(ctx, --dir) until a signal, the
// parent's death (supervise.WatchParent) or run's own end.
func child(name, short, dirHelp string, run func(ctx context.Context, dir string) error) *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:    name + " --dir DIR",
		Short:  short,
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dir == "" {
				return errors.New("--dir is required")
			}
			// A child started under a user of its own was run from a
			// descriptor, so ps would name it "3", and begins where kplane
			// was: it could not enter DIR before its capabilities took
			// effect (see supervise.User).
			_ = os.WriteFile("/proc/self/comm", []byte(filepath.Base(os.Args[0])), 0)
			if err := os.Chdir(dir); err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
			defer stop()
			ctx, cancel := context.WithCancelCause(ctx)
			defer cancel(nil)
			go supervise.WatchParent(ctx, cancel)
			err := run(ctx, dir)
			if cause := context.Cause(ctx); err == nil && cause != nil && !errors.Is(cause, context.Canceled) {
				err = cause
			}
			return err
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", dirHelp)
	return cmd
}
