package localnodes

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kplane/kplane/internal/node"
	"github.com/kplane/kplane/internal/nodegroup"
)

// Node directories sit under the data directory unless containerd's socket
// would not fit or the node would bind over them; then a short directory
// named by the data directory stands in, the same one every time.
func TestNodesDir(t *testing.T) {
	if got := NodesDir("/root/.kplane"); got != "/root/.kplane/nodes" {
		t.Errorf("NodesDir(/root/.kplane) = %s", got)
	}
	long := "/tmp/" + strings.Repeat("d", 80)
	for _, dataDir := range []string{long, "/var/lib/kplane", "/run/kplane-data"} {
		got := NodesDir(dataDir)
		if !strings.HasPrefix(got, "/var/tmp/kplane-") || got != NodesDir(dataDir) {
			t.Errorf("NodesDir(%s) = %s, want a stable /var/tmp/kplane-HASH", dataDir, got)
		}
		sock := node.Paths{Dir: NodeDir(dataDir, "i-0123456789abcdef0")}.Socket()
		if len(sock) > 100 {
			t.Errorf("socket %s is %d bytes", sock, len(sock))
		}
	}
	if NodesDir(long) == NodesDir(long+"x") {
		t.Error("two data directories share a nodes directory")
	}
}

// Labels and taints of the nodegroup are applied; those it drops go, and
// those someone else set stay.
func TestApplyNodegroup(t *testing.T) {
	n := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"team": "a", "old": "x", "kubernetes.io/hostname": "h"}},
		Spec:       corev1.NodeSpec{Taints: []corev1.Taint{{Key: "mine", Effect: corev1.TaintEffectNoSchedule}}},
	}
	spec := nodegroup.NodeSpec{Labels: map[string]string{"team": "a", "old": "x"},
		Taints: []nodegroup.Taint{{Key: "gpu", Value: "yes", Effect: "NoSchedule"}}}
	if !applyNodegroup(n, spec) {
		t.Fatal("first apply changed nothing")
	}
	if applyNodegroup(n, spec) {
		t.Fatal("second apply of the same spec changed the node")
	}
	spec.Labels = map[string]string{"team": "b"}
	spec.Taints = nil
	if !applyNodegroup(n, spec) {
		t.Fatal("new spec changed nothing")
	}
	if n.Labels["team"] != "b" || n.Labels["old"] != "" || n.Labels["kubernetes.io/hostname"] != "h" {
		t.Errorf("labels %v", n.Labels)
	}
	if len(n.Spec.Taints) != 1 || n.Spec.Taints[0].Key != "mine" {
		t.Errorf("taints %v: want only the one kplane did not set", n.Spec.Taints)
	}
}

func TestClusterDNS(t *testing.T) {
	for in, want := range map[string]string{"10.100.0.0/16": "10.100.0.10", "172.20.0.0/16": "172.20.0.10", "": ""} {
		if got := ClusterDNS(in); got != want {
			t.Errorf("ClusterDNS(%q) = %q, want %q", in, got, want)
		}
	}
}
