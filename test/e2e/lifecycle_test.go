//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// TestClusterLifecycle takes one cluster through its whole life with the aws
// CLI and kubectl: create, use, a SIGKILL of kplane, a logging update,
// delete, and then checks that nothing of it is left.
func TestClusterLifecycle(t *testing.T) {
	k := startKplane(t)
	const name = "life"
	const ns = "e2e-life"

	// --- create, ACTIVE
	created := k.createCluster(name)
	c, took := k.waitActive(name, 3*time.Minute)
	t.Logf("timing: CREATING -> ACTIVE in %v", took.Round(time.Millisecond))
	if c.ID != created.ID {
		t.Fatalf("cluster id changed from %s to %s", created.ID, c.ID)
	}
	if len(c.Health.Issues) != 0 {
		t.Errorf("ACTIVE cluster has health issues: %+v", c.Health.Issues)
	}

	// --- endpoint is https and the CA verifies its certificate
	host, addr := hostPort(t, c.Endpoint)
	caPEM, err := base64.StdEncoding.DecodeString(c.CertificateAuthority.Data)
	if err != nil || len(caPEM) == 0 {
		t.Fatalf("certificateAuthority.data %q: %v", c.CertificateAuthority.Data, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatalf("certificateAuthority.data holds no PEM certificate: %q", caPEM)
	}
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, &tls.Config{RootCAs: pool, ServerName: host})
	if err != nil {
		t.Fatalf("TLS to %s with the cluster's CA (server name %s): %v", c.Endpoint, host, err)
	}
	leaf := conn.ConnectionState().PeerCertificates[0]
	conn.Close()
	t.Logf("endpoint %s serves %q (issuer %q), verified by the cluster CA", c.Endpoint, leaf.Subject.CommonName, leaf.Issuer.CommonName)
	// The check means something: without the CA the same dial must fail.
	if conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, &tls.Config{RootCAs: x509.NewCertPool(), ServerName: host}); err == nil {
		conn.Close()
		t.Errorf("TLS to %s verified with an empty CA pool", c.Endpoint)
	}

	// --- kubectl: namespace, ConfigMap, Deployment; the controller-manager makes the ReplicaSet
	kc := k.kubeconfig(name)
	if creds := k.readKubeconfig(kc); creds.Server != c.Endpoint || !bytes.Equal(bytes.TrimSpace(creds.CAPEM), bytes.TrimSpace(caPEM)) {
		t.Errorf("kubeconfig server %q / CA differ from describe-cluster's endpoint %q / CA", creds.Server, c.Endpoint)
	}
	k.mustKubectl(kc, "create", "namespace", ns)
	k.mustKubectl(kc, "create", "configmap", "kept", "-n", ns, "--from-literal=answer=42")
	k.mustKubectl(kc, "create", "deployment", "web", "-n", ns, "--image=registry.invalid/e2e/none:1")
	took = eventually(t, 60*time.Second, pollStep, "ReplicaSet of deployment web", func() error {
		out, err := k.kubectl(kc, "get", "rs", "-n", ns, "-o", "name")
		if err != nil {
			return err
		}
		if !strings.Contains(out, "replicaset.apps/web-") {
			return fmt.Errorf("no ReplicaSet yet: %q", out)
		}
		return nil
	})
	t.Logf("timing: controller-manager made the ReplicaSet %v after the Deployment", took.Round(time.Millisecond))

	cli := k.etcd()
	dataPrefix := "/kplane-clusters/" + c.ID + "/"
	if n := countKeys(t, cli, dataPrefix); n == 0 {
		t.Fatalf("no etcd keys under %s while the cluster is ACTIVE: the leftover check below would prove nothing", dataPrefix)
	} else {
		t.Logf("%d etcd keys under %s while ACTIVE", n, dataPrefix)
	}
	if u, r := etcdAuthNaming(t, cli, c.ID); len(u)+len(r) > 0 {
		t.Logf("etcd users %v and roles %v name the cluster while ACTIVE", u, r)
	}
	cli.Close()

	// --- SIGKILL kplane serve, start it again on the same data dir and port
	oldChild := k.controlPlanePID(c.ID)
	k.sigkill()
	// Children never outlive kplane (Pdeathsig, and a parent watch as backup).
	eventually(t, 10*time.Second, 100*time.Millisecond, "control plane gone with kplane", func() error {
		if procs := processesMatching(k.clusterDir(c.ID)); len(procs) > 0 {
			return fmt.Errorf("still running after kplane serve was killed: %v", procs)
		}
		return nil
	})
	restartedAt := time.Now()
	k.start()
	out := k.mustAWS("eks", "list-clusters")
	var list struct{ Clusters []string }
	if err := json.Unmarshal([]byte(out), &list); err != nil || !slices.Contains(list.Clusters, name) {
		t.Fatalf("after restart list-clusters = %s (%v), want %s in it", out, err, name)
	}
	c2, _ := k.waitActive(name, 3*time.Minute)
	if c2.Endpoint != c.Endpoint || c2.CertificateAuthority.Data != c.CertificateAuthority.Data || c2.ID != c.ID {
		t.Errorf("after restart endpoint/CA/id changed: %s %s -> %s %s", c.Endpoint, c.ID, c2.Endpoint, c2.ID)
	}
	// The kubeconfig taken before the restart still works and the ConfigMap is there.
	took = eventually(t, 90*time.Second, pollStep, "ConfigMap after kplane restart", func() error {
		out, err := k.kubectl(kc, "get", "configmap", "kept", "-n", ns, "-o", "jsonpath={.data.answer}")
		if err != nil {
			return err
		}
		if out != "42" {
			return fmt.Errorf("configmap kept has answer=%q, want 42", out)
		}
		return nil
	})
	t.Logf("timing: after SIGKILL + restart of kplane, the cluster's API answered again in %v (%v after the restart began); control-plane pid %d -> %d",
		took.Round(time.Millisecond), time.Since(restartedAt).Round(time.Millisecond), oldChild, k.controlPlanePID(c.ID))
	// At most one process per replica (the second may still be starting):
	// the old ones died with the old kplane.
	alive := processesMatching("--dir " + k.clusterDir(c.ID))
	dirs := map[string]bool{}
	for _, cmdline := range alive {
		dirs[cmdline[strings.Index(cmdline, "--dir "):]] = true
	}
	if len(alive) == 0 || len(alive) > len(k.replicaZones(c.ID)) || len(dirs) != len(alive) {
		t.Errorf("after restart want one control-plane process per replica (%v), got %v", k.replicaZones(c.ID), alive)
	}
	if c3 := k.mustDescribe(name); c3.Status != "ACTIVE" {
		t.Errorf("after restart status %s, want ACTIVE (issues %+v)", c3.Status, c3.Health.Issues)
	}

	// --- update-cluster-config: api + audit logging
	out = k.mustAWS("eks", "update-cluster-config", "--name", name,
		"--logging", `{"clusterLogging":[{"types":["api","audit"],"enabled":true}]}`)
	var upd struct {
		Update struct{ ID, Status, Type string }
	}
	if err := json.Unmarshal([]byte(out), &upd); err != nil || upd.Update.ID == "" {
		t.Fatalf("update-cluster-config answered %s (%v)", out, err)
	}
	if upd.Update.Status != "InProgress" || upd.Update.Type != "LoggingUpdate" {
		t.Errorf("update-cluster-config: update %s %s, want LoggingUpdate InProgress", upd.Update.Type, upd.Update.Status)
	}
	took = eventually(t, 3*time.Minute, pollStep, "LoggingUpdate Successful", func() error {
		out, err := k.awsCLI("eks", "describe-update", "--name", name, "--update-id", upd.Update.ID)
		if err != nil {
			return err
		}
		var d struct {
			Update struct {
				Status string
				Errors []any
			}
		}
		if err := json.Unmarshal([]byte(out), &d); err != nil {
			return err
		}
		switch d.Update.Status {
		case "Successful":
			return nil
		case "Failed", "Cancelled":
			t.Fatalf("update %s ended %s: %s", upd.Update.ID, d.Update.Status, out)
		}
		return fmt.Errorf("update status %s", d.Update.Status)
	})
	t.Logf("timing: LoggingUpdate Successful after %v", took.Round(time.Millisecond))
	c4 := k.mustDescribe(name)
	if enabled := c4.enabledLogTypes(); !slices.Contains(enabled, "api") || !slices.Contains(enabled, "audit") ||
		slices.Contains(enabled, "scheduler") || slices.Contains(enabled, "controllerManager") {
		t.Errorf("after the update the enabled log types are %v, want api and audit only", enabled)
	}
	if c4.Status != "ACTIVE" {
		t.Errorf("after a Successful update status %s, want ACTIVE", c4.Status)
	}

	// --- the audit log has events, among them one for a request made now
	eventually(t, 90*time.Second, pollStep, "API back after the logging update", func() error {
		_, err := k.kubectl(kc, "create", "configmap", "audited", "-n", ns, "--from-literal=x=y")
		if err != nil && strings.Contains(err.Error(), "AlreadyExists") {
			return nil
		}
		return err
	})
	var events int
	took = eventually(t, 30*time.Second, pollStep, "audit event of creating configmap audited", func() error {
		out, err := k.kplaneCLI("logs", name, "audit")
		if err != nil {
			return err
		}
		events = 0
		found := false
		for _, line := range strings.SplitAfter(out, "\n") {
			if !strings.HasSuffix(line, "\n") || strings.TrimSpace(line) == "" {
				continue // a line still being written
			}
			var ev struct {
				Kind      string `json:"kind"`
				Verb      string `json:"verb"`
				ObjectRef struct {
					Resource, Namespace, Name string
				} `json:"objectRef"`
			}
			if err := json.Unmarshal([]byte(line), &ev); err != nil {
				t.Fatalf("audit log line is not JSON: %v: %q", err, line)
			}
			if ev.Kind != "Event" {
				t.Fatalf(`audit log line has kind %q, want "Event": %q`, ev.Kind, line)
			}
			events++
			if ev.Verb == "create" && ev.ObjectRef.Resource == "configmaps" && ev.ObjectRef.Namespace == ns && ev.ObjectRef.Name == "audited" {
				found = true
			}
		}
		if !found {
			return fmt.Errorf("%d audit events, none for creating configmap %s/audited", events, ns)
		}
		return nil
	})
	t.Logf("kplane logs %s audit: %d JSON events (kind Event), including our create, %v after it", name, events, took.Round(time.Millisecond))
	if out, err := k.kplaneCLI("logs", name, "api"); err != nil || strings.TrimSpace(out) == "" {
		t.Errorf("kplane logs %s api: %v, %d bytes", name, err, len(out))
	}
	if _, err := k.kplaneCLI("logs", name, "scheduler"); err == nil || !strings.Contains(err.Error(), "not enabled") {
		t.Errorf("kplane logs %s scheduler (not enabled): want a 'not enabled' error, got %v", name, err)
	}

	// --- delete; gone; nothing left
	endpoint := c.Endpoint
	cdir := k.clusterDir(c.ID)
	out = k.mustAWS("eks", "delete-cluster", "--name", name)
	var del struct{ Cluster cluster }
	if err := json.Unmarshal([]byte(out), &del); err != nil || del.Cluster.Status != "DELETING" {
		t.Errorf("delete-cluster answered status %q (%v), want DELETING", del.Cluster.Status, err)
	}
	took = k.waitGone(name)
	t.Logf("timing: deleted (describe-cluster: ResourceNotFoundException) %v after delete-cluster", took.Round(time.Millisecond))

	if procs := processesMatching(cdir); len(procs) != 0 {
		t.Errorf("processes of the deleted cluster are still running: %v", procs)
	}
	if conn, err := net.DialTimeout("tcp", addr, 2*time.Second); err == nil {
		conn.Close()
		t.Errorf("the deleted cluster's endpoint %s still accepts connections", endpoint)
	} else if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("dial %s: want connection refused, got %v", endpoint, err)
	}
	if _, err := os.Stat(cdir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("cluster dir %s still exists (stat: %v)", cdir, err)
	}
	cli = k.etcd()
	for _, prefix := range []string{dataPrefix, "/kplane/clusters/" + name, "/kplane/updates/" + name + "/"} {
		if n := countKeys(t, cli, prefix); n != 0 {
			t.Errorf("%d etcd keys left under %s", n, prefix)
		}
	}
	if u, r := etcdAuthNaming(t, cli, c.ID); len(u)+len(r) > 0 {
		t.Errorf("etcd users %v / roles %v of the deleted cluster are left", u, r)
	}
	out = k.mustAWS("eks", "list-clusters")
	if strings.Contains(out, `"`+name+`"`) {
		t.Errorf("list-clusters still lists %s: %s", name, out)
	}
}

// etcdAuthNaming lists the etcd users and roles whose name contains id (the
// per-cluster credentials of the cluster's apiserver).
func etcdAuthNaming(t *testing.T, cli *clientv3.Client, id string) (users, roles []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ul, err := cli.UserList(ctx)
	if err != nil {
		t.Fatalf("etcd user list: %v", err)
	}
	rl, err := cli.RoleList(ctx)
	if err != nil {
		t.Fatalf("etcd role list: %v", err)
	}
	for _, u := range ul.Users {
		if strings.Contains(u, id) {
			users = append(users, u)
		}
	}
	for _, r := range rl.Roles {
		if strings.Contains(r, id) {
			roles = append(roles, r)
		}
	}
	return users, roles
}
