package localnodes

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"

	"github.com/kplane/kplane/internal/nodegroup"
)

// nodegroupLabel is on every Node of a managed nodegroup (the kubelet
// registers with it).
const nodegroupLabel = "eks.amazonaws.com/nodegroup"

// NodeChanges implements nodegroup.NodeWatcher: a nodegroup's key when one
// of its Nodes appears, goes, or its Ready condition changes.
func (e *Executor) NodeChanges() <-chan string { return e.changes }

// watchNodes starts c's informer of its cluster's nodegroup Nodes: the
// reconciler hears of a node's Ready at once, and reads Nodes from its cache.
func (e *Executor) watchNodes(c *clusterClient, clusterName string) {
	factory := informers.NewSharedInformerFactoryWithOptions(c.cs, 0,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = nodegroupLabel }))
	nodes := factory.Core().V1().Nodes()
	notify := func(obj any) {
		if n, ok := obj.(*corev1.Node); ok && n.Labels[nodegroupLabel] != "" {
			select {
			case e.changes <- nodegroup.NodegroupKey(clusterName, n.Labels[nodegroupLabel]):
			default: // full: the reconciler's poll still looks
			}
		}
	}
	_, _ = nodes.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: notify,
		UpdateFunc: func(old, cur any) {
			o, _ := old.(*corev1.Node)
			n, _ := cur.(*corev1.Node)
			if o == nil || n == nil || readyCondition(o) != readyCondition(n) {
				notify(cur)
			}
		},
		DeleteFunc: func(obj any) {
			if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = t.Obj
			}
			notify(obj)
		},
	})
	c.nodes, c.synced = nodes.Lister(), nodes.Informer().HasSynced
	factory.Start(c.stop)
}

// readyCondition is what of a Node's Ready condition the reconciler reads.
func readyCondition(n *corev1.Node) corev1.NodeCondition {
	for _, cond := range n.Status.Conditions {
		if cond.Type == corev1.NodeReady {
			return corev1.NodeCondition{Status: cond.Status, LastHeartbeatTime: cond.LastHeartbeatTime}
		}
	}
	return corev1.NodeCondition{}
}

// cachedNode is Node name from the informer's cache, a copy the caller
// may change; ok is false while the cache is not filled yet.
func (c *clusterClient) cachedNode(name string) (n *corev1.Node, found, ok bool) {
	if c.nodes == nil || !c.synced() {
		return nil, false, false
	}
	n, err := c.nodes.Get(name)
	if err != nil {
		return nil, false, true
	}
	return n.DeepCopy(), true, true
}
