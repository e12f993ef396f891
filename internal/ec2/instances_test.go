package ec2

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/kplane/kplane/internal/store"
)

func (e *testEnv) launch(id, subnet string, tags map[string]string) store.Instance {
	e.t.Helper()
	inst, err := e.st.LaunchInstance(context.Background(), store.Instance{
		ID: id, Cluster: "demo", Nodegroup: "ng", InstanceType: "t3.medium", ImageID: "ami-0123456789abcdef0",
		SubnetID: subnet, State: store.InstanceRunning, LaunchTime: time.Now().UTC(), Tags: tags,
	}, func(ip netip.Addr) string {
		return "ip-" + strings.ReplaceAll(ip.String(), ".", "-") + ".us-west-2.compute.internal"
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return inst
}

func (e *testEnv) instances(kv ...string) []instanceItem {
	e.t.Helper()
	var out describeInstancesResult
	e.ok(&out, "DescribeInstances", kv...)
	var items []instanceItem
	for _, r := range out.Reservations.Items {
		if len(r.Instances) != 1 || r.ReservationID != "r-"+suffix(r.Instances[0].InstanceID) || r.OwnerID != testAccount {
			e.t.Fatalf("reservation %+v", r)
		}
		items = append(items, r.Instances[0])
	}
	return items
}

func TestDescribeInstances(t *testing.T) {
	e := newTestEnv(t)
	a, b := e.net.Subnets[0], e.net.Subnets[1]
	tags := map[string]string{"eks:nodegroup-name": "ng", "kubernetes.io/cluster/demo": "owned"}
	i1 := e.launch("i-0000000000000000a", a.ID, tags)
	i2 := e.launch("i-0000000000000000b", b.ID, tags)
	e.launch("i-0000000000000000c", b.ID, map[string]string{"other": "x"})

	all := e.instances()
	if len(all) != 3 {
		t.Fatalf("%d instances, want 3", len(all))
	}
	got := all[0]
	if got.InstanceID != i1.ID || got.InstanceState.Name != "running" || got.InstanceState.Code != 16 ||
		got.PrivateIPAddress != i1.PrivateIP || got.PrivateDNSName != i1.PrivateDNSName || got.SubnetID != a.ID ||
		got.VpcID != a.VpcID || got.Placement.AvailabilityZone != a.AvailabilityZone || got.InstanceType != "t3.medium" ||
		tagsOf(got.TagSet)["eks:nodegroup-name"] != "ng" {
		t.Errorf("instance %+v", got)
	}
	if i1.PrivateIP != "172.31.0.4" {
		t.Errorf("first address of %s is %s, want 172.31.0.4 (AWS reserves .0-.3)", a.CidrBlock, i1.PrivateIP)
	}
	// The subnet's free count dropped by one.
	if s := e.subnets("SubnetId.1", a.ID); s[0].AvailableIPAddressCount != 4091-1 {
		t.Errorf("available %d, want 4090", s[0].AvailableIPAddressCount)
	}
	for _, c := range []struct {
		name, value string
		want        int
	}{
		{"instance-id", i2.ID, 1},
		{"instance-state-name", "running", 3},
		{"instance-state-name", "terminated", 0},
		{"subnet-id", b.ID, 2},
		{"availability-zone", a.AvailabilityZone, 1},
		{"tag:eks:nodegroup-name", "ng", 2},
		{"tag-key", "kubernetes.io/cluster/demo", 2},
		{"private-ip-address", i2.PrivateIP, 1},
		{"private-dns-name", "ip-172-31-*", 3},
	} {
		if n := len(e.instances("Filter.1.Name", c.name, "Filter.1.Value.1", c.value)); n != c.want {
			t.Errorf("filter %s=%s: %d instances, want %d", c.name, c.value, n, c.want)
		}
	}
	if got := e.instances("InstanceId.1", i2.ID); len(got) != 1 || got[0].InstanceID != i2.ID {
		t.Errorf("by id: %+v", got)
	}
	e.fails("InvalidInstanceID.NotFound", "The instance IDs 'i-0000000000000000f' do not exist", "DescribeInstances", "InstanceId.1", "i-0000000000000000f")
	e.fails("InvalidInstanceID.Malformed", "", "DescribeInstances", "InstanceId.1", "x-1")
	e.fails(codeInvalidParameterCombo, "", "DescribeInstances", "InstanceId.1", i2.ID, "MaxResults", "5")
	e.fails(codeInvalidParameterValue, "The filter 'nope' is invalid", "DescribeInstances", "Filter.1.Name", "nope", "Filter.1.Value.1", "x")

	// Pages of MaxResults.
	var page describeInstancesResult
	e.ok(&page, "DescribeInstances", "MaxResults", "5")
	if len(page.Reservations.Items) != 3 || page.NextToken != "" {
		t.Errorf("one page of 5: %d, next %q", len(page.Reservations.Items), page.NextToken)
	}

	// Terminated: no address, listed with its state; the address is free again.
	if err := e.st.TerminateInstance(context.Background(), "demo", "ng", i1.ID, "Client.UserInitiatedShutdown: scaled in"); err != nil {
		t.Fatal(err)
	}
	got = e.instances("Filter.1.Name", "instance-state-name", "Filter.1.Value.1", "terminated")[0]
	if got.InstanceID != i1.ID || got.InstanceState.Code != 48 || got.PrivateIPAddress != "" || got.StateReason == nil ||
		got.StateReason.Code != "Client.UserInitiatedShutdown" {
		t.Errorf("terminated %+v", got)
	}
	if s := e.subnets("SubnetId.1", a.ID); s[0].AvailableIPAddressCount != 4091 {
		t.Errorf("available %d after terminate, want 4091", s[0].AvailableIPAddressCount)
	}
	if again := e.launch("i-0000000000000000d", a.ID, nil); again.PrivateIP != "172.31.0.4" {
		t.Errorf("freed address not reused: %s", again.PrivateIP)
	}
}
