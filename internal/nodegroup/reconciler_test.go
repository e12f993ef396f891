package nodegroup

import (
	"context"
	"io"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kplane/kplane/internal/eks/shapes"
	"github.com/kplane/kplane/internal/nodenet"
	"github.com/kplane/kplane/internal/runinfo"
	"github.com/kplane/kplane/internal/store"
)

// fakeExecutor stands in for the node executor in these unit tests only:
// it records what it was asked and answers as told.
type fakeExecutor struct {
	mu      sync.Mutex
	specs   map[string]NodeSpec // by instance id, of nodes ensured and not removed
	removed []string
	ready   bool
	failed  string
	blocked bool
}

func (f *fakeExecutor) EnsureNode(_ context.Context, s NodeSpec) (NodeState, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failed != "" {
		return NodeState{Failed: f.failed}, nil
	}
	f.specs[s.InstanceID] = s
	return NodeState{Running: true, Ready: f.ready}, nil
}

func (f *fakeExecutor) RemoveNode(_ context.Context, s NodeSpec) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.blocked {
		return &EvictionBlockedError{Pods: []string{"default/web-1"}}
	}
	delete(f.specs, s.InstanceID)
	f.removed = append(f.removed, s.InstanceID)
	return nil
}

func (f *fakeExecutor) set(fn func(*fakeExecutor)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

type fixture struct {
	t    *testing.T
	st   *store.Store
	r    *Reconciler
	exec *fakeExecutor
	net  *store.Network
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, store.Config{DataDir: t.TempDir(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	n, err := st.EnsureDefaultNetwork(ctx, []string{"us-west-2a", "us-west-2b", "us-west-2c"})
	if err != nil {
		t.Fatal(err)
	}
	cl := &store.ClusterRecord{Cluster: shapes.Cluster{
		Name: "demo", ID: "c-1", Version: "1.37", Status: shapes.StatusActive, Endpoint: "https://127.0.0.1:6443",
		CertificateAuthority:    &shapes.Certificate{Data: "Q0E="},
		ResourcesVpcConfig:      &shapes.VpcConfigResponse{SubnetIDs: []string{n.Subnets[0].ID, n.Subnets[1].ID}, VpcID: n.Subnets[0].VpcID},
		KubernetesNetworkConfig: &shapes.KubernetesNetworkConfig{ServiceIpv4Cidr: "10.100.0.0/16"},
	}, Port: 6443}
	if _, _, err := st.CreateCluster(ctx, cl, "", 100); err != nil {
		t.Fatal(err)
	}
	exec := &fakeExecutor{specs: map[string]NodeSpec{}}
	r := &Reconciler{Executor: exec, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), DrainTimeout: time.Hour}
	r.Bind(st, runinfo.Info{Region: "us-west-2", AccountID: "000000000000"})
	return &fixture{t: t, st: st, r: r, exec: exec, net: n}
}

func (f *fixture) createNodegroup(name string, desired int, subnets ...string) {
	f.t.Helper()
	crec, err := f.st.GetCluster(context.Background(), "demo")
	if err != nil {
		f.t.Fatal(err)
	}
	rec := &store.NodegroupRecord{ID: "ng-id", ImageID: "ami-0123456789abcdef0", Nodegroup: shapes.Nodegroup{
		NodegroupName: name, ClusterName: "demo", Version: "1.37", Status: shapes.NodegroupCreating,
		CreatedAt: now(time.Now()), CapacityType: "ON_DEMAND", InstanceTypes: []string{"t3.medium"}, Subnets: subnets,
		AmiType: "AL2023_x86_64_STANDARD", NodeRole: "arn:aws:iam::000000000000:role/node",
		ScalingConfig: &shapes.NodegroupScalingConfig{MinSize: shapes.Int(0), MaxSize: shapes.Int(10), DesiredSize: shapes.Int(desired)},
		Labels:        map[string]string{"team": "a"}, Taints: []shapes.Taint{{Key: "dedicated", Value: "gpu", Effect: "NO_SCHEDULE"}},
		Resources: &shapes.NodegroupResources{AutoScalingGroups: []shapes.AutoScalingGroup{{Name: "eks-" + name + "-ng-id"}}},
		Health:    &shapes.NodegroupHealth{Issues: []shapes.NodegroupIssue{}},
	}}
	if _, _, err := f.st.CreateNodegroup(context.Background(), rec, crec.Revision, "", nil); err != nil {
		f.t.Fatal(err)
	}
}

// settle reconciles until the nodegroup asks for no quick look again.
func (f *fixture) settle(name string) *store.NodegroupRecord {
	f.t.Helper()
	for i := 0; i < 20; i++ {
		again, err := f.r.Reconcile(context.Background(), "demo", name)
		if err != nil {
			f.t.Fatal(err)
		}
		if again == 0 || again >= time.Second {
			break
		}
	}
	rec, err := f.st.GetNodegroup(context.Background(), "demo", name)
	if err != nil && err != store.ErrNotFound {
		f.t.Fatal(err)
	}
	return rec
}

func (f *fixture) live(name string) []store.Instance {
	insts, err := f.st.NodegroupInstances(context.Background(), "demo", name)
	if err != nil {
		f.t.Fatal(err)
	}
	var out []store.Instance
	for _, i := range insts {
		if i.Live() {
			out = append(out, i)
		}
	}
	return out
}

func TestCreateSpreadsInstancesAndGoesActiveWhenReady(t *testing.T) {
	f := newFixture(t)
	a, b := f.net.Subnets[0], f.net.Subnets[1]
	f.createNodegroup("ng", 2, a.ID, b.ID)
	if rec := f.settle("ng"); rec.Nodegroup.Status != shapes.NodegroupCreating {
		t.Fatalf("status %s before nodes are Ready, want CREATING", rec.Nodegroup.Status)
	}
	live := f.live("ng")
	if len(live) != 2 || live[0].AvailabilityZone == live[1].AvailabilityZone {
		t.Fatalf("instances %+v, want 2 in two zones", live)
	}
	for _, inst := range live {
		ip := netip.MustParseAddr(inst.PrivateIP)
		if !netip.MustParsePrefix(map[string]string{a.ID: a.CidrBlock, b.ID: b.CidrBlock}[inst.SubnetID]).Contains(ip) {
			t.Errorf("%s: ip %s not in its subnet %s", inst.ID, ip, inst.SubnetID)
		}
		if want := "ip-" + strings.ReplaceAll(inst.PrivateIP, ".", "-") + ".us-west-2.compute.internal"; inst.PrivateDNSName != want {
			t.Errorf("dns %q, want %q", inst.PrivateDNSName, want)
		}
		if inst.Tags["eks:nodegroup-name"] != "ng" || inst.Tags["kubernetes.io/cluster/demo"] != "owned" || inst.Tags["aws:autoscaling:groupName"] != "eks-ng-ng-id" {
			t.Errorf("tags %v", inst.Tags)
		}
		spec := f.exec.specs[inst.ID]
		if spec.NodeName != inst.PrivateDNSName || spec.ProviderID != "aws:///"+inst.AvailabilityZone+"/"+inst.ID ||
			spec.Endpoint != "https://127.0.0.1:6443" || spec.CAData != "Q0E=" || spec.PrivateIP != inst.PrivateIP {
			t.Errorf("spec %+v", spec)
		}
		for k, v := range map[string]string{
			"eks.amazonaws.com/nodegroup": "ng", "eks.amazonaws.com/nodegroup-image": "ami-0123456789abcdef0",
			"eks.amazonaws.com/capacityType": "ON_DEMAND", "node.kubernetes.io/instance-type": "t3.medium",
			"topology.kubernetes.io/region": "us-west-2", "topology.kubernetes.io/zone": inst.AvailabilityZone, "team": "a",
		} {
			if spec.Labels[k] != v {
				t.Errorf("label %s=%q, want %q", k, spec.Labels[k], v)
			}
		}
		if len(spec.Taints) != 1 || spec.Taints[0] != (Taint{"dedicated", "gpu", "NoSchedule"}) {
			t.Errorf("taints %+v", spec.Taints)
		}
		// The node's network: the endpoint at its zone's cluster subnet's
		// gateway, its pod block routed by the VPC.
		subnet := netip.MustParsePrefix(spec.SubnetCIDR)
		if want := "https://" + nodenet.Gateway(subnet).String() + ":6443"; spec.EndpointInVPC != want {
			t.Errorf("EndpointInVPC %q, want %q", spec.EndpointInVPC, want)
		}
		pods, _ := nodenet.PodCIDR(netip.MustParsePrefix("172.31.0.0/16"), netip.MustParsePrefix("100.64.0.0/10"), ip)
		if spec.PodCIDR != pods.String() || spec.PodRange != "100.64.0.0/10" {
			t.Errorf("PodCIDR %q in %q, want %v in 100.64.0.0/10", spec.PodCIDR, spec.PodRange, pods)
		}
	}
	// Addresses are taken from the subnets.
	n, _ := f.st.Network(context.Background())
	for _, sn := range n.Subnets[:2] {
		// the cluster's interface and one instance each
		if sn.Used != 2 {
			t.Errorf("subnet %s used %d, want 2", sn.ID, sn.Used)
		}
	}
	f.exec.set(func(e *fakeExecutor) { e.ready = true })
	if rec := f.settle("ng"); rec.Nodegroup.Status != shapes.NodegroupActive {
		t.Fatalf("status %s with every node Ready, want ACTIVE", rec.Nodegroup.Status)
	}
}

func TestUnavailableExecutorEndsCreateFailed(t *testing.T) {
	f := newFixture(t)
	f.r.Executor = Unavailable{}
	f.createNodegroup("ng", 2, f.net.Subnets[0].ID, f.net.Subnets[1].ID)
	rec := f.settle("ng")
	if rec.Nodegroup.Status != shapes.NodegroupCreateFailed {
		t.Fatalf("status %s, want CREATE_FAILED", rec.Nodegroup.Status)
	}
	is := rec.Nodegroup.Health.Issues
	if len(is) != 1 || is[0].Code != "NodeCreationFailure" || is[0].Message != NodesUnavailable || len(is[0].ResourceIDs) != 2 {
		t.Fatalf("issues %+v", is)
	}
	for _, id := range is[0].ResourceIDs {
		if !strings.HasPrefix(id, "i-") {
			t.Errorf("resource id %q is not an instance id", id)
		}
	}
	if live := f.live("ng"); len(live) != 0 {
		t.Errorf("%d instances still hold addresses after CREATE_FAILED", len(live))
	}
	// A failed nodegroup stays failed; deleting it removes everything.
	if again, err := f.r.Reconcile(context.Background(), "demo", "ng"); err != nil || again != 0 {
		t.Fatalf("reconcile of CREATE_FAILED: %v %v", again, err)
	}
	f.markDeleting("ng")
	f.settle("ng")
	if _, err := f.st.GetNodegroup(context.Background(), "demo", "ng"); err != store.ErrNotFound {
		t.Fatalf("nodegroup after delete: %v", err)
	}
	if all, _ := f.st.Instances(context.Background()); len(all) != 0 {
		t.Errorf("instances left: %+v", all)
	}
}

func (f *fixture) markDeleting(name string) {
	f.t.Helper()
	if _, err := f.st.UpdateNodegroup(context.Background(), "demo", name, func(r *store.NodegroupRecord) error {
		r.Nodegroup.Status = shapes.NodegroupDeleting
		return nil
	}); err != nil {
		f.t.Fatal(err)
	}
}

// startUpdate records an update as the API does: the change in the
// nodegroup, status UPDATING.
func (f *fixture) startUpdate(name string, change func(*shapes.Nodegroup)) string {
	f.t.Helper()
	u := &store.UpdateRecord{Cluster: "demo", Nodegroup: name, Update: shapes.Update{
		ID: "u-" + name + time.Now().Format("150405.000000"), Status: shapes.UpdateInProgress, Type: "ConfigUpdate", CreatedAt: now(time.Now()),
	}}
	if _, err := f.st.StartNodegroupUpdate(context.Background(), u, "", func(r *store.NodegroupRecord) error {
		change(&r.Nodegroup)
		r.Nodegroup.Status = shapes.NodegroupUpdating
		return nil
	}); err != nil {
		f.t.Fatal(err)
	}
	return u.Update.ID
}

func (f *fixture) update(name, id string) *store.UpdateRecord {
	f.t.Helper()
	u, err := f.st.GetNodegroupUpdate(context.Background(), "demo", name, id)
	if err != nil {
		f.t.Fatal(err)
	}
	return u
}

func TestScaleUpAndDownFinishUpdates(t *testing.T) {
	f := newFixture(t)
	f.exec.ready = true
	f.createNodegroup("ng", 2, f.net.Subnets[0].ID, f.net.Subnets[1].ID)
	f.settle("ng")
	id := f.startUpdate("ng", func(ng *shapes.Nodegroup) { ng.ScalingConfig.DesiredSize = shapes.Int(3) })
	rec := f.settle("ng")
	if rec.Nodegroup.Status != shapes.NodegroupActive || len(f.live("ng")) != 3 || f.update("ng", id).Update.Status != shapes.UpdateSuccessful {
		t.Fatalf("after scale to 3: %s, %d instances, update %s", rec.Nodegroup.Status, len(f.live("ng")), f.update("ng", id).Update.Status)
	}
	// Scale down while a disruption budget blocks evictions: the update waits.
	f.exec.set(func(e *fakeExecutor) { e.blocked = true })
	id = f.startUpdate("ng", func(ng *shapes.Nodegroup) { ng.ScalingConfig.DesiredSize = shapes.Int(1) })
	rec = f.settle("ng")
	if rec.Nodegroup.Status != shapes.NodegroupUpdating || f.update("ng", id).Update.Status != shapes.UpdateInProgress {
		t.Fatalf("blocked scale-down: %s, update %s", rec.Nodegroup.Status, f.update("ng", id).Update.Status)
	}
	if is := rec.Nodegroup.Health.Issues; len(is) != 1 || is[0].Code != "PodEvictionFailure" || len(is[0].ResourceIDs) != 2 {
		t.Fatalf("issues %+v", is)
	}
	// Past the drain timeout the update fails with PodEvictionFailure.
	f.r.DrainTimeout = time.Nanosecond
	f.settle("ng")
	u := f.update("ng", id)
	if u.Update.Status != shapes.UpdateFailed || len(u.Update.Errors) != 1 || u.Update.Errors[0].ErrorCode != "PodEvictionFailure" {
		t.Fatalf("update %+v", u.Update)
	}
	// Unblocked, the next look scales in, keeping zones spread.
	f.exec.set(func(e *fakeExecutor) { e.blocked = false })
	f.settle("ng")
	if live := f.live("ng"); len(live) != 1 {
		t.Fatalf("%d instances after scale-in, want 1", len(live))
	}
	if len(f.exec.removed) != 2 {
		t.Errorf("removed %v, want 2 nodes drained and stopped", f.exec.removed)
	}
	n, _ := f.st.Network(context.Background())
	used := n.Subnets[0].Used + n.Subnets[1].Used
	if used != 3 { // two cluster interfaces and one instance
		t.Errorf("addresses used %d, want 3", used)
	}
	// Terminated instances stay listed for TerminatedTTL, then go.
	if all, _ := f.st.NodegroupInstances(context.Background(), "demo", "ng"); len(all) != 3 {
		t.Fatalf("%d instance records, want 1 running and 2 terminated", len(all))
	}
	f.r.TerminatedTTL = time.Nanosecond
	f.settle("ng")
	if all, _ := f.st.NodegroupInstances(context.Background(), "demo", "ng"); len(all) != 1 || !all[0].Live() {
		t.Fatalf("instances after the TTL: %+v", all)
	}
}

func TestLaunchReportsFullSubnet(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	vpc := f.net.Subnets[0].VpcID
	small := store.Subnet{ID: store.NewResourceID("subnet"), VpcID: vpc, AvailabilityZone: "us-west-2a", CidrBlock: "172.31.200.0/29"}
	if err := f.st.CreateSubnet(ctx, small); err != nil {
		t.Fatal(err)
	}
	// A /29 has 8 addresses, 5 reserved: room for 3 instances.
	f.exec.ready = true
	f.createNodegroup("ng", 5, small.ID)
	rec := f.settle("ng")
	if len(f.live("ng")) != 3 {
		t.Fatalf("%d instances in a /29, want 3", len(f.live("ng")))
	}
	is := rec.Nodegroup.Health.Issues
	if rec.Nodegroup.Status != shapes.NodegroupCreating || len(is) != 1 || is[0].Code != "InsufficientFreeAddresses" || is[0].ResourceIDs[0] != small.ID {
		t.Fatalf("status %s issues %+v", rec.Nodegroup.Status, is)
	}
	seen := map[string]bool{}
	for _, inst := range f.live("ng") {
		if seen[inst.PrivateIP] {
			t.Fatalf("address %s given twice", inst.PrivateIP)
		}
		seen[inst.PrivateIP] = true
	}
}

func TestConcurrentLaunchesNeverShareAnAddress(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	sn := f.net.Subnets[2]
	var wg sync.WaitGroup
	ips := make(chan string, 20)
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			inst, err := f.st.LaunchInstance(ctx, store.Instance{ID: newInstanceID(), Cluster: "demo", Nodegroup: "x", SubnetID: sn.ID, State: store.InstancePending},
				func(ip netip.Addr) string { return PrivateDNSName(ip, "us-east-1") })
			if err != nil {
				t.Error(err)
				return
			}
			if !strings.HasSuffix(inst.PrivateDNSName, ".ec2.internal") {
				t.Errorf("us-east-1 name %q", inst.PrivateDNSName)
			}
			ips <- inst.PrivateIP
		}()
	}
	wg.Wait()
	close(ips)
	seen := map[string]bool{}
	for ip := range ips {
		if seen[ip] {
			t.Fatalf("address %s given twice", ip)
		}
		seen[ip] = true
	}
	n, _ := f.st.Network(ctx)
	got, _ := n.Subnet(sn.ID)
	if got.Used != 20 || got.Available() != 4096-5-20 {
		t.Errorf("subnet used %d available %d", got.Used, got.Available())
	}
	if err := f.st.DeleteSubnet(ctx, sn.ID); err != store.ErrInUse {
		t.Errorf("DeleteSubnet with instances: %v, want ErrInUse", err)
	}
}

func TestPickVictimsKeepsZonesSpread(t *testing.T) {
	t0 := time.Now()
	live := []store.Instance{
		{ID: "i-a1", AvailabilityZone: "a", LaunchTime: t0}, {ID: "i-b1", AvailabilityZone: "b", LaunchTime: t0},
		{ID: "i-a2", AvailabilityZone: "a", LaunchTime: t0.Add(time.Second)}, {ID: "i-a3", AvailabilityZone: "a", LaunchTime: t0.Add(2 * time.Second)},
	}
	got := pickVictims(live, 2)
	if len(got) != 2 || got[0] != "i-a3" || got[1] != "i-a2" {
		t.Errorf("victims %v, want the two newest of zone a", got)
	}
}
