package access

import (
	"context"
	"io"
	"log/slog"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/kplane/kplane/internal/auth"
	"github.com/kplane/kplane/internal/eks/shapes"
	"github.com/kplane/kplane/internal/store"
)

const nodeRoleArn = "arn:aws:iam::000000000000:role/nodes/NodeRole"

func nodeSession(instanceID string) *auth.TokenIdentity {
	return &auth.TokenIdentity{
		ARN:          "arn:aws:sts::000000000000:assumed-role/NodeRole/" + instanceID,
		CanonicalARN: "arn:aws:iam::000000000000:role/NodeRole",
		AccountID:    "000000000000", SessionName: instanceID, AccessKeyID: "ASIANODE", UserID: "AROANODE:" + instanceID,
	}
}

// nodeFixture is a store with a cluster in mode and one running instance.
func nodeFixture(t *testing.T, mode string) (*store.Store, *store.ClusterRecord, store.Instance) {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, store.Config{DataDir: t.TempDir(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	n, err := st.EnsureDefaultNetwork(ctx, []string{"us-west-2a", "us-west-2b"})
	if err != nil {
		t.Fatal(err)
	}
	rec := &store.ClusterRecord{Cluster: shapes.Cluster{Name: "demo", ID: "cid-" + mode, Status: shapes.StatusActive,
		AccessConfig: &shapes.AccessConfig{AuthenticationMode: mode}}}
	if _, _, err := st.CreateCluster(ctx, rec, "", 100); err != nil {
		t.Fatal(err)
	}
	inst, err := st.LaunchInstance(ctx, store.Instance{ID: "i-0123456789abcdef0", Cluster: "demo", Nodegroup: "ng",
		SubnetID: n.Subnets[0].ID, State: store.InstanceRunning, LaunchTime: time.Now()},
		func(ip netip.Addr) string {
			return "ip-" + strings.ReplaceAll(ip.String(), ".", "-") + ".us-west-2.compute.internal"
		})
	if err != nil {
		t.Fatal(err)
	}
	return st, rec, inst
}

func TestNodeJoinsThroughAwsAuth(t *testing.T) {
	st, rec, inst := nodeFixture(t, ModeConfigMap)
	ctx := context.Background()
	mapRoles := "- rolearn: " + nodeRoleArn + "\n  username: system:node:{{EC2PrivateDNSName}}\n  groups:\n  - system:bootstrappers\n  - system:nodes\n"
	m := &Mapper{Store: st, AwsAuthTTL: time.Nanosecond, ReadAwsAuth: func(context.Context, *store.ClusterRecord) (AwsAuth, error) {
		return AwsAuth{MapRoles: mapRoles}, nil
	}}
	u, ok, err := m.Map(ctx, rec.Cluster.ID, nodeSession(inst.ID))
	if err != nil || !ok || u.Username != "system:node:"+inst.PrivateDNSName || strings.Join(u.Groups, ",") != "system:bootstrappers,system:nodes" {
		t.Fatalf("node: %+v %v %v", u, ok, err)
	}
	// A session that is no instance, or names none, gets no access.
	for _, session := range []string{"alice", "i-00000000000000000", "i-0123"} {
		if _, ok, err := m.Map(ctx, rec.Cluster.ID, nodeSession(session)); ok || err != nil {
			t.Errorf("session %q: ok=%v err=%v", session, ok, err)
		}
	}
	// Removing the mapping keeps new nodes out.
	mapRoles = ""
	if _, ok, _ := m.Map(ctx, rec.Cluster.ID, nodeSession(inst.ID)); ok {
		t.Error("a node got in without its aws-auth entry")
	}
	// A terminated instance is no node.
	mapRoles = "- rolearn: " + nodeRoleArn + "\n  username: system:node:{{EC2PrivateDNSName}}\n  groups: [system:nodes]\n"
	if err := st.TerminateInstance(ctx, "demo", "ng", inst.ID, "test"); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := m.Map(ctx, rec.Cluster.ID, nodeSession(inst.ID)); ok {
		t.Error("a terminated instance got in")
	}
}

func TestNodeJoinsThroughEC2LinuxAccessEntry(t *testing.T) {
	st, rec, inst := nodeFixture(t, ModeAPI)
	ctx := context.Background()
	m := &Mapper{Store: st}
	if _, ok, _ := m.Map(ctx, rec.Cluster.ID, nodeSession(inst.ID)); ok {
		t.Fatal("a node got in without an access entry")
	}
	entry := &store.AccessEntryRecord{Entry: shapes.AccessEntry{ClusterName: "demo", PrincipalArn: nodeRoleArn, Type: "EC2_LINUX"}}
	if err := st.CreateAccessEntry(ctx, entry); err != nil {
		t.Fatal(err)
	}
	u, ok, err := m.Map(ctx, rec.Cluster.ID, nodeSession(inst.ID))
	if err != nil || !ok || u.Username != "system:node:"+inst.PrivateDNSName || strings.Join(u.Groups, ",") != "system:nodes" {
		t.Fatalf("node: %+v %v %v", u, ok, err)
	}
	if err := st.DeleteAccessEntry(ctx, "demo", nodeRoleArn); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := m.Map(ctx, rec.Cluster.ID, nodeSession(inst.ID)); ok {
		t.Error("a node got in after its access entry was deleted")
	}
}

func TestExpandSessionName(t *testing.T) {
	id := &auth.TokenIdentity{SessionName: "alice@example.com", AccountID: "000000000000", AccessKeyID: "ASIA1"}
	got := expand("{{SessionName}}|{{SessionNameRaw}}|{{AccountID}}|{{AccessKeyID}}|{{EC2PrivateDNSName}}", id)
	// {{EC2PrivateDNSName}} is left for fillInstanceName, which needs the store.
	if want := "alice-example.com|alice@example.com|000000000000|ASIA1|{{EC2PrivateDNSName}}"; got != want {
		t.Errorf("expand: %q, want %q", got, want)
	}
}

// A node on a machine that is no instance (EKS Hybrid Nodes; `kplane node
// join`) takes its node role with its node name as session name; a
// HYBRID_LINUX access entry maps it to system:node:{{SessionName}}.
func TestNodeJoinsThroughHybridLinuxAccessEntry(t *testing.T) {
	st, rec, _ := nodeFixture(t, ModeAPI)
	ctx := context.Background()
	m := &Mapper{Store: st}
	const name = "ip-10-213-0-2.us-west-2.compute.internal"
	if _, ok, _ := m.Map(ctx, rec.Cluster.ID, nodeSession(name)); ok {
		t.Fatal("a node got in without an access entry")
	}
	entry := &store.AccessEntryRecord{Entry: shapes.AccessEntry{ClusterName: "demo", PrincipalArn: nodeRoleArn, Type: "HYBRID_LINUX"}}
	if err := st.CreateAccessEntry(ctx, entry); err != nil {
		t.Fatal(err)
	}
	u, ok, err := m.Map(ctx, rec.Cluster.ID, nodeSession(name))
	if err != nil || !ok || u.Username != "system:node:"+name || strings.Join(u.Groups, ",") != "system:nodes" {
		t.Fatalf("node: %+v %v %v", u, ok, err)
	}
}
