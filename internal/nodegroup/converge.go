package nodegroup

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"reflect"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/kplane/kplane/internal/controlplane"
	"github.com/kplane/kplane/internal/eks/shapes"
	"github.com/kplane/kplane/internal/nodenet"
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

// launch makes one instance of image in the subnet of the nodegroup's that
// has the fewest of its live instances (then the most free addresses).
func (r *Reconciler) launch(ctx context.Context, crec *store.ClusterRecord, rec *store.NodegroupRecord, live []store.Instance, image nodeImage) (store.Instance, *shapes.NodegroupIssue, error) {
	ng := &rec.Nodegroup
	count := map[string]int{}
	for _, inst := range live {
		count[inst.SubnetID]++
	}
	subnets := slices.Clone(ng.Subnets)
	sort.SliceStable(subnets, func(i, j int) bool { return count[subnets[i]] < count[subnets[j]] })
	var full, gone []string
	for _, sn := range subnets {
		inst := store.Instance{
			ID: newInstanceID(), Cluster: ng.ClusterName, Nodegroup: ng.NodegroupName,
			InstanceType: rec.InstanceType(), ImageID: image.imageID, KubernetesVersion: image.version, SubnetID: sn, SecurityGroupIDs: instanceGroups(crec, rec),
			State: store.InstancePending, LaunchTime: r.Now().UTC().Truncate(time.Millisecond),
			Tags: instanceTags(rec),
		}
		out, err := r.st.LaunchInstance(ctx, inst, func(ip netip.Addr) string { return PrivateDNSName(ip, r.info.Region) })
		switch {
		case errors.Is(err, store.ErrNoFreeAddress):
			full = append(full, sn)
			continue
		case errors.Is(err, store.ErrNotFound):
			gone = append(gone, sn)
			continue
		case err != nil:
			return store.Instance{}, nil, err
		}
		r.Log.Info("instance launched", "cluster", ng.ClusterName, "nodegroup", ng.NodegroupName, "instance", out.ID, "ip", out.PrivateIP, "zone", out.AvailabilityZone)
		return out, nil, nil
	}
	if len(gone) > 0 {
		return store.Instance{}, &shapes.NodegroupIssue{Code: "Ec2SubnetNotFound", Message: "Subnets of the nodegroup do not exist: " + strings.Join(gone, ", "), ResourceIDs: gone}, nil
	}
	return store.Instance{}, &shapes.NodegroupIssue{Code: "InsufficientFreeAddresses",
		Message: "One or more Subnets has insufficient free addresses to launch instances", ResourceIDs: full}, nil
}

// instanceGroups are an instance's security groups: its launch template's,
// else the cluster's security group, as EKS gives them.
func instanceGroups(crec *store.ClusterRecord, rec *store.NodegroupRecord) []string {
	if rec.Launch != nil && len(rec.Launch.SecurityGroupIDs) > 0 {
		return rec.Launch.SecurityGroupIDs
	}
	if vc := crec.Cluster.ResourcesVpcConfig; vc != nil && vc.ClusterSecurityGroupID != "" {
		return []string{vc.ClusterSecurityGroupID}
	}
	return nil
}

// instanceTags are the tags EKS's Auto Scaling group puts on nodegroup
// instances, over those of its launch template.
func instanceTags(rec *store.NodegroupRecord) map[string]string {
	ng := &rec.Nodegroup
	asg := ""
	if ng.Resources != nil && len(ng.Resources.AutoScalingGroups) > 0 {
		asg = ng.Resources.AutoScalingGroups[0].Name
	}
	tags := map[string]string{}
	if rec.Launch != nil {
		maps.Copy(tags, rec.Launch.Tags)
	}
	maps.Copy(tags, map[string]string{
		"eks:cluster-name":                            ng.ClusterName,
		"eks:nodegroup-name":                          ng.NodegroupName,
		"kubernetes.io/cluster/" + ng.ClusterName:     "owned",
		"aws:autoscaling:groupName":                   asg,
		"k8s.io/cluster-autoscaler/enabled":           "true",
		"k8s.io/cluster-autoscaler/" + ng.ClusterName: "owned",
	})
	return tags
}

// newInstanceID is an EC2 instance id: i- and 17 hex digits.
func newInstanceID() string {
	return "i-" + strings.ReplaceAll(uuid.NewString(), "-", "")[:17]
}

