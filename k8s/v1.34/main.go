// Command kplane-k8s-1.34 runs Kubernetes 1.34 components for kplane: a
// cluster's control plane (controlplane-run) and a worker node's agent
// (node-run), the same entry points as kplane's own for its built-in minor.
// kplane runs it from beside its own executable for clusters of 1.34
// (docs/versions.md). It is its own Go module so that it builds against
// k8s.io/kubernetes v1.34.x while kplane builds against the newest minor.
package main

import (
	"os"

	"github.com/spf13/cobra"

	"github.com/kplane/kplane/internal/childcmd"
)

func main() {
	root := &cobra.Command{Use: "kplane-k8s-1.34", SilenceUsage: true}
	root.AddCommand(childcmd.Commands()...)
	if err := root.Execute(); err != nil {
		os.Exit(1)
	}
}
