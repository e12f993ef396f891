package nodegroup

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/kplane/kplane/internal/eks/shapes"
	"github.com/kplane/kplane/internal/store"
)

// A version update (UpdateNodegroupVersion) replaces the nodegroup's nodes,
// as EKS's managed nodegroups do, rather than changing them in place: new
// nodes of the target version and image first, as many as the updateConfig
// lets be unavailable; once they are Ready, as many old nodes are cordoned,
// drained through the eviction API (a PodDisruptionBudget's refusal is
// PodEvictionFailure unless force) and terminated; and again until no old
// node is left.

// nodeImage is what a new instance runs: its Kubernetes minor and its AMI.
type nodeImage struct{ version, imageID string }

// currentImage is the image of the nodegroup as it is (no version update).
func currentImage(rec *store.NodegroupRecord) nodeImage {
	return nodeImage{rec.Nodegroup.Version, rec.ImageID}
}

// versionUpdate is the type of an UpdateNodegroupVersion's update.
const versionUpdate = "VersionUpdate"

// versionTarget is the change of the version update in progress, nil if none.
func (r *Reconciler) versionTarget(ctx context.Context, rec *store.NodegroupRecord) (*store.NodegroupVersionChange, error) {
	ng := &rec.Nodegroup
	if rec.ActiveUpdate == "" || ng.Status != shapes.NodegroupUpdating {
		return nil, nil
	}
	u, err := r.st.GetNodegroupUpdate(ctx, ng.ClusterName, ng.NodegroupName, rec.ActiveUpdate)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil // updating() clears the stale reference
	}
	if err != nil || u.Update.Type != versionUpdate {
		return nil, err
	}
	var change store.NodegroupVersionChange
	if err := json.Unmarshal(u.Change, &change); err != nil {
		return nil, fmt.Errorf("nodegroup %s/%s: update %s: %w", ng.ClusterName, ng.NodegroupName, u.Update.ID, err)
	}
	return &change, nil
}

// batchSize is how many nodes one step of a rolling update replaces: the
// updateConfig's maxUnavailable, or maxUnavailablePercentage of desired
// (rounded down, at least 1); 1 without an updateConfig, as on EKS.
func batchSize(ng *shapes.Nodegroup, desired int) int {
	n := 1
	if uc := ng.UpdateConfig; uc != nil {
		switch {
		case uc.MaxUnavailable != nil:
			n = *uc.MaxUnavailable
		case uc.MaxUnavailablePercentage != nil:
			n = desired * *uc.MaxUnavailablePercentage / 100
		}
	}
	return max(n, 1)
}

// roll takes one step of the version update toward target: launch new
// nodes up to desired plus one batch; once every new node is Ready, remove
// old nodes down to desired. Old nodes are those of another image.
func (r *Reconciler) roll(ctx context.Context, crec *store.ClusterRecord, rec *store.NodegroupRecord, desired int, target *store.NodegroupVersionChange, obs *observation) error {
	obs.target = target
	image := nodeImage{target.Version, target.ImageID}
	var old, fresh []store.Instance
	for _, inst := range obs.live {
		if inst.ImageID == target.ImageID && inst.KubernetesVersion == target.Version {
			fresh = append(fresh, inst)
		} else {
			old = append(old, inst)
		}
	}
	if len(old) == 0 {
		return r.scale(ctx, crec, rec, desired, obs, image)
	}
	batch := min(batchSize(&rec.Nodegroup, desired), len(old))
	for len(obs.live) < desired+batch {
		// Spread by the new nodes alone: the old ones are going.
		inst, issue, err := r.launch(ctx, crec, rec, fresh, image)
		if err != nil {
			return err
		}
		if issue != nil {
			obs.issues = append(obs.issues, *issue)
			obs.outdated = len(old)
			return nil
		}
		obs.live, fresh = append(obs.live, inst), append(fresh, inst)
	}
	// Old nodes go only once the new ones can take their pods.
	for _, inst := range fresh {
		st, err := r.Executor.EnsureNode(ctx, r.spec(crec, rec, inst))
		if err != nil {
			return err
		}
		if !st.Ready {
			obs.outdated = len(old)
			return nil
		}
	}
	retire := min(len(obs.live)-desired, len(old))
	var blocked []string
	var blockErr error
	gone := map[string]bool{}
	for _, inst := range old[:max(retire, 0)] {
		spec := r.spec(crec, rec, inst)
		spec.ForceDrain = target.Force
		err := r.Executor.RemoveNode(ctx, spec)
		switch {
		case IsEvictionBlocked(err):
			blocked, blockErr = append(blocked, inst.ID), err
			continue
		case IsDraining(err):
			obs.draining = true // looked at again shortly
			continue
		case err != nil:
			return err
		}
		if err := r.st.TerminateInstance(ctx, inst.Cluster, inst.Nodegroup, inst.ID, "Client.UserInitiatedShutdown: replaced by the nodegroup's version update"); err != nil {
			return err
		}
		gone[inst.ID] = true
	}
	obs.live = slices.DeleteFunc(obs.live, func(inst store.Instance) bool { return gone[inst.ID] })
	obs.outdated = len(old) - len(gone)
	if len(blocked) > 0 {
		obs.blocked = true
		obs.issues = append(obs.issues, shapes.NodegroupIssue{Code: "PodEvictionFailure",
			Message: "Pods could not be evicted from nodes being replaced: " + blockErr.Error(), ResourceIDs: blocked})
	}
	return nil
}
