package cli

import (
	"errors"
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/kplane/kplane/internal/localnodes"
	"github.com/kplane/kplane/internal/node"
)

// newImagesCommand is `kplane images import`: image archives (docker save
// or OCI layout tar) into nodes' container runtimes.
func newImagesCommand() *cobra.Command {
	images := &cobra.Command{Use: "images", Short: "Load container images into nodes"}
	var nodeDirs []string
	var clusterName, dataDir string
	var etcd etcdFlags
	imp := &cobra.Command{
		Use:   "import (--cluster NAME | --node-dir DIR) FILE...",
		Short: "Import image archives (docker save or OCI layout tar) into nodes, now and whenever they start again",
		Long: `Import image archives (docker save or OCI layout tar, as kind load image-archive takes)
into the container runtime of nodes: with --cluster NAME into every node of the cluster now
and into every node the cluster gets later; with --node-dir into the node of that directory.
Pods with imagePullPolicy IfNotPresent or Never run them.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, files []string) error {
			if (len(nodeDirs) == 0) == (clusterName == "") {
				return errors.New("exactly one of --cluster and --node-dir is required")
			}
			if clusterName != "" {
				dataDir = absDir(dataDir)
				rec, err := findCluster(cmd, dataDir, &etcd, clusterName)
				if err != nil {
					return err
				}
				// Kept for the nodes made later first, so none misses them.
				clusterDir := filepath.Dir(localnodes.ClusterImagesDir(dataDir, rec.Cluster.ID))
				for _, f := range files {
					if _, err := node.KeepArchive(clusterDir, f); err != nil {
						return err
					}
				}
				nodeDirs = localnodes.ClusterNodeDirs(dataDir, rec.Cluster.ID)
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
	imp.Flags().StringVar(&clusterName, "cluster", "", "a cluster's name: every node of it, now and later")
	imp.Flags().StringArrayVar(&nodeDirs, "node-dir", nil, "a node's directory (repeatable)")
	storeFlags(imp, &dataDir, &etcd)
	images.AddCommand(imp)
	return images
}
