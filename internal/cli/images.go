package cli

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/kplane/kplane/internal/node"
)

// newImagesCommand is `kplane images import`: image archives (docker save
// or OCI layout tar) into nodes' container runtimes.
func newImagesCommand() *cobra.Command {
	images := &cobra.Command{Use: "images", Short: "Load container images into nodes"}
	var nodeDirs []string
	imp := &cobra.Command{
		Use:   "import --node-dir DIR FILE...",
		Short: "Import image archives (docker save or OCI layout tar) into nodes, now and whenever they start again",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, files []string) error {
			if len(nodeDirs) == 0 {
				return errors.New("--node-dir is required")
			}
			var errs []error
			for _, d := range nodeDirs {
				if err := node.ImportImages(cmd.Context(), d, files); err != nil {
					errs = append(errs, fmt.Errorf("node %s: %w", d, err))
				}
			}
			return errors.Join(errs...)
		},
	}
	imp.Flags().StringArrayVar(&nodeDirs, "node-dir", nil, "a node's directory (repeatable)")
	images.AddCommand(imp)
	return images
}
