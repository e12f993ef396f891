package cli

import (
	"context"
	"crypto"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/kplane/kplane/internal/controlplane"
	"github.com/kplane/kplane/internal/datadir"
	"github.com/kplane/kplane/internal/insights"
	"github.com/kplane/kplane/internal/nodenet"
	"github.com/kplane/kplane/internal/server"
	"github.com/kplane/kplane/internal/store"
)

// defaultDataDir is $HOME/.kplane.
func defaultDataDir() string {
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".kplane")
	}
	return ".kplane"
}

func newServeCommand() *cobra.Command {
	var cfg server.Config
	var logLevel string
	var noReconcile, noNodes bool
	var nodeJoinTimeout time.Duration
	var egress nodeEgressFlags
	var versionsFile string
	var etcd etcdFlags
	cp := controlPlaneFlags{replicas: controlplane.DefaultReplicas}
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the EKS, EC2, IAM, STS, KMS and CloudWatch Logs APIs and run every cluster's control plane",
		Long: `Serve, on one address (--listen), the AWS APIs kplane speaks, signed with SigV4 as on AWS:
  Amazon EKS (2017-11-01)  clusters, managed nodegroups, access entries, updates, tags;
                           every cluster a real Kubernetes control plane run by kplane
  Amazon EC2 (2016-11-15)  the network clusters use: availability zones, VPCs, subnets,
                           security groups, tags; nodegroups' instances
  AWS IAM (2010-05-08)     users, access keys, roles
  AWS STS (2011-06-15)     GetCallerIdentity (aws eks get-token), AssumeRole
  AWS KMS (2014-11-01)     symmetric keys, aliases, Encrypt/Decrypt/GenerateDataKey
                           (a cluster's encryptionConfig names one)
  Amazon CloudWatch Logs   log groups, streams, events (2014-03-28): clusters' enabled
                           control-plane logs in /aws/eks/NAME/cluster
Everything is kept in an embedded etcd under the data directory (or an external etcd
cluster with --etcd-endpoints and the --etcd-* TLS flags). At first start kplane writes
the account's root credentials to DATA_DIR/credentials (mode 0600, AWS shared-credentials
format). One kplane serves a data directory at a time; it prints its PID, and Ctrl-C
or SIGTERM stops it and the control planes it runs.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := newLogger(logLevel)
			if err != nil {
				return err
			}
			cfg.Log = log
			// Signals stop kplane at any stage of its start, not only once it serves.
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			dataDir := absDir(cfg.DataDir)
			if err := egress.validate(); err != nil {
				return err
			}
			if err := etcd.apply(&cfg, dataDir); err != nil {
				return err
			}
			// One kplane per data directory: a second one stops here, naming the
			// first, before it touches anything (wrong flags are refused before).
			lock, err := datadir.Acquire(dataDir)
			if err != nil {
				return err
			}
			defer lock.Release()
			var missing []error
			if cfg.Versions, missing, err = offeredVersions(ctx, versionsFile); err != nil {
				return err
			}
			for _, m := range missing {
				log.Warn("Kubernetes version not offered", "reason", m.Error())
			}
			// A kplane of this directory killed before it closed its egress
			// sockets left them under /run/kplane; none serves them now.
			if removed, err := nodenet.New(nodenet.DirFor(dataDir)).RemoveStaleEgressSockets(); err != nil {
				log.Warn("removing stale egress sockets", "err", err)
			} else if len(removed) > 0 {
				log.Info("removed stale egress sockets", "sockets", removed)
			}
			cfg.Deps.ServiceAccountKey = func(rec *store.ClusterRecord) (crypto.PublicKey, error) {
				return controlplane.ServiceAccountPublicKey(rec, dataDir)
			}
			cfg.Deps.AuthenticatorLog = authenticatorLogFile(dataDir)
			cfg.Deps.ClusterLogFiles = clusterLogFiles(dataDir)
			cfg.Deps.KMSSocket = func(rec *store.ClusterRecord) string { return controlplane.KMSSocketPath(dataDir, rec.Cluster.ID) }
			if !noReconcile {
				prov, rec, err := newReconciler(log, cp)
				if err != nil {
					return err
				}
				nodes, err := newNodegroupReconciler(log, prov, dataDir, noNodes, nodeJoinTimeout, egress)
				if err != nil {
					return err
				}
				// Upgrade insights are refreshed in a loop of their own, which
				// stops first.
				refresher := &insights.Refresher{Source: prov, Log: log.With("component", "insights")}
				cfg.Deps.Reconciler, cfg.Deps.ReadAwsAuth = reconcilers{rec, nodes, refresher}, prov.ReadAwsAuth
				cfg.Deps.Metrics = append(cfg.Deps.Metrics, prov.Balancer.Collector())
			}
			s, err := server.Start(ctx, cfg)
			if err != nil {
				if ctx.Err() != nil {
					log.Info("stopped before serving", "err", err)
					return nil
				}
				return err
			}
			if err := etcd.remember(dataDir); err != nil {
				s.Close()
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "kplane (pid %d) is serving the EKS API at %s; stop it with Ctrl-C or kill %d\n  export AWS_SHARED_CREDENTIALS_FILE=%s AWS_ENDPOINT_URL=%s AWS_REGION=%s\n",
				os.Getpid(), s.URL, os.Getpid(), filepath.Join(cfg.DataDir, "credentials"), s.URL, cfg.Region)
			select {
			case <-ctx.Done():
				log.Info("shutting down")
			case err := <-s.Err():
				log.Error("fatal", "err", err)
				s.Close()
				return err
			}
			return s.Close()
		},
	}
	f := cmd.Flags()
	f.StringVar(&cfg.DataDir, "data-dir", defaultDataDir(), "where kplane keeps its datastore, credentials and cluster files")
	f.StringVar(&cfg.Listen, "listen", server.DefaultListen, "address of the EKS/STS endpoint (loopback unless told otherwise)")
	f.StringVar(&cfg.Region, "region", server.DefaultRegion, "the AWS region kplane presents")
	f.StringVar(&cfg.AccountID, "account-id", server.DefaultAccountID, "the 12-digit AWS account id kplane presents")
	etcd.register(f, true)
	f.IntVar(&cfg.ClusterQuota, "cluster-quota", 100, "the most clusters the account may have")
	f.StringSliceVar(&cfg.UnsupportedZones, "unsupported-zones", nil, "availability zones CreateCluster refuses")
	f.StringVar(&logLevel, "log-level", "info", "debug, info, warn or error")
	f.IntVar(&cp.replicas, "control-plane-replicas", cp.replicas, "the most control-plane replicas a cluster runs, one per availability zone of its subnets")
	f.StringVar(&cp.endpointAddress, "endpoint-address", "127.0.0.1", "IP address cluster endpoints listen on, named in each cluster's endpoint (control-plane replicas themselves listen on loopback only)")
	f.StringSliceVar(&cp.privateSources, "private-sources", nil, "client address ranges that count as inside every VPC for endpoint private access (e.g. 127.0.0.2/32 on one machine)")
	f.StringVar(&versionsFile, "versions-file", "", "a Kubernetes support calendar (JSON, the form of docs/versions.md) replacing the built-in one")
	f.StringArrayVar(&cp.runtimeConfig, "apiserver-runtime-config", nil, "MINOR=GROUP/VERSION=true: serve an API that is off by default (a beta) in clusters of that Kubernetes minor, as kube-apiserver's --runtime-config (repeatable; EKS enables none)")
	f.DurationVar(&cp.updateTimeout, "update-timeout", 0, "how long a cluster update may take to roll through the replicas before it is Failed and rolled back (default 10m)")
	f.MarkHidden("update-timeout")
	f.BoolVar(&noReconcile, "no-reconcile", false, "record clusters without running control planes (benchmarks of the API alone)")
	f.MarkHidden("no-reconcile")
	f.BoolVar(&noNodes, "no-nodes", false, "run no worker nodes: every nodegroup ends CREATE_FAILED (tests of the nodegroup API alone)")
	f.MarkHidden("no-nodes")
	f.DurationVar(&nodeJoinTimeout, "node-join-timeout", 0, "how long a running node may stay out of its cluster before its nodegroup shows NodeCreationFailure (default 2m)")
	f.MarkHidden("node-join-timeout")
	egress.register(f)
	return cmd
}

func newLogger(level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	return slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: l})), nil
}
