package nodegroup

import (
	"context"
	"errors"
	"reflect"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/kplane/kplane/internal/eks/shapes"
	"github.com/kplane/kplane/internal/store"
)

// observation is what one pass over a nodegroup's nodes found.
type observation struct {
	live     []store.Instance
	ready    int
	failed   map[string]string // instance id → why it cannot be made
	issues   []shapes.NodegroupIssue
	blocked  bool // a scale-down waits on evictions a PodDisruptionBudget refuses
	draining bool // a scale-down waits on evicted pods to terminate
	// outdated counts the nodes a version update has yet to replace;
	// target is that update's change (nil: no version update).
	outdated int
	target   *store.NodegroupVersionChange
}

// converge brings a live nodegroup's instances to its desired size, runs a
// node for each, and records status, health and the update in progress.
func (r *Reconciler) converge(ctx context.Context, crec *store.ClusterRecord, rec *store.NodegroupRecord, insts []store.Instance) (time.Duration, error) {
	ng := &rec.Nodegroup
	obs := &observation{failed: map[string]string{}}
	if err := r.ensureJoin(ctx, crec, rec); err != nil {
		obs.issues = append(obs.issues, shapes.NodegroupIssue{Code: "ClusterUnreachable",
			Message: "Could not map the node role in the cluster's aws-auth ConfigMap: " + err.Error()})
	}
	for _, inst := range insts {
		if inst.Live() {
			obs.live = append(obs.live, inst)
		}
	}
	desired := 0
	if ng.ScalingConfig != nil && ng.ScalingConfig.DesiredSize != nil {
		desired = *ng.ScalingConfig.DesiredSize
	}
	target, err := r.versionTarget(ctx, rec)
	if err != nil {
		return 0, err
	}
	if target != nil {
		err = r.roll(ctx, crec, rec, desired, target, obs)
	} else {
		err = r.scale(ctx, crec, rec, desired, obs, currentImage(rec))
	}
	if err != nil {
		return 0, err
	}
	// Every node at once: starting one waits on its own network, files
	// and credentials, not on the others'.
	states := make([]NodeState, len(obs.live))
	errs := make([]error, len(obs.live))
	r.forEach(len(obs.live), func(i int) {
		states[i], errs[i] = r.Executor.EnsureNode(ctx, r.spec(crec, rec, obs.live[i]))
	})
	if err := errors.Join(errs...); err != nil {
		return 0, err
	}
	var notReady []string
	for i, inst := range obs.live {
		st := states[i]
		switch {
		case st.Failed != "":
			obs.failed[inst.ID] = st.Failed
		case st.Ready:
			obs.ready++
		default:
			notReady = append(notReady, inst.ID)
			if st.Problem != "" {
				code := st.IssueCode
				if code == "" {
					code = "NodeCreationFailure"
				}
				obs.issues = append(obs.issues, shapes.NodegroupIssue{Code: code, Message: st.Problem, ResourceIDs: []string{inst.ID}})
			}
		}
		if st.Running && inst.State == store.InstancePending {
			if err := r.st.SetInstanceState(ctx, inst.Cluster, inst.Nodegroup, inst.ID, store.InstanceRunning); err != nil {
				return 0, err
			}
		}
	}
	if len(obs.failed) > 0 {
		obs.issues = append(obs.issues, failureIssue(obs.failed))
	}
	converged := len(obs.live) == desired && obs.ready == desired && len(obs.failed) == 0 && !obs.blocked && !obs.draining && obs.outdated == 0

	switch ng.Status {
	case shapes.NodegroupCreating:
		return r.creating(ctx, rec, obs, converged, notReady)
	case shapes.NodegroupUpdating:
		return r.updating(ctx, rec, obs, converged)
	}
	status := shapes.NodegroupActive
	if len(obs.issues) > 0 {
		status = shapes.NodegroupDegraded
	}
	if err := r.setHealth(ctx, rec, status, obs.issues); err != nil {
		return 0, err
	}
	if !converged || len(obs.issues) > 0 {
		return time.Second, nil
	}
	return 0, nil
}

