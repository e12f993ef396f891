package cli

import (
	"errors"
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/kplane/kplane/internal/controlplane"
	"github.com/kplane/kplane/internal/cwlogs"
	"github.com/kplane/kplane/internal/store"
)

func newKubeconfigCommand() *cobra.Command {
	var dataDir string
	var etcd etcdFlags
	cmd := &cobra.Command{
		Use:   "kubeconfig NAME",
		Short: "Print an admin kubeconfig (client certificate, system:masters) for cluster NAME",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dataDir = absDir(dataDir)
			rec, err := findCluster(cmd, dataDir, &etcd, args[0])
			if err != nil {
				return err
			}
			if rec.Port == 0 {
				return fmt.Errorf("cluster %s has no control plane yet (status %s)", args[0], rec.Cluster.Status)
			}
			b, err := controlplane.Kubeconfig(controlplane.ConfigFor(rec, dataDir), controlplane.UserAdmin)
			if err != nil {
				return err
			}
			_, err = cmd.OutOrStdout().Write(b)
			return err
		},
	}
	storeFlags(cmd, &dataDir, &etcd)
	return cmd
}

func newLogsCommand() *cobra.Command {
	var dataDir string
	var etcd etcdFlags
	cmd := &cobra.Command{
		Use:   "logs NAME TYPE",
		Short: "Print cluster NAME's log of TYPE (api, audit, authenticator, controllerManager, scheduler), as shipped to CloudWatch Logs",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			dataDir = absDir(dataDir)
			st, err := openStore(cmd.Context(), dataDir, &etcd)
			if err != nil {
				return err
			}
			defer st.Close()
			rec, err := st.GetCluster(cmd.Context(), args[0])
			if errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("no cluster found for name: %s", args[0])
			} else if err != nil {
				return err
			}
			cfg := controlplane.ConfigFor(rec, dataDir)
			if !cfg.LogEnabled(args[1]) {
				return fmt.Errorf("log type %q is not enabled on cluster %s (enabled: %v); enable it with aws eks update-cluster-config --logging", args[1], args[0], cfg.LogTypes)
			}
			// The events of the type's streams in /aws/eks/NAME/cluster
			// (one per replica), merged by time, a message per line: the
			// lines the components wrote (audit lines are JSON), as
			// CloudWatch Logs serves them.
			err = cwlogs.New(st, dataDir, "", "").WriteLog(cmd.Context(), cmd.OutOrStdout(), args[0], args[1])
			if errors.Is(err, cwlogs.ErrNoLog) {
				return fmt.Errorf("cluster %s has no %s log yet", args[0], args[1])
			}
			return err
		},
	}
	storeFlags(cmd, &dataDir, &etcd)
	return cmd
}

func absDir(d string) string {
	if abs, err := filepath.Abs(d); err == nil {
		return abs
	}
	return d
}

func storeFlags(cmd *cobra.Command, dataDir *string, etcd *etcdFlags) {
	cmd.Flags().StringVar(dataDir, "data-dir", defaultDataDir(), "kplane's data directory")
	etcd.register(cmd.Flags(), false)
}

func findCluster(cmd *cobra.Command, dataDir string, etcd *etcdFlags, name string) (*store.ClusterRecord, error) {
	st, err := openStore(cmd.Context(), dataDir, etcd)
	if err != nil {
		return nil, err
	}
	defer st.Close()
	rec, err := st.GetCluster(cmd.Context(), name)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("no cluster found for name: %s", name)
	}
	return rec, err
}
