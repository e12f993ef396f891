package cli

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/kplane/kplane/internal/nodecreds"
)

// newNodeCommand is the `kplane node` group: what runs on a node.
func newNodeCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "node", Short: "Run a worker node of a kplane cluster on this machine"}
	cmd.AddCommand(newNodeTokenCommand(), newNodeJoinCommand())
	return cmd
}

// newNodeTokenCommand is the kubelet's exec credential plugin: `kplane node
// token --credentials FILE --cluster NAME --region R` prints an
// ExecCredential whose token is sts:GetCallerIdentity presigned with the
// node role's credentials in FILE, as `aws eks get-token` would print it on
// an EKS node, made locally.
func newNodeTokenCommand() *cobra.Command {
	var credsFile, cluster, region string
	cmd := &cobra.Command{
		Use:    "token --credentials FILE --cluster NAME --region REGION",
		Short:  "Print the node's IAM token for its cluster as an ExecCredential (the kubelet's credential plugin)",
		Args:   cobra.NoArgs,
		Hidden: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if credsFile == "" || cluster == "" || region == "" {
				return errors.New("--credentials, --cluster and --region are required")
			}
			f, err := nodecreds.Read(credsFile)
			if err != nil {
				return err
			}
			token, expires, err := nodecreds.Token(cmd.Context(), f, cluster, region, time.Now())
			if err != nil {
				return err
			}
			out, err := nodecreds.ExecCredential(token, expires, os.Getenv("KUBERNETES_EXEC_INFO"))
			if err != nil {
				return err
			}
			_, err = fmt.Fprintln(cmd.OutOrStdout(), string(out))
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&credsFile, "credentials", "", "the node role's credentials file")
	f.StringVar(&cluster, "cluster", "", "the cluster's name")
	f.StringVar(&region, "region", "", "the region")
	return cmd
}
