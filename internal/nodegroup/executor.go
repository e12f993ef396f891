// Package nodegroup drives EKS managed nodegroups to their recorded intent:
// it launches and terminates the nodegroup's EC2 instances in kplane's
// inventory, asks a NodeExecutor to run a node for each, maps the node role
// for joining, and reports status, health and updates through the store.
// It imports no Kubernetes package: the executor reads the cluster.
package nodegroup

import (
	"context"
	"errors"
	"fmt"

	"github.com/kplane/kplane/internal/nodenet"
)

// NodeExecutor runs the nodes of managed nodegroups: for each instance, a
// kubelet and its container runtime joined to the cluster. Every call is
// idempotent and returns promptly (it starts work and reports what it sees;
// the reconciler calls again until the node is where it should be).
type NodeExecutor interface {
	// EnsureNode makes the node of spec.InstanceID run as spec says: starts
	// it if it is not running (or restarts it after a crash), and brings
	// its labels and taints to spec's. It reports what it sees now; Ready
	// is read from the cluster's Node object named spec.NodeName.
	EnsureNode(ctx context.Context, spec NodeSpec) (NodeState, error)
	// RemoveNode cordons the node and drains it with the eviction API
	// (PodDisruptionBudgets respected), then stops it and deletes all it
	// had: processes, mounts, namespaces, interfaces, cgroups, files and its
	// Node object. nil once nothing is left. An eviction refused by a
	// disruption budget is an *EvictionBlockedError, so the reconciler can
	// report PodEvictionFailure and try again; evicted pods still
	// terminating are a *DrainingError. Neither waits: the reconciler calls
	// again later, so one draining node holds up no other nodegroup.
	RemoveNode(ctx context.Context, spec NodeSpec) error
}

// NodeWatcher is what a NodeExecutor may also offer: the keys
// ("CLUSTER/NODEGROUP") of nodegroups whose nodes changed (a Node
// registered, became Ready or not Ready, an agent died), so the reconciler
// looks at once rather than at its next poll.
type NodeWatcher interface {
	NodeChanges() <-chan string
}

// NodegroupKey is the key of a nodegroup in the reconciler's queue and in
// NodeWatcher's changes.
func NodegroupKey(cluster, nodegroup string) string { return cluster + "/" + nodegroup }

// NodeSpec is everything a node needs to run and join, as kplane decided it.
type NodeSpec struct {
	ClusterName       string
	ClusterID         string
	KubernetesVersion string // "1.37"
	Endpoint          string // the cluster's https endpoint
	CAData            string // base64 of the cluster CA's PEM, as DescribeCluster gives it
	ServiceIPv4CIDR   string // the cluster's service CIDR (cluster DNS is its .10)
	Region            string
	// NodeRoleArn is the IAM role the node authenticates as, assumed with
	// InstanceID as the session name (`aws eks get-token`'s role).
	NodeRoleArn string

	Nodegroup        string
	InstanceID       string
	InstanceType     string
	ImageID          string
	NodeName         string // the instance's private DNS name
	ProviderID       string // aws:///ZONE/INSTANCE-ID
	PrivateIP        string
	SubnetID         string
	SubnetCIDR       string // the subnet's block: PrivateIP's prefix length
	VpcID            string
	AvailabilityZone string
	// The node's network (internal/nodenet): EndpointInVPC is the cluster's
	// endpoint as the node reaches it from inside its VPC (the gateway of the
	// cluster's subnet in its zone, controlplane.EndpointForNodes); PodCIDR
	// is the node's pod block, which its VPC routes to PrivateIP, inside
	// PodRange, the pods' range of the whole VPC (kube-proxy's clusterCIDR).
	// Empty when they cannot be worked out (the VPC or subnet is gone).
	EndpointInVPC string
	PodCIDR       string
	PodRange      string
	// Filter is what the instance's security groups let through its
	// network interface (nil when the inventory could not be read: the
	// node keeps what it had).
	Filter *nodenet.Filter
	// Labels and Taints are the node's, EKS's own labels included.
	Labels map[string]string
	Taints []Taint
	// ForceDrain: RemoveNode deletes the pods a PodDisruptionBudget keeps
	// from eviction (a version update with force) instead of failing.
	ForceDrain bool
}

// Taint is a Kubernetes taint (effect NoSchedule, PreferNoSchedule or NoExecute).
type Taint struct {
	Key    string
	Value  string
	Effect string
}

// NodeState is what an executor sees of a node.
type NodeState struct {
	// Running: the node's processes are up.
	Running bool
	// Ready: the cluster's Node object has condition Ready=True.
	Ready bool
	// Problem is a passing trouble (a kubelet restarting ...), reported as
	// a health issue while it lasts.
	Problem string
	// IssueCode is the NodegroupIssueCode of Problem ("" = NodeCreationFailure).
	IssueCode string
	// Failed says why the node cannot be made at all (a host package to
	// install, nodes not available ...); the reconciler stops asking.
	Failed string
}

// EvictionBlockedError is RemoveNode's answer while a PodDisruptionBudget
// keeps pods on the node.
type EvictionBlockedError struct {
	Pods []string // namespace/name
}

func (e *EvictionBlockedError) Error() string {
	return fmt.Sprintf("eviction of %d pod(s) refused by a PodDisruptionBudget: %v", len(e.Pods), e.Pods)
}

// DrainingError is RemoveNode's answer while evicted pods are still
// terminating: the node is cordoned and drained, not yet removed.
type DrainingError struct {
	Node string
	Pods int
}

func (e *DrainingError) Error() string {
	return fmt.Sprintf("node %s: %d evicted pod(s) still terminating", e.Node, e.Pods)
}

// IsDraining reports whether err is a *DrainingError.
func IsDraining(err error) bool {
	var e *DrainingError
	return errors.As(err, &e)
}

// IsEvictionBlocked reports whether err is an *EvictionBlockedError.
func IsEvictionBlocked(err error) bool {
	var e *EvictionBlockedError
	return errors.As(err, &e)
}

// NodesUnavailable is the message of a build without a node executor.
const NodesUnavailable = "Nodes are not available in this build of kplane: it has no node executor, so no instance can run a kubelet"

// Unavailable is the executor of a kplane that cannot run nodes: every node
// fails at once with Reason, so a nodegroup ends CREATE_FAILED and never
// claims nodes that do not run.
type Unavailable struct{ Reason string }

// EnsureNode implements NodeExecutor.
func (u Unavailable) EnsureNode(context.Context, NodeSpec) (NodeState, error) {
	reason := u.Reason
	if reason == "" {
		reason = NodesUnavailable
	}
	return NodeState{Failed: reason}, nil
}

// RemoveNode implements NodeExecutor: nothing ever ran.
func (Unavailable) RemoveNode(context.Context, NodeSpec) error { return nil }
