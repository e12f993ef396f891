package cli

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/kplane/kplane/internal/nodejoin"
)

// newNodeJoinCommand is `kplane node join`: this machine becomes a node of
// a kplane cluster until the command is stopped (see internal/nodejoin).
func newNodeJoinCommand() *cobra.Command {
	var cfg nodejoin.Config
	var logLevel string
	cmd := &cobra.Command{
		Use:   "join --cluster NAME --endpoint URL [--role-arn ARN]",
		Short: "Join this machine to a kplane cluster as a node (as root); Ctrl-C or SIGTERM leaves and removes it",
		Long: `Join this machine to a kplane cluster as a worker node, as EKS Hybrid Nodes join EKS.
Credentials come from the AWS SDK (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE or --profile);
with --role-arn they are used to assume the node role with the node name as session name.
The cluster operator maps the node role first: a HYBRID_LINUX access entry, or in aws-auth
mapRoles the username system:node:{{SessionName}} with groups system:bootstrappers and system:nodes.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if os.Geteuid() != 0 {
				return fmt.Errorf("a node needs root (namespaces, cgroups, mounts); this runs as uid %d", os.Geteuid())
			}
			log, err := newLogger(logLevel)
			if err != nil {
				return err
			}
			cfg.Log = log
			cfg.Ready = func(name string) {
				fmt.Fprintf(cmd.OutOrStdout(), "node %s is Ready in cluster %s\n", name, cfg.Cluster)
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return nodejoin.Run(ctx, cfg)
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.Cluster, "cluster", "", "the cluster's name")
	f.StringVar(&cfg.Endpoint, "endpoint", os.Getenv("AWS_ENDPOINT_URL"), "kplane's EKS API URL (default $AWS_ENDPOINT_URL)")
	f.StringVar(&cfg.Region, "region", "", "the region (default the SDK's: AWS_REGION, the profile's)")
	f.StringVar(&cfg.Profile, "profile", "", "the shared config profile of the credentials")
	f.StringVar(&cfg.RoleArn, "role-arn", "", "the node role to assume, with the node name as session name")
	f.StringVar(&cfg.NodeIP, "node-ip", "", "the node's address (default the one this machine reaches the endpoint from)")
	f.StringVar(&cfg.NodeName, "node-name", "", "the node's name (default ip-A-B-C-D.REGION.compute.internal of its address)")
	f.StringVar(&cfg.Dir, "dir", "/var/tmp/kplane-node", "the node's directory (removed when it leaves)")
	f.StringVar(&cfg.PodCIDR, "pod-cidr", "", "the node's pod range (default 100.X.Y.0/24 from its address)")
	f.StringToStringVar(&cfg.Labels, "labels", nil, "node labels, KEY=VALUE,...")
	f.StringVar(&cfg.ProxyMode, "proxy-mode", "", "run kube-proxy in this mode (iptables or nftables; needs system:node-proxier bound to the node, see docs/nodes.md); default none")
	f.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	return cmd
}
