package store

import (
	"encoding/json"

	"github.com/kplane/kplane/internal/eks/shapes"
)

// ClusterRecord is everything kplane keeps for one cluster: the Cluster as
// EKS shows it, and what kplane needs to drive it there.
type ClusterRecord struct {
	Cluster shapes.Cluster `json:"cluster"`
	// RequestHash identifies the CreateCluster parameters, for idempotent retries.
	RequestHash string `json:"requestHash,omitempty"`
	// CreatorArn is the IAM principal that created the cluster.
	CreatorArn string `json:"creatorArn,omitempty"`
	// ActiveUpdate is the id of the update in progress, "" if none.
	ActiveUpdate string `json:"activeUpdate,omitempty"`
	// Port is the allocated apiserver port, kept so the endpoint survives restarts.
	Port int `json:"port,omitempty"`
	// PendingEncryption is the encryptionConfig an AssociateEncryptionConfig
	// update in progress is turning on (its KMS plugin serves meanwhile).
	PendingEncryption []shapes.EncryptionConfig `json:"pendingEncryption,omitempty"`
	// Revision is etcd's ModRevision of this record when read (not stored).
	Revision int64 `json:"-"`
	// DescribeJSON is {"cluster": Cluster} encoded once when the cache read
	// this revision, so DescribeCluster writes bytes instead of encoding (not
	// stored; nil on records that did not come from the cache).
	DescribeJSON []byte `json:"-"`
}

// UpdateRecord is one Update and the change it carries.
type UpdateRecord struct {
	Cluster string        `json:"clusterName"`
	Update  shapes.Update `json:"update"`
	// Nodegroup names the nodegroup of a nodegroup's update ("" for the cluster's).
	Nodegroup string `json:"nodegroupName,omitempty"`
	// Change is the request body that the reconciler applies (UpdateClusterConfig
	// or UpdateClusterVersion), kept verbatim.
	Change      json.RawMessage `json:"change,omitempty"`
	RequestHash string          `json:"requestHash,omitempty"`
}

// tokenRecord remembers which resource a clientRequestToken produced.
type tokenRecord struct {
	Hash     string `json:"hash"`
	Resource string `json:"resource"`
}
