package cli

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/kplane/kplane/internal/store"
)

// newNetworkCommand lists the network inventory (VPCs, subnets, security
// groups) so users can find the ids CreateCluster needs.
func newNetworkCommand() *cobra.Command {
	var dataDir string
	var etcd etcdFlags
	var subnetIDs bool
	cmd := &cobra.Command{
		Use:   "network",
		Short: "List the VPCs, subnets and security groups clusters can use",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			st, err := openStore(cmd.Context(), absDir(dataDir), &etcd)
			if err != nil {
				return err
			}
			defer st.Close()
			n, err := st.Network(cmd.Context())
			if err != nil {
				return err
			}
			if subnetIDs {
				// The default VPC's subnets: a create needs subnets of one VPC.
				var ids []string
				for _, s := range n.Subnets {
					if s.DefaultForAz {
						ids = append(ids, s.ID)
					}
				}
				fmt.Fprintln(cmd.OutOrStdout(), strings.Join(ids, ","))
				return nil
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "KIND\tID\tVPC\tZONE\tCIDR/NAME")
			for _, v := range n.VPCs {
				fmt.Fprintf(w, "vpc\t%s\t%s\t\t%s\n", v.ID, v.ID, v.CidrBlock)
			}
			for _, s := range n.Subnets {
				fmt.Fprintf(w, "subnet\t%s\t%s\t%s\t%s\n", s.ID, s.VpcID, s.AvailabilityZone, s.CidrBlock)
			}
			for _, g := range n.SecurityGroups {
				fmt.Fprintf(w, "security-group\t%s\t%s\t\t%s\n", g.ID, g.VpcID, g.Name)
			}
			return w.Flush()
		},
	}
	cmd.Flags().StringVar(&dataDir, "data-dir", defaultDataDir(), "kplane's data directory")
	cmd.Flags().BoolVar(&subnetIDs, "subnet-ids", false, "print only the default VPC's subnet ids, comma-separated (for --resources-vpc-config subnetIds=...)")
	etcd.register(cmd.Flags(), false)
	return cmd
}

// openStore opens kplane's datastore for a command run beside the server.
func openStore(ctx context.Context, dataDir string, etcd *etcdFlags) (*store.Store, error) {
	cfg, err := etcd.besideConfig(dataDir)
	if err != nil {
		return nil, err
	}
	return store.Open(ctx, cfg)
}
