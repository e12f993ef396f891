package store

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"

	"github.com/kplane/kplane/internal/etcdtest"
	"github.com/kplane/kplane/internal/pki"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// externalConfig is a Config for etcd cluster c with kplane's identity cn.
func externalConfig(t *testing.T, c *etcdtest.Cluster, cn string) Config {
	cert, key := c.IssueClient(cn)
	return Config{
		DataDir: t.TempDir(), Endpoints: c.Endpoints(), Logger: quiet(),
		TLS: EtcdTLS{CAFile: c.CAFile, CertFile: cert, KeyFile: key,
			ClientCACertFile: c.ClientCACertFile, ClientCAKeyFile: c.ClientCAKeyFile},
	}
}

// On an external etcd with auth off, kplane (CN "kplane", not root) turns
// auth on holding the root role, grants each cluster a user limited to its
// prefix with a certificate from the client CA, and revokes it again.
func TestExternalEtcdAuthAndClusterGrants(t *testing.T) {
	c := etcdtest.Start(t, 1)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cfg := externalConfig(t, c, "kplane")
	s, err := Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	st, err := s.Client.AuthStatus(ctx)
	if err != nil || !st.Enabled {
		t.Fatalf("auth status %+v %v, want enabled", st, err)
	}
	u, err := s.Client.UserGet(ctx, "kplane")
	if err != nil || len(u.Roles) != 1 || u.Roles[0] != "root" {
		t.Fatalf("kplane's etcd user: %+v %v, want the root role", u, err)
	}

	dirA, dirB := t.TempDir(), t.TempDir()
	a, err := s.GrantCluster(ctx, "a", dirA)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.GrantCluster(ctx, "b", dirB); err != nil {
		t.Fatal(err)
	}
	if a.CAFile != c.CAFile {
		t.Errorf("cluster CA file %s, want the members' CA %s", a.CAFile, c.CAFile)
	}
	if fi, err := os.Stat(a.KeyFile); err != nil || fi.Mode().Perm() != 0o600 || filepath.Dir(a.KeyFile) != dirA {
		t.Errorf("cluster key %s: %v %v, want mode 0600 in %s", a.KeyFile, fi.Mode(), err, dirA)
	}
	asA := c.Client(a.CertFile, a.KeyFile)
	if _, err := asA.Put(ctx, ClusterDataPrefix("a")+"/x", "1"); err != nil {
		t.Fatalf("cluster a writes its prefix: %v", err)
	}
	for _, key := range []string{ClusterDataPrefix("b") + "/x", clusterKey("x"), "/other", compactRevKey + "x"} {
		if _, err := asA.Get(ctx, key); !errors.Is(err, rpctypes.ErrPermissionDenied) {
			t.Errorf("cluster a reads %s: %v, want permission denied", key, err)
		}
	}
	// Its kube-apiserver takes its turn compacting, as upstream, through the
	// one key outside its prefix it may use.
	if _, _, _, err := compactOnce(ctx, asA, 0, 0); err != nil {
		t.Errorf("cluster a's turn at compacting: %v", err)
	}

	if err := s.RevokeCluster(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	users, err := s.Client.UserList(ctx)
	if err != nil || strings.Contains(strings.Join(users.Users, ","), clusterUser("a")) {
		t.Fatalf("users after revoke: %v %v", users.Users, err)
	}
	if _, err := asA.Get(ctx, ClusterDataPrefix("a")+"/x"); err == nil {
		t.Error("a revoked cluster still reads its prefix")
	}
	s.Close()

	// Auth is on now: kplane opens again, and a client without the root
	// role is refused with a clear error.
	again, err := Open(ctx, cfg)
	if err != nil {
		t.Fatalf("reopen with auth on: %v", err)
	}
	again.Close()
	_, err = Open(ctx, externalConfig(t, c, "nobody"))
	if err == nil || !strings.Contains(err.Error(), "root role") {
		t.Fatalf("open as a user without the root role: %v", err)
	}
}

// A client CA the members do not trust, or members that cannot be reached,
// are errors at start, not a hang or a failure of every cluster later.
func TestExternalEtcdWrongCAOrUnreachable(t *testing.T) {
	c := etcdtest.Start(t, 1)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cfg := externalConfig(t, c, "kplane")
	dir := t.TempDir()
	cfg.TLS.ClientCACertFile, cfg.TLS.ClientCAKeyFile = filepath.Join(dir, "other.crt"), filepath.Join(dir, "other.key")
	if _, err := pki.LoadOrCreateCA(cfg.TLS.ClientCACertFile, cfg.TLS.ClientCAKeyFile, "not-trusted"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err := Open(ctx, cfg)
	if err == nil || !strings.Contains(err.Error(), "do not accept client certificates from "+cfg.TLS.ClientCACertFile) {
		t.Fatalf("open with an untrusted client CA: %v", err)
	}
	t.Logf("untrusted client CA refused in %v: %v", time.Since(start).Round(time.Millisecond), err)

	cfg = externalConfig(t, c, "kplane")
	cfg.Endpoints = []string{"https://127.0.0.1:1"}
	short, cancelShort := context.WithTimeout(ctx, 3*time.Second)
	defer cancelShort()
	start = time.Now()
	if _, err := Open(short, cfg); err == nil || !strings.Contains(err.Error(), "https://127.0.0.1:1") {
		t.Fatalf("open on an unreachable etcd: %v", err)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("open on an unreachable etcd took %v", took)
	}
}

// Commands run beside serve find its external etcd in the data directory,
// and a serve on the embedded etcd later takes that back.
func TestRememberExternal(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, endpointFile), []byte("https://127.0.0.1:1"), 0o600)
	cfg := Config{DataDir: dir, Endpoints: []string{"https://e1:2379", "https://e2:2379"},
		TLS: EtcdTLS{CAFile: "ca.crt", CertFile: "/k.crt", KeyFile: "/k.key", ClientCACertFile: "/cca.crt", ClientCAKeyFile: "/cca.key"}}
	if err := RememberExternal(cfg); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, externalFile))
	if strings.Contains(string(b), "cca") {
		t.Errorf("the client CA is remembered: %s", b)
	}
	if fi, err := os.Stat(filepath.Join(dir, externalFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("%s: %v %v, want mode 0600", externalFile, fi.Mode(), err)
	}
	if _, err := os.Stat(filepath.Join(dir, endpointFile)); !os.IsNotExist(err) {
		t.Errorf("the embedded endpoint file is still there: %v", err)
	}
	got, err := BesideConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	abs, _ := filepath.Abs("ca.crt")
	want := EtcdTLS{CAFile: abs, CertFile: "/k.crt", KeyFile: "/k.key"}
	if got.TLS != want || strings.Join(got.Endpoints, ",") != "https://e1:2379,https://e2:2379" || got.DataDir != dir {
		t.Fatalf("BesideConfig: %+v, want %+v", got, want)
	}

	// The embedded etcd replaces it.
	s, err := Open(context.Background(), Config{DataDir: dir, Logger: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, err := os.Stat(filepath.Join(dir, externalFile)); !os.IsNotExist(err) {
		t.Errorf("%s survives an embedded start: %v", externalFile, err)
	}
	got, err = BesideConfig(dir)
	if err != nil || !got.TLS.IsZero() || len(got.Endpoints) != 1 || got.Endpoints[0] != s.Endpoints[0] {
		t.Fatalf("BesideConfig after an embedded start: %+v %v, want %v", got, err, s.Endpoints)
	}
}