// creating ends a CREATING nodegroup: ACTIVE once every node is Ready,
// CREATE_FAILED when a node cannot be made or none joined in time.
func (r *Reconciler) creating(ctx context.Context, rec *store.NodegroupRecord, obs *observation, converged bool, notReady []string) (time.Duration, error) {
	ng := &rec.Nodegroup
	switch {
	case len(obs.failed) > 0:
		// Nothing that cannot run keeps its address or claims to run.
		for _, inst := range obs.live {
			if _, bad := obs.failed[inst.ID]; bad {
				if err := r.st.TerminateInstance(ctx, inst.Cluster, inst.Nodegroup, inst.ID, "Server.InternalError: "+obs.failed[inst.ID]); err != nil {
					return 0, err
				}
			}
		}
		r.Log.Warn("nodegroup create failed", "cluster", ng.ClusterName, "nodegroup", ng.NodegroupName, "issues", obs.issues)
		return 0, r.setHealth(ctx, rec, shapes.NodegroupCreateFailed, obs.issues)
	case converged && len(obs.issues) == 0:
		r.Log.Info("nodegroup active", "cluster", ng.ClusterName, "nodegroup", ng.NodegroupName, "nodes", obs.ready)
		return 0, r.setHealth(ctx, rec, shapes.NodegroupActive, nil)
	case r.Now().Sub(time.UnixMilli(int64(float64(ng.CreatedAt)*1000))) > r.CreateTimeout:
		issues := append(obs.issues, shapes.NodegroupIssue{Code: "NodeCreationFailure",
			Message: "Instances failed to join the kubernetes cluster", ResourceIDs: notReady})
		return 0, r.setHealth(ctx, rec, shapes.NodegroupCreateFailed, issues)
	}
	return r.waitPoll(), r.setHealth(ctx, rec, shapes.NodegroupCreating, obs.issues)
}

// waitPoll is how soon a nodegroup waiting on its nodes is looked at
// again: an executor that reports node changes wakes it sooner.
func (r *Reconciler) waitPoll() time.Duration {
	if _, ok := r.Executor.(NodeWatcher); ok {
		return r.NodePoll
	}
	return 200 * time.Millisecond
}

// updating finishes the update in progress once the nodegroup is as it asks
// (the API already wrote the new configuration into the nodegroup).
func (r *Reconciler) updating(ctx context.Context, rec *store.NodegroupRecord, obs *observation, converged bool) (time.Duration, error) {
	ng := &rec.Nodegroup
	if rec.ActiveUpdate == "" {
		return 0, r.setHealth(ctx, rec, shapes.NodegroupActive, obs.issues)
	}
	u, err := r.st.GetNodegroupUpdate(ctx, ng.ClusterName, ng.NodegroupName, rec.ActiveUpdate)
	if errors.Is(err, store.ErrNotFound) {
		_, err = r.st.UpdateNodegroup(ctx, ng.ClusterName, ng.NodegroupName, func(fresh *store.NodegroupRecord) error {
			fresh.ActiveUpdate = ""
			fresh.Nodegroup.Status = shapes.NodegroupActive
			return nil
		})
		return time.Second, err
	}
	if err != nil {
		return 0, err
	}
	started := time.UnixMilli(int64(float64(u.Update.CreatedAt) * 1000))
	var failure *shapes.ErrorDetail
	switch {
	case len(obs.failed) > 0:
		failure = &shapes.ErrorDetail{ErrorCode: "NodeCreationFailure", ErrorMessage: failureIssue(obs.failed).Message, ResourceIDs: sortedKeys(obs.failed)}
	case obs.blocked && r.Now().Sub(started) > r.DrainTimeout:
		failure = &shapes.ErrorDetail{ErrorCode: "PodEvictionFailure", ErrorMessage: "Reached max retries while trying to evict pods from nodes in node group " + ng.NodegroupName}
		for _, is := range obs.issues {
			if is.Code == "PodEvictionFailure" {
				failure.ResourceIDs = is.ResourceIDs
			}
		}
	case !converged && r.Now().Sub(started) > r.CreateTimeout && len(notJoined(obs.issues)) > 0:
		failure = &shapes.ErrorDetail{ErrorCode: "NodeCreationFailure", ErrorMessage: JoinFailureMessage, ResourceIDs: notJoined(obs.issues)}
	case !converged:
		return r.waitPoll(), r.setHealth(ctx, rec, shapes.NodegroupUpdating, obs.issues)
	}
	final := *u
	final.Update.Status = shapes.UpdateSuccessful
	if failure != nil {
		final.Update.Status = shapes.UpdateFailed
		final.Update.Errors = []shapes.ErrorDetail{*failure}
	}
	status := shapes.NodegroupActive
	if len(obs.issues) > 0 {
		status = shapes.NodegroupDegraded
	}
	r.Log.Info("nodegroup update finished", "cluster", ng.ClusterName, "nodegroup", ng.NodegroupName, "update", u.Update.ID, "status", final.Update.Status)
	return time.Second, r.st.FinishNodegroupUpdate(ctx, &final, func(fresh *store.NodegroupRecord) error {
		if t := obs.target; t != nil && failure == nil {
			fresh.Nodegroup.Version, fresh.Nodegroup.ReleaseVersion, fresh.ImageID = t.Version, t.ReleaseVersion, t.ImageID
		}
		fresh.Nodegroup.Status = status
		fresh.Nodegroup.Health = &shapes.NodegroupHealth{Issues: nonNilIssues(obs.issues)}
		fresh.Nodegroup.ModifiedAt = now(r.Now())
		return nil
	})
}

