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

	clientv3 "go.etcd.io/etcd/client/v3"
)

// TestExternalEtcd runs kplane on an external three-member etcd (TLS,
// client-certificate auth) and checks that kplane and its clusters keep
// working while one member (the leader) is stopped and after it returns,
// across a SIGKILL of kplane, and that deleting the clusters leaves nothing
// of them in that etcd.
func TestExternalEtcd(t *testing.T) {
	x := startExternalEtcd(t)
	// One replica per cluster: this machine runs three etcd members and two
	// clusters at once.
	k := startKplaneWith(t, append(x.serveFlags(), "--control-plane-replicas", "1")...)
	root := x.root()

	// kplane's own files stay in DATA_DIR; etcd's data does not.
	for _, f := range []string{"credentials", "iam-master.key", "etcd-external.json"} {
		if _, err := os.Stat(filepath.Join(k.dataDir, f)); err != nil {
			t.Errorf("DATA_DIR/%s: %v", f, err)
		}
	}
	for _, f := range []string{"etcd", "etcd-endpoint"} {
		if _, err := os.Stat(filepath.Join(k.dataDir, f)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("DATA_DIR/%s exists (%v): the embedded etcd ran", f, err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	if st, err := root.AuthStatus(ctx); err != nil || !st.Enabled {
		t.Fatalf("external etcd auth: %+v %v, want kplane to have turned it on", st, err)
	}

	// --- cluster A on all three members
	a := k.createActive("ext-a")
	kcA := k.kubeconfig("ext-a") // kplane kubeconfig finds the external etcd from DATA_DIR
	k.mustKubectl(kcA, "create", "configmap", "kept", "--from-literal=k=v")
	// The same flags as serve's work for the commands beside it.
	out, err := k.exec(60*time.Second, kplaneBin, append([]string{"network", "--subnet-ids", "--data-dir", k.dataDir}, x.flags()...)...)
	if err != nil || strings.TrimSpace(out) != k.subnetIDs() {
		t.Errorf("kplane network --subnet-ids with the etcd flags: %q %v, want %q", out, err, k.subnetIDs())
	}
	if n := countKeys(t, root, "/kplane-clusters/"+a.ID+"/"); n == 0 {
		t.Errorf("no keys of cluster A under /kplane-clusters/%s/ in the external etcd", a.ID)
	}

	// --- stop the leader: kplane and cluster A go on, cluster B comes up
	stopped := x.leader()
	stopAt := time.Now()
	x.Stop(stopped)
	t.Logf("stopped etcd member %s (the leader)", x.Members[stopped].Name)
	k.mustKubectl(kcA, "get", "configmap", "kept")
	b := k.createActive("ext-b")
	if c := k.mustDescribe("ext-a"); c.Status != "ACTIVE" {
		t.Errorf("ext-a is %s with a member stopped, want ACTIVE", c.Status)
	}
	if out := k.mustAWS("eks", "list-clusters"); !strings.Contains(out, `"ext-a"`) || !strings.Contains(out, `"ext-b"`) {
		t.Errorf("list-clusters with a member stopped: %s", out)
	}
	k.mustKubectl(kcA, "create", "configmap", "while-down", "--from-literal=k=v")
	kcB := k.kubeconfig("ext-b")
	k.mustKubectl(kcB, "create", "configmap", "b-while-down", "--from-literal=k=v")
	t.Logf("timing: with member %s stopped for %v: ext-b ACTIVE, reads and writes on both clusters",
		x.Members[stopped].Name, time.Since(stopAt).Round(time.Millisecond))

	// --- the member returns and catches up
	x.Restart(stopped)
	took := x.waitHealthy(time.Minute)
	t.Logf("timing: member %s restarted; all three healthy and caught up %v later", x.Members[stopped].Name, took.Round(time.Millisecond))
	k.mustKubectl(kcA, "get", "configmap", "while-down")
	k.mustKubectl(kcB, "create", "configmap", "after-return", "--from-literal=k=v")
	k.mustDescribe("ext-b")

	// --- SIGKILL kplane and start it again on the same etcd
	k.sigkill()
	k.start()
	for _, name := range []string{"ext-a", "ext-b"} {
		k.waitActive(name, 3*time.Minute)
	}
	back := time.Now()
	k.kubectlEventually(2*time.Minute, kcA, "get", "configmap", "kept")
	k.kubectlEventually(2*time.Minute, kcB, "get", "configmap", "after-return")
	t.Logf("timing: after kplane's SIGKILL and restart, both clusters answer kubectl %v after readyz", time.Since(back).Round(time.Millisecond))

	// --- cluster A's etcd user reaches only A's prefix on the external etcd
	certA, keyA := k.clusterEtcdPair(a.ID)
	asA := x.Client(certA, keyA)
	if resp, err := asA.Get(ctx, "/kplane-clusters/"+a.ID+"/", clientv3.WithPrefix(), clientv3.WithCountOnly()); err != nil || resp.Count == 0 {
		t.Errorf("A's etcd user on A's prefix: %v, want its keys", err)
	}
	for _, prefix := range []string{"/kplane-clusters/" + b.ID + "/", "/kplane/", "/kplane-clusters/"} {
		if _, err := asA.Get(ctx, prefix, clientv3.WithPrefix(), clientv3.WithCountOnly()); !isPermissionDenied(err) {
			t.Errorf("A's etcd user reads %s: %v, want permission denied", prefix, err)
		}
	}
	if _, err := asA.Put(ctx, "/kplane-clusters/"+b.ID+"/planted-by-a", "x"); !isPermissionDenied(err) {
		t.Errorf("A's etcd user writes into B's prefix: %v, want permission denied", err)
	}

	// --- delete both; nothing of them is left in the external etcd
	for _, name := range []string{"ext-a", "ext-b"} {
		k.mustAWS("eks", "delete-cluster", "--name", name)
	}
	for _, name := range []string{"ext-a", "ext-b"} {
		k.waitGone(name)
	}
	if n := countKeys(t, root, "/kplane-clusters/"); n != 0 {
		t.Errorf("%d keys left under /kplane-clusters/", n)
	}
	for _, prefix := range []string{"/kplane/clusters/", "/kplane/updates/"} {
		if n := countKeys(t, root, prefix); n != 0 {
			t.Errorf("%d keys left under %s", n, prefix)
		}
	}
	for _, id := range []string{a.ID, b.ID} {
		if u, r := etcdAuthNaming(t, root, id); len(u)+len(r) > 0 {
			t.Errorf("etcd users %v / roles %v of deleted cluster %s are left", u, r, id)
		}
	}
	x.waitHealthy(30 * time.Second)

	// No key ever reaches the log or the settings kplane left in DATA_DIR.
	logged, _ := os.ReadFile(k.logPath)
	kept, _ := os.ReadFile(filepath.Join(k.dataDir, "etcd-external.json"))
	if strings.Contains(string(logged), "PRIVATE KEY") || strings.Contains(string(kept), "PRIVATE KEY") ||
		strings.Contains(string(kept), x.ClientCAKeyFile) {
		t.Errorf("a key (or the client CA key's path) is in serve's log or DATA_DIR/etcd-external.json: %s", kept)
	}
}
