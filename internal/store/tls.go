package store

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/kplane/kplane/internal/pki"
)

// etcd (embedded or external) serves clients over TLS and knows each client by
// its certificate's common name: kplane is etcd's root user (or a user with the
// root role), and each cluster's apiserver a user whose role reaches only that
// cluster's key prefix.
const rootUser = "root"

// TLSFiles are the files a client presents to etcd.
type TLSFiles struct {
	CAFile, CertFile, KeyFile string
}

// etcdPKI is the embedded etcd's CA and the files made from it.
type etcdPKI struct {
	dir    string
	ca     *pki.Pair
	server TLSFiles
	root   TLSFiles
}

func ensureEtcdPKI(dataDir string) (*etcdPKI, error) {
	dir := filepath.Join(dataDir, "pki", "etcd")
	p := &etcdPKI{dir: dir}
	var err error
	if p.ca, err = pki.LoadOrCreateCA(p.path("ca.crt"), p.path("ca.key"), "kplane-etcd-ca"); err != nil {
		return nil, err
	}
	p.server = p.files("server")
	if _, err := pki.LoadOrIssue(p.server.CertFile, p.server.KeyFile, p.ca, pki.Spec{
		CommonName: "kplane-etcd", DNSNames: []string{"localhost"},
		IPs: []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}, Server: true, Client: true,
	}); err != nil {
		return nil, err
	}
	p.root = p.files("root")
	if _, err := pki.LoadOrIssue(p.root.CertFile, p.root.KeyFile, p.ca, pki.Spec{CommonName: rootUser, Client: true}); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *etcdPKI) path(name string) string { return filepath.Join(p.dir, name) }

func (p *etcdPKI) files(name string) TLSFiles {
	return TLSFiles{CAFile: p.path("ca.crt"), CertFile: p.path(name + ".crt"), KeyFile: p.path(name + ".key")}
}

// clientTLS is the tls.Config of a client presenting files.
func clientTLS(f TLSFiles) (*tls.Config, error) {
	ca, err := os.ReadFile(f.CAFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(ca) {
		return nil, fmt.Errorf("store: %s has no certificate", f.CAFile)
	}
	pair, err := tls.LoadX509KeyPair(f.CertFile, f.KeyFile)
	if err != nil {
		return nil, err
	}
	return &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}, nil
}

// enableAuth turns on etcd's authentication, once, with kplane's user (the CN
// of its client certificate) holding the root role. etcd wants a user named
// root with that role before auth goes on; kplane makes it (without a
// password: only a certificate with CN root can be it). When auth is already
// on, kplane's user must be root or hold the root role, as it grants and
// revokes every cluster's user.
func enableAuth(ctx context.Context, cli *clientv3.Client, user string) error {
	st, err := cli.AuthStatus(ctx)
	if err != nil {
		return err
	}
	if st.Enabled {
		// Listing users is for the root role only.
		if _, err := cli.UserList(ctx); err != nil {
			return fmt.Errorf("auth is on and kplane's etcd user %q (its client certificate's CN) cannot administer it (%w): "+
				"it must be root or hold the root role (etcdctl user grant-role %s root)", user, err, user)
		}
		return nil
	}
	if _, err := cli.RoleAdd(ctx, rootUser); err != nil && !errors.Is(err, rpctypes.ErrRoleAlreadyExist) {
		return err
	}
	for _, u := range []string{rootUser, user} {
		if _, err := cli.UserAddWithOptions(ctx, u, "", &clientv3.UserAddOptions{NoPassword: true}); err != nil && !errors.Is(err, rpctypes.ErrUserAlreadyExist) {
			return err
		}
		if _, err := cli.UserGrantRole(ctx, u, rootUser); err != nil {
			return err
		}
	}
	_, err = cli.AuthEnable(ctx)
	return err
}

// clusterUser is the etcd user (and role) of cluster id's apiserver.
func clusterUser(id string) string { return "kplane-cluster-" + id }

// GrantCluster makes cluster id an etcd user whose role reaches only the
// cluster's key prefix (and compactRevKey), and issues its client certificate into dir. It
// returns the files the cluster's apiserver presents to etcd.
func (s *Store) GrantCluster(ctx context.Context, id, dir string) (TLSFiles, error) {
	if s.issuer == nil {
		return TLSFiles{}, errors.New("store: per-cluster etcd credentials need the client CA the external etcd trusts (--etcd-client-ca-cert, --etcd-client-ca-key)")
	}
	user := clusterUser(id)
	prefix := ClusterDataPrefix(id) + "/"
	if _, err := s.Client.RoleAdd(ctx, user); err != nil && !errors.Is(err, rpctypes.ErrRoleAlreadyExist) {
		return TLSFiles{}, err
	}
	if _, err := s.Client.RoleGrantPermission(ctx, user, prefix, clientv3.GetPrefixRangeEnd(prefix), clientv3.PermissionType(clientv3.PermReadWrite)); err != nil {
		return TLSFiles{}, err
	}
	// The key kube-apiservers take turns compacting through (compact.go).
	if _, err := s.Client.RoleGrantPermission(ctx, user, compactRevKey, "", clientv3.PermissionType(clientv3.PermReadWrite)); err != nil {
		return TLSFiles{}, err
	}
	if _, err := s.Client.UserAddWithOptions(ctx, user, "", &clientv3.UserAddOptions{NoPassword: true}); err != nil && !errors.Is(err, rpctypes.ErrUserAlreadyExist) {
		return TLSFiles{}, err
	}
	if _, err := s.Client.UserGrantRole(ctx, user, user); err != nil {
		return TLSFiles{}, err
	}
	files := TLSFiles{CAFile: s.serverCA, CertFile: filepath.Join(dir, "etcd-client.crt"), KeyFile: filepath.Join(dir, "etcd-client.key")}
	if _, err := pki.LoadOrIssue(files.CertFile, files.KeyFile, s.issuer, pki.Spec{CommonName: user, Client: true}); err != nil {
		return TLSFiles{}, err
	}
	return files, nil
}

// RevokeCluster removes cluster id's etcd user and role.
func (s *Store) RevokeCluster(ctx context.Context, id string) error {
	user := clusterUser(id)
	if _, err := s.Client.UserDelete(ctx, user); err != nil && !errors.Is(err, rpctypes.ErrUserNotFound) {
		return err
	}
	if _, err := s.Client.RoleDelete(ctx, user); err != nil && !errors.Is(err, rpctypes.ErrRoleNotFound) {
		return err
	}
	return nil
}
