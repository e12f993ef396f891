package nodegroup

import (
	"context"

	"github.com/kplane/kplane/internal/eks/shapes"
	"github.com/kplane/kplane/internal/store"
)

// ensureJoin maps the node role in aws-auth for CONFIG_MAP clusters (API
// modes got their EC2_LINUX access entry with CreateNodegroup), once per
// nodegroup, as EKS does: the store remembers it was done, so a mapping the
// operator removed stays removed and keeps new nodes out.
func (r *Reconciler) ensureJoin(ctx context.Context, crec *store.ClusterRecord, rec *store.NodegroupRecord) error {
	if r.Joiner == nil || rec.AwsAuthMapped || crec.Cluster.Status != shapes.StatusActive && crec.Cluster.Status != shapes.StatusUpdating {
		return nil
	}
	if ac := crec.Cluster.AccessConfig; ac != nil && ac.AuthenticationMode != "" && ac.AuthenticationMode != "CONFIG_MAP" {
		return nil
	}
	if err := r.Joiner.EnsureNodeRoleMapped(ctx, crec, rec.Nodegroup.NodeRole); err != nil {
		return err
	}
	ng := &rec.Nodegroup
	_, err := r.st.UpdateNodegroup(ctx, ng.ClusterName, ng.NodegroupName, func(fresh *store.NodegroupRecord) error {
		fresh.AwsAuthMapped = true
		return nil
	})
	rec.AwsAuthMapped = err == nil
	return err
}

// unmapNodeRole removes the aws-auth entry ensureJoin added when no other
// nodegroup of the cluster has the same node role, as EKS does at delete.
// A cluster that cannot be reached keeps the entry (logged): the delete
// goes on.
func (r *Reconciler) unmapNodeRole(ctx context.Context, crec *store.ClusterRecord, rec *store.NodegroupRecord) {
	if r.Joiner == nil || crec == nil || !rec.AwsAuthMapped {
		return
	}
	ng := &rec.Nodegroup
	others, err := r.st.ListNodegroups(ctx, ng.ClusterName)
	if err != nil {
		r.Log.Warn("nodegroup delete: listing nodegroups", "cluster", ng.ClusterName, "err", err)
		return
	}
	for _, o := range others {
		if o.Nodegroup.NodegroupName != ng.NodegroupName && o.Nodegroup.NodeRole == ng.NodeRole {
			return
		}
	}
	if err := r.Joiner.RemoveNodeRoleMapping(ctx, crec, ng.NodeRole); err != nil {
		r.Log.Warn("nodegroup delete: removing the node role from aws-auth", "cluster", ng.ClusterName, "role", ng.NodeRole, "err", err)
	}
}

// JoinFailureMessage is EKS's health issue message for instances that run
// but never join their cluster (typically: the node role is not mapped).
const JoinFailureMessage = "Instances failed to join the kubernetes cluster"

// notJoined are the instances issues name as not joining.
func notJoined(issues []shapes.NodegroupIssue) []string {
	var ids []string
	for _, is := range issues {
		if is.Code == "NodeCreationFailure" && is.Message == JoinFailureMessage {
			ids = append(ids, is.ResourceIDs...)
		}
	}
	return ids
}