// scale launches or removes instances toward desired, one step per pass.
func (r *Reconciler) scale(ctx context.Context, crec *store.ClusterRecord, rec *store.NodegroupRecord, desired int, obs *observation, image nodeImage) error {
	for len(obs.live) < desired {
		inst, issue, err := r.launch(ctx, crec, rec, obs.live, image)
		if err != nil {
			return err
		}
		if issue != nil {
			obs.issues = append(obs.issues, *issue)
			return nil
		}
		obs.live = append(obs.live, inst)
	}
	if len(obs.live) <= desired {
		return nil
	}
	// Scale in: the newest instances of the zones that have the most.
	victims := pickVictims(obs.live, len(obs.live)-desired)
	var gone []store.Instance
	for _, inst := range obs.live {
		if slices.Contains(victims, inst.ID) {
			gone = append(gone, inst)
		}
	}
	res := r.removeNodes(ctx, crec, rec, gone)
	if res.err != nil {
		return res.err
	}
	for _, inst := range res.removed {
		if err := r.st.TerminateInstance(ctx, inst.Cluster, inst.Nodegroup, inst.ID, "Client.UserInitiatedShutdown: scaled in by the nodegroup"); err != nil {
			return err
		}
	}
	// Those not removed yet still run (and count) until a later pass.
	keep := slices.DeleteFunc(slices.Clone(obs.live), func(inst store.Instance) bool {
		return slices.ContainsFunc(res.removed, func(gone store.Instance) bool { return gone.ID == inst.ID })
	})
	obs.live, obs.draining = keep, res.draining
	if len(res.blocked) > 0 {
		obs.blocked = true
		obs.issues = append(obs.issues, shapes.NodegroupIssue{Code: "PodEvictionFailure",
			Message: "Pods could not be evicted from nodes being removed: " + res.blockErr.Error(), ResourceIDs: res.blocked})
	}
	return nil
}

// pickVictims chooses n instances to remove: from the zones with the most
// instances, newest first, so the rest stay spread.
func pickVictims(live []store.Instance, n int) []string {
	byZone := map[string][]store.Instance{}
	for _, inst := range live {
		byZone[inst.AvailabilityZone] = append(byZone[inst.AvailabilityZone], inst)
	}
	var out []string
	for ; n > 0; n-- {
		zone := ""
		for z, list := range byZone {
			if len(list) > 0 && (zone == "" || len(list) > len(byZone[zone]) || (len(list) == len(byZone[zone]) && z > zone)) {
				zone = z
			}
		}
		list := byZone[zone]
		out = append(out, list[len(list)-1].ID) // instances are oldest first
		byZone[zone] = list[:len(list)-1]
	}
	return out
}

// failureIssue is the NodeCreationFailure issue naming the instances that cannot be made.
func failureIssue(failed map[string]string) shapes.NodegroupIssue {
	ids := sortedKeys(failed)
	msgs := map[string]bool{}
	var parts []string
	for _, id := range ids {
		if !msgs[failed[id]] {
			msgs[failed[id]] = true
			parts = append(parts, failed[id])
		}
	}
	return shapes.NodegroupIssue{Code: "NodeCreationFailure", Message: strings.Join(parts, "; "), ResourceIDs: ids}
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func nonNilIssues(is []shapes.NodegroupIssue) []shapes.NodegroupIssue {
	if is == nil {
		return []shapes.NodegroupIssue{}
	}
	return is
}

func now(t time.Time) shapes.Time { return shapes.Time(float64(t.UnixMilli()) / 1000) }

// setHealth writes status and issues when they differ from the record's.
func (r *Reconciler) setHealth(ctx context.Context, rec *store.NodegroupRecord, status string, issues []shapes.NodegroupIssue) error {
	ng := &rec.Nodegroup
	issues = nonNilIssues(issues)
	if ng.Status == status && ng.Health != nil && reflect.DeepEqual(ng.Health.Issues, issues) {
		return nil
	}
	_, err := r.st.UpdateNodegroup(ctx, ng.ClusterName, ng.NodegroupName, func(fresh *store.NodegroupRecord) error {
		if fresh.Nodegroup.Status != ng.Status {
			return errStale // someone else moved it (a delete, an update): look again
		}
		fresh.Nodegroup.Status = status
		fresh.Nodegroup.Health = &shapes.NodegroupHealth{Issues: issues}
		if status != ng.Status {
			fresh.Nodegroup.ModifiedAt = now(r.Now())
		}
		return nil
	})
	if errors.Is(err, errStale) {
		return nil
	}
	if err == nil && status != ng.Status {
		r.Log.Info("nodegroup status", "cluster", ng.ClusterName, "nodegroup", ng.NodegroupName, "from", ng.Status, "to", status)
	}
	return err
}

var errStale = errors.New("nodegroup: changed meanwhile")
