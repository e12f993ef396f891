package localnodes

import (
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/kubernetes"
	listersv1 "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/rest"

	"github.com/kplane/kplane/internal/controlplane"
	"github.com/kplane/kplane/internal/nodegroup"
)

// Annotations on a Node recording which labels and taints kplane applied
// from its nodegroup, so that those the nodegroup drops are removed and
// the ones others set are left alone.
const (
	managedLabelsAnnotation = "kplane.dev/nodegroup-labels"
	managedTaintsAnnotation = "kplane.dev/nodegroup-taints"
)

// clusterClient talks to one cluster as its admin, and watches its
// nodegroups' Nodes while it has nodes here.
type clusterClient struct {
	endpoint string
	cs       kubernetes.Interface
	nodes    listersv1.NodeLister
	synced   func() bool
	stop     chan struct{} // closed: the informer stops
	// instances are the nodes of the cluster this executor runs.
	instances map[string]bool
}

// close stops c's informer.
func (c *clusterClient) close() { close(c.stop) }

// client is cluster spec.ClusterID's admin client (cached while its endpoint stays).
func (e *Executor) client(spec nodegroup.NodeSpec) (*clusterClient, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	old := e.clients[spec.ClusterID]
	if old != nil && old.endpoint == spec.Endpoint {
		return old, nil
	}
	if spec.Endpoint == "" {
		return nil, fmt.Errorf("cluster %s has no endpoint", spec.ClusterName)
	}
	ccfg := controlplane.ClusterConfig{Name: spec.ClusterName, ID: spec.ClusterID, Dir: controlplane.ClusterDir(e.cfg.DataDir, spec.ClusterID)}
	cs, err := kubernetes.NewForConfig(&rest.Config{
		Host: spec.Endpoint,
		TLSClientConfig: rest.TLSClientConfig{
			CAFile:   ccfg.CertFile(controlplane.CertCA),
			CertFile: ccfg.CertFile(controlplane.CertAdmin),
			KeyFile:  ccfg.KeyFile(controlplane.CertAdmin),
		},
		UserAgent: "kplane-nodegroups",
		Timeout:   10 * time.Second,
	})
	if err != nil {
		return nil, err
	}
	c := &clusterClient{endpoint: spec.Endpoint, cs: cs, stop: make(chan struct{}), instances: map[string]bool{}}
	if old != nil {
		old.close()
		c.instances = old.instances
	}
	e.watchNodes(c, spec.ClusterName)
	e.clients[spec.ClusterID] = c
	return c, nil
}

// track records that instance runs (or, with running false, no longer
// runs) in cluster; the cluster's client and informer go with its last node.
func (e *Executor) track(clusterID, instance string, running bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	c := e.clients[clusterID]
	if c == nil {
		return
	}
	if running {
		c.instances[instance] = true
		return
	}
	delete(c.instances, instance)
	if len(c.instances) == 0 {
		c.close()
		delete(e.clients, clusterID)
	}
}

// syncNode reports whether the Node is Ready as seen since its agent last
// started (a condition older than startedAt is what a dead kubelet left),
// and brings its nodegroup labels and taints to spec's.
func (c *clusterClient) syncNode(ctx context.Context, spec nodegroup.NodeSpec, startedAt time.Time) (registered, ready bool, err error) {
	n, found, cached := c.cachedNode(spec.NodeName)
	if !cached {
		var err error
		n, err = c.cs.CoreV1().Nodes().Get(ctx, spec.NodeName, metav1.GetOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return false, false, err
		}
		found = err == nil
	}
	if !found {
		return false, false, nil
	}
	for _, cond := range n.Status.Conditions {
		if cond.Type == corev1.NodeReady {
			// Heartbeats are whole seconds.
			ready = cond.Status == corev1.ConditionTrue && !cond.LastHeartbeatTime.Time.Before(startedAt.Truncate(time.Second))
		}
	}
	if applyNodegroup(n, spec) {
		if _, err := c.cs.CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{}); err != nil {
			return true, ready, fmt.Errorf("updating labels and taints of node %s: %w", spec.NodeName, err)
		}
	}
	return true, ready, nil
}

