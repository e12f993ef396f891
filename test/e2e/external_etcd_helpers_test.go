//go:build e2e

package e2e

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/kplane/kplane/internal/etcdtest"
)

// externalEtcd is a 3-member etcd cluster run by the test (in this process)
// for kplane to use as its datastore, and kplane's identity on it.
type externalEtcd struct {
	*etcdtest.Cluster
	t *testing.T
	// certFile and keyFile are kplane's client pair: CN "kplane", not root,
	// so kplane must give itself the root role when it turns auth on.
	certFile, keyFile string
}

func startExternalEtcd(t *testing.T) *externalEtcd {
	t.Helper()
	start := time.Now()
	x := &externalEtcd{Cluster: etcdtest.Start(t, 3), t: t}
	x.certFile, x.keyFile = x.IssueClient("kplane")
	t.Logf("timing: external etcd (3 members, TLS, client-cert auth) up in %v at %v", time.Since(start).Round(time.Millisecond), x.Endpoints())
	return x
}

// flags are what every kplane command is told to reach the external etcd.
func (x *externalEtcd) flags() []string {
	return []string{"--etcd-endpoints", strings.Join(x.Endpoints(), ","),
		"--etcd-cafile", x.CAFile, "--etcd-certfile", x.certFile, "--etcd-keyfile", x.keyFile}
}

// serveFlags add the client CA that `kplane serve` issues clusters' etcd
// certificates from.
func (x *externalEtcd) serveFlags() []string {
	return append(x.flags(), "--etcd-client-ca-cert", x.ClientCACertFile, "--etcd-client-ca-key", x.ClientCAKeyFile)
}

// root is a client of the external etcd as kplane's user (root role).
func (x *externalEtcd) root() *clientv3.Client { return x.Client(x.certFile, x.keyFile) }

// leader is the index of the leading member.
func (x *externalEtcd) leader() int {
	x.t.Helper()
	var i int
	eventually(x.t, 30*time.Second, pollStep, "an etcd leader", func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var err error
		i, err = x.Leader(ctx, x.certFile, x.keyFile)
		return err
	})
	return i
}

// waitHealthy waits until every member runs, follows one leader and has
// applied a fresh write (a restarted member has caught up).
func (x *externalEtcd) waitHealthy(timeout time.Duration) time.Duration {
	x.t.Helper()
	return eventually(x.t, timeout, pollStep, "all etcd members healthy", func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return x.Healthy(ctx, x.certFile, x.keyFile, "/e2e/health")
	})
}

// clusterEtcdPair finds the etcd client pair kplane issued to cluster id's
// apiserver under its directory.
func (k *kplane) clusterEtcdPair(id string) (certFile, keyFile string) {
	k.t.Helper()
	var found []string
	filepath.WalkDir(k.clusterDir(id), func(path string, d os.DirEntry, err error) error {
		if err == nil && d.Name() == "etcd-client.crt" {
			found = append(found, path)
		}
		return nil
	})
	if len(found) == 0 {
		k.t.Fatalf("no etcd-client.crt under %s", k.clusterDir(id))
	}
	return found[0], strings.TrimSuffix(found[0], ".crt") + ".key"
}

// isPermissionDenied reports an etcd permission error.
func isPermissionDenied(err error) bool {
	return errors.Is(err, rpctypes.ErrPermissionDenied) || (err != nil && strings.Contains(err.Error(), "permission denied"))
}

// kubectlEventually retries a kubectl command while the cluster's apiserver
// comes back (after kplane restarts) and returns its output.
func (k *kplane) kubectlEventually(timeout time.Duration, kc string, args ...string) string {
	k.t.Helper()
	var out string
	eventually(k.t, timeout, pollStep, "kubectl "+strings.Join(args, " "), func() error {
		var err error
		out, err = k.kubectl(kc, args...)
		return err
	})
	return out
}
