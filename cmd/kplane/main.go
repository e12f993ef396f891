// Command kplane is a self-hosted Amazon EKS: one binary that serves the EKS API
// and runs each cluster's Kubernetes control plane as a child process of itself.
package main

import (
	"os"

	"github.com/kplane/kplane/internal/cli"
)

func main() {
	if err := cli.NewRootCommand().Execute(); err != nil {
		os.Exit(1)
	}
}
