//go:build e2e

package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/kplane/kplane/internal/node"
)

// TestNodeRestriction: the cluster's apiserver runs the Node authorizer and
// the NodeRestriction admission plugin, as EKS does, so a node's credentials
// (system:node:NAME in system:nodes, here the client certificates a
// hand-started node gets) reach only that node's objects: node A updates its
// own Node and deletes its own pods, and may not label node B, delete B's
// pods, set a node-restriction.kubernetes.io/ label on itself, or read a
// Secret no pod of its own uses.
func TestNodeRestriction(t *testing.T) {
	k := startKplaneWith(t, "--control-plane-replicas", "1")
	c := k.createActive("noderestrict")
	admin := clientset(t, k.kubeconfig("noderestrict"))
	ctx := context.Background()

	pkiDir := filepath.Join(k.clusterDir(c.ID), "pki")
	asNode := func(name, ip string) *kubernetes.Clientset {
		t.Helper()
		certs, err := node.IssueCertificates(filepath.Join(pkiDir, "ca.crt"), filepath.Join(pkiDir, "ca.key"), filepath.Join(k.work, name), name, ip)
		if err != nil {
			t.Fatal(err)
		}
		cs, err := kubernetes.NewForConfig(&rest.Config{
			Host:            c.Endpoint,
			Timeout:         10 * time.Second,
			TLSClientConfig: rest.TLSClientConfig{CAFile: certs.CAFile, CertFile: certs.ClientCertFile, KeyFile: certs.ClientKeyFile},
		})
		if err != nil {
			t.Fatal(err)
		}
		return cs
	}
	const nameA, nameB = "ip-10-0-1-11.us-west-2.compute.internal", "ip-10-0-1-12.us-west-2.compute.internal"
	nodeA, nodeB := asNode(nameA, "10.0.1.11"), asNode(nameB, "10.0.1.12")

	// Each node registers itself, as a kubelet does.
	for name, cs := range map[string]*kubernetes.Clientset{nameA: nodeA, nameB: nodeB} {
		if _, err := cs.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
			t.Fatalf("node %s registering itself: %v", name, err)
		}
	}
	// A node may not register another.
	if _, err := nodeA.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "ip-10-0-1-13.us-west-2.compute.internal"}}, metav1.CreateOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("node A creating another node's Node: %v, want Forbidden", err)
	}

	// A Secret and a pod using it on each node (the admin makes them; no
	// kubelet runs, the objects are enough for both checks).
	podOn := func(name, nodeName, secret string) {
		t.Helper()
		if _, err := admin.CoreV1().Secrets("default").Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: secret}, StringData: map[string]string{"k": "v"},
		}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := admin.CoreV1().Pods("default").Create(ctx, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: corev1.PodSpec{
				NodeName:   nodeName,
				Containers: []corev1.Container{{Name: "c", Image: "kplane.local/none:1"}},
				Volumes: []corev1.Volume{{Name: "s", VolumeSource: corev1.VolumeSource{
					Secret: &corev1.SecretVolumeSource{SecretName: secret},
				}}},
			},
		}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	podOn("pod-a", nameA, "secret-a")
	podOn("pod-b", nameB, "secret-b")

	// Node A on node B's objects: refused.
	labelPatch := func(key string) []byte { return fmt.Appendf(nil, `{"metadata":{"labels":{%q:"yes"}}}`, key) }
	_, err := nodeA.CoreV1().Nodes().Patch(ctx, nameB, types.StrategicMergePatchType, labelPatch("example.com/by-a"), metav1.PatchOptions{})
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "not allowed to modify node") {
		t.Errorf("node A labelling node B: %v, want NodeRestriction's Forbidden", err)
	}
	if err := nodeA.CoreV1().Pods("default").Delete(ctx, "pod-b", metav1.DeleteOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("node A deleting node B's pod: %v, want Forbidden", err)
	}
	if _, err := nodeA.CoreV1().Pods("default").Get(ctx, "pod-b", metav1.GetOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("node A reading node B's pod: %v, want Forbidden (Node authorizer)", err)
	}
	if _, err := admin.CoreV1().Pods("default").Get(ctx, "pod-b", metav1.GetOptions{}); err != nil {
		t.Errorf("node B's pod after node A's delete: %v", err)
	}
	if _, err := nodeA.CoreV1().Secrets("default").Get(ctx, "secret-b", metav1.GetOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("node A reading node B's pod's Secret: %v, want Forbidden (Node authorizer)", err)
	}
	// Nor the labels NodeRestriction keeps for the cluster's admins.
	_, err = nodeA.CoreV1().Nodes().Patch(ctx, nameA, types.StrategicMergePatchType, labelPatch("node-restriction.kubernetes.io/pool"), metav1.PatchOptions{})
	if !apierrors.IsForbidden(err) {
		t.Errorf("node A setting a node-restriction.kubernetes.io/ label on itself: %v, want Forbidden", err)
	}

	// Node A on its own objects: allowed.
	got, err := nodeA.CoreV1().Nodes().Patch(ctx, nameA, types.StrategicMergePatchType, labelPatch("example.com/by-a"), metav1.PatchOptions{})
	if err != nil {
		t.Fatalf("node A labelling itself: %v", err)
	}
	if got.Labels["example.com/by-a"] != "yes" {
		t.Errorf("node A's labels after its patch: %v", got.Labels)
	}
	// The Node authorizer's graph learns of pod-a asynchronously.
	eventually(t, 30*time.Second, pollStep, "node A reading its pod's Secret", func() error {
		_, err := nodeA.CoreV1().Secrets("default").Get(ctx, "secret-a", metav1.GetOptions{})
		return err
	})
	if err := nodeA.CoreV1().Pods("default").Delete(ctx, "pod-a", metav1.DeleteOptions{}); err != nil {
		t.Errorf("node A deleting its own pod: %v", err)
	}

	b, err := admin.CoreV1().Nodes().Get(ctx, nameB, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := b.Labels["example.com/by-a"]; ok {
		t.Errorf("node B carries node A's label: %v", b.Labels)
	}
}
