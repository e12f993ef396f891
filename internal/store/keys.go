package store

import "errors"

// Key layout. Everything kplane owns lives under /kplane/; each cluster's
// Kubernetes data lives under its own prefix (see ClusterDataPrefix).
const (
	prefix         = "/kplane/"
	clustersPrefix = prefix + "clusters/"
	updatesPrefix  = prefix + "updates/"
	tokensPrefix   = prefix + "tokens/"
	networkPrefix  = prefix + "network/"
	metaPrefix     = prefix + "meta/"
	clusterCounter = metaPrefix + "cluster-count"
)

// ClusterDataPrefix is where cluster id's kube-apiserver keeps its objects.
func ClusterDataPrefix(id string) string { return "/kplane-clusters/" + id }

func clusterKey(name string) string       { return clustersPrefix + name }
func updateKey(cluster, id string) string { return updatesPrefix + cluster + "/" + id }
func updatesOf(cluster string) string     { return updatesPrefix + cluster + "/" }
func tokenKey(op, token string) string    { return tokensPrefix + op + "/" + token }

// Errors the API layer maps to EKS errors.
var (
	ErrNotFound      = errors.New("store: not found")
	ErrExists        = errors.New("store: already exists")
	ErrQuota         = errors.New("store: quota exceeded")
	ErrTokenMismatch = errors.New("store: client request token reused with different parameters")
	ErrConflict      = errors.New("store: concurrent change")
)
