// Package cli holds kplane's cobra commands. Each command only parses flags and
// calls into the package that does the work.
package cli

import (
	"github.com/spf13/cobra"

	"github.com/kplane/kplane/internal/childcmd"
)

// NewRootCommand returns the kplane command tree.
func NewRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "kplane",
		Short:         "A self-hosted Amazon EKS: the EKS API in front of real Kubernetes control planes",
		SilenceUsage:  true,
		SilenceErrors: false,
	}
	root.AddCommand(
		newServeCommand(),
		newNetworkCommand(),
		newKubeconfigCommand(),
		newLogsCommand(),
		newImagesCommand(),
		newVersionCommand(),
	)
	root.AddCommand(childcmd.Commands()...)
	addVersionFlags(root, versionText)
	return root
}
