// Package access decides who a verified AWS principal is inside a cluster:
// access entries and their access policies, the aws-auth ConfigMap, and the
// cluster creator, following the cluster's authentication mode as EKS does.
package access

import "strings"

// Policy is an EKS access policy and the Kubernetes ClusterRole that grants
// what it means.
type Policy struct {
	Name        string
	ClusterRole string
}

// PolicyArnPrefix starts every access policy ARN.
const PolicyArnPrefix = "arn:aws:eks::aws:cluster-access-policy/"

// Policies are the access policies kplane offers, by name.
var Policies = []Policy{
	{Name: "AmazonEKSAdminPolicy", ClusterRole: "admin"},
	{Name: "AmazonEKSClusterAdminPolicy", ClusterRole: "cluster-admin"},
	{Name: "AmazonEKSEditPolicy", ClusterRole: "edit"},
	{Name: "AmazonEKSViewPolicy", ClusterRole: "view"},
}

// PolicyByArn finds the policy an ARN names.
func PolicyByArn(arn string) (Policy, bool) {
	name, ok := strings.CutPrefix(arn, PolicyArnPrefix)
	if !ok {
		return Policy{}, false
	}
	for _, p := range Policies {
		if p.Name == name {
			return p, true
		}
	}
	return Policy{}, false
}

// Arn is the policy's ARN.
func (p Policy) Arn() string { return PolicyArnPrefix + p.Name }

// groupPrefix starts the Kubernetes groups kplane gives principals for their
// access policies; kplane binds each to the policy's ClusterRole.
const groupPrefix = "kplane:access-policy:"

// ClusterGroup is the group a cluster-scoped association puts a principal in.
func (p Policy) ClusterGroup() string { return groupPrefix + p.Name }

// NamespaceGroup is the group a namespace-scoped association puts a principal in.
func (p Policy) NamespaceGroup(ns string) string { return groupPrefix + p.Name + ":" + ns }

// BindingName names the (Cluster)RoleBinding of a policy.
func (p Policy) BindingName() string { return groupPrefix + p.Name }