// PrivateDNSName is EC2's private DNS name of ip in region:
// ip-A-B-C-D.REGION.compute.internal, ip-A-B-C-D.ec2.internal in us-east-1.
func PrivateDNSName(ip netip.Addr, region string) string {
	host := "ip-" + strings.ReplaceAll(ip.String(), ".", "-")
	if region == "us-east-1" {
		return host + ".ec2.internal"
	}
	return host + "." + region + ".compute.internal"
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

// spec is the NodeSpec of inst: where it joins and the labels and taints EKS gives it.
func (r *Reconciler) spec(crec *store.ClusterRecord, rec *store.NodegroupRecord, inst store.Instance) NodeSpec {
	ng := &rec.Nodegroup
	c := &crec.Cluster
	labels := map[string]string{}
	for k, v := range ng.Labels {
		labels[k] = v
	}
	for k, v := range map[string]string{
		"eks.amazonaws.com/nodegroup":       ng.NodegroupName,
		"eks.amazonaws.com/nodegroup-image": rec.ImageID,
		"eks.amazonaws.com/capacityType":    ng.CapacityType,
		"node.kubernetes.io/instance-type":  inst.InstanceType,
		"topology.kubernetes.io/region":     r.info.Region,
		"topology.kubernetes.io/zone":       inst.AvailabilityZone,
	} {
		labels[k] = v
	}
	var taints []Taint
	for _, t := range ng.Taints {
		taints = append(taints, Taint{Key: t.Key, Value: t.Value, Effect: KubernetesEffect(t.Effect)})
	}
	version := ng.Version
	if inst.KubernetesVersion != "" {
		version = inst.KubernetesVersion // a version update rolls nodes: each keeps its own
	}
	spec := NodeSpec{
		ClusterName: c.Name, ClusterID: c.ID, KubernetesVersion: version, Endpoint: c.Endpoint,
		Region: r.info.Region, NodeRoleArn: ng.NodeRole, Nodegroup: ng.NodegroupName,
		InstanceID: inst.ID, InstanceType: inst.InstanceType, ImageID: inst.ImageID, NodeName: inst.PrivateDNSName,
		ProviderID: fmt.Sprintf("aws:///%s/%s", inst.AvailabilityZone, inst.ID), PrivateIP: inst.PrivateIP,
		SubnetID: inst.SubnetID, VpcID: inst.VpcID, AvailabilityZone: inst.AvailabilityZone,
		Labels: labels, Taints: taints,
	}
	if c.CertificateAuthority != nil {
		spec.CAData = c.CertificateAuthority.Data
	}
	if c.KubernetesNetworkConfig != nil {
		spec.ServiceIPv4CIDR = c.KubernetesNetworkConfig.ServiceIpv4Cidr
	}
	r.network(&spec, crec, inst)
	return spec
}

// network fills in the subnet's block, the node's network (see
// NodeSpec.EndpointInVPC) and what its security groups let through, left
// empty if the inventory cannot be read.
func (r *Reconciler) network(spec *NodeSpec, crec *store.ClusterRecord, inst store.Instance) {
	n, err := r.st.FullNetwork(context.Background()) // with the clusters' security groups, which nodes carry
	if err != nil {
		return
	}
	if insts, err := r.st.Instances(context.Background()); err == nil {
		f := filterFor(inst, n, insts, r.st.Clusters())
		spec.Filter = &f
	}
	sn, _ := n.Subnet(spec.SubnetID)
	spec.SubnetCIDR = sn.CidrBlock
	spec.EndpointInVPC, _ = controlplane.EndpointForNodes(crec, n, spec.AvailabilityZone)
	var vpcCIDR netip.Prefix
	for _, v := range n.VPCs {
		if v.ID == spec.VpcID {
			vpcCIDR, _ = netip.ParsePrefix(v.CidrBlock)
		}
	}
	svc, _ := netip.ParsePrefix(spec.ServiceIPv4CIDR)
	addr, err := netip.ParseAddr(spec.PrivateIP)
	if !vpcCIDR.IsValid() || err != nil {
		return
	}
	podRange, err := nodenet.PodRange(vpcCIDR, svc)
	if err != nil {
		return
	}
	if pods, err := nodenet.PodCIDR(vpcCIDR, podRange, addr); err == nil {
		spec.PodCIDR, spec.PodRange = pods.String(), podRange.String()
	}
}

// KubernetesEffect turns EKS's taint effect into Kubernetes' (NO_SCHEDULE → NoSchedule).
func KubernetesEffect(e string) string {
	switch e {
	case "NO_SCHEDULE":
		return "NoSchedule"
	case "NO_EXECUTE":
		return "NoExecute"
	case "PREFER_NO_SCHEDULE":
		return "PreferNoSchedule"
	}
	return e
}