// applyNodegroup sets n's nodegroup labels and taints to spec's and
// removes those kplane set before that spec no longer has. It reports
// whether n changed.
func applyNodegroup(n *corev1.Node, spec nodegroup.NodeSpec) bool {
	before := n.DeepCopy()
	if n.Labels == nil {
		n.Labels = map[string]string{}
	}
	if n.Annotations == nil {
		n.Annotations = map[string]string{}
	}
	for _, k := range splitList(n.Annotations[managedLabelsAnnotation]) {
		if _, keep := spec.Labels[k]; !keep {
			delete(n.Labels, k)
		}
	}
	maps.Copy(n.Labels, spec.Labels)
	n.Annotations[managedLabelsAnnotation] = strings.Join(slices.Sorted(maps.Keys(spec.Labels)), ",")

	taintID := func(key, effect string) string { return key + ":" + effect }
	managed := map[string]bool{}
	for _, id := range splitList(n.Annotations[managedTaintsAnnotation]) {
		managed[id] = true
	}
	want := map[string]nodegroup.Taint{}
	var ids []string
	for _, t := range spec.Taints {
		want[taintID(t.Key, t.Effect)] = t
		ids = append(ids, taintID(t.Key, t.Effect))
	}
	var taints []corev1.Taint
	for _, t := range n.Spec.Taints {
		id := taintID(t.Key, string(t.Effect))
		if _, ok := want[id]; ok || managed[id] {
			continue // replaced below, or dropped from the nodegroup
		}
		taints = append(taints, t)
	}
	sort.Strings(ids)
	for _, id := range ids {
		t := want[id]
		taints = append(taints, corev1.Taint{Key: t.Key, Value: t.Value, Effect: corev1.TaintEffect(t.Effect)})
	}
	// Keep the kubelet's order where nothing changed.
	if sameTaints(n.Spec.Taints, taints) {
		taints = n.Spec.Taints
	}
	n.Spec.Taints = taints
	n.Annotations[managedTaintsAnnotation] = strings.Join(ids, ",")
	return !maps.Equal(before.Labels, n.Labels) || !maps.Equal(before.Annotations, n.Annotations) || !sameTaints(before.Spec.Taints, n.Spec.Taints)
}

func splitList(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(s, ",")
}

func sameTaints(a, b []corev1.Taint) bool {
	key := func(ts []corev1.Taint) []string {
		var out []string
		for _, t := range ts {
			out = append(out, t.Key+"="+t.Value+":"+string(t.Effect))
		}
		sort.Strings(out)
		return out
	}
	return slices.Equal(key(a), key(b))
}

// drain cordons node name and evicts its pods with the eviction API (as
// `kubectl drain` does: DaemonSet and mirror pods stay). It does not wait
// for them to go: while evicted pods terminate it returns a
// *nodegroup.DrainingError, and the reconciler calls again. Evictions a
// PodDisruptionBudget refuses make an *nodegroup.EvictionBlockedError,
// unless force: then those pods are deleted (UpdateNodegroupVersion's force).
func (c *clusterClient) drain(ctx context.Context, name string, force bool) error {
	nodes := c.cs.CoreV1().Nodes()
	n, err := nodes.Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("draining node %s: %w", name, err)
	}
	if !n.Spec.Unschedulable {
		n.Spec.Unschedulable = true
		if _, err := nodes.Update(ctx, n, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("cordoning node %s: %w", name, err)
		}
	}
	pods, err := c.podsToEvict(ctx, name)
	if err != nil {
		return err
	}
	if len(pods) == 0 {
		return nil
	}
	var blocked []string
	for _, p := range pods {
		if p.DeletionTimestamp != nil {
			continue // going
		}
		err := c.cs.PolicyV1().Evictions(p.Namespace).Evict(ctx, &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: p.Name, Namespace: p.Namespace}})
		switch {
		case err == nil, apierrors.IsNotFound(err):
		case apierrors.IsTooManyRequests(err) && force:
			err := c.cs.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{})
			if err != nil && !apierrors.IsNotFound(err) {
				return fmt.Errorf("deleting pod %s/%s: %w", p.Namespace, p.Name, err)
			}
		case apierrors.IsTooManyRequests(err):
			blocked = append(blocked, p.Namespace+"/"+p.Name)
		default:
			return fmt.Errorf("evicting pod %s/%s: %w", p.Namespace, p.Name, err)
		}
	}
	if len(blocked) > 0 {
		return &nodegroup.EvictionBlockedError{Pods: blocked}
	}
	if !isReady(n) {
		return nil // no kubelet to stop them: they go with the Node object
	}
	return &nodegroup.DrainingError{Node: name, Pods: len(pods)}
}

func isReady(n *corev1.Node) bool {
	for _, cond := range n.Status.Conditions {
		if cond.Type == corev1.NodeReady {
			return cond.Status == corev1.ConditionTrue
		}
	}
	return false
}

// podsToEvict are the pods on node name a drain evicts.
func (c *clusterClient) podsToEvict(ctx context.Context, name string) ([]corev1.Pod, error) {
	list, err := c.cs.CoreV1().Pods("").List(ctx, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("spec.nodeName", name).String()})
	if err != nil {
		return nil, fmt.Errorf("listing pods of node %s: %w", name, err)
	}
	var out []corev1.Pod
	for _, p := range list.Items {
		if _, mirror := p.Annotations[corev1.MirrorPodAnnotationKey]; mirror {
			continue
		}
		if ref := metav1.GetControllerOf(&p); ref != nil && ref.Kind == "DaemonSet" {
			continue
		}
		if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		out = append(out, p)
	}
	return out, nil
}

// deleteNode deletes the Node object (gone already is fine).
func (c *clusterClient) deleteNode(ctx context.Context, name string) error {
	err := c.cs.CoreV1().Nodes().Delete(ctx, name, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("deleting node %s: %w", name, err)
	}
	return nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp := dst + ".tmp"
	out, err := os.OpenFile(tmp, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		os.Remove(tmp)
		return err
	}
	if err := out.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, dst)
}
