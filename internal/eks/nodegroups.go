package eks

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/google/uuid"

	"github.com/kplane/kplane/internal/access"
	"github.com/kplane/kplane/internal/eks/shapes"
	"github.com/kplane/kplane/internal/store"
)

// Managed nodegroups. The API records intent (a nodegroup CREATING, an
// update InProgress, DELETING); internal/nodegroup's reconciler launches the
// instances and their nodes and reports back through the store.

// NodegroupNotFound is the ResourceNotFoundException EKS answers for a missing nodegroup.
func NodegroupNotFound(cluster, name string) *Error {
	return Errorf(ResourceNotFound, "No node group found for name: %s.", name).With("clusterName", cluster).With("nodegroupName", name)
}

func (a *API) createNodegroup(c *call) (any, *Error) {
	crec, err := a.cluster(c)
	if err != nil {
		return nil, err
	}
	cluster := crec.Cluster.Name
	var req shapes.CreateNodegroupRequest
	if err := decodeBody(c.body, &req); err != nil {
		return nil, err
	}
	token := req.ClientRequestToken
	req.ClientRequestToken = ""
	hash := requestHash(&req) // before defaults, as the caller sent it
	if err := validateCreateNodegroup(cluster, &req, a.limits); err != nil {
		return nil, err
	}
	name := req.NodegroupName
	for attempt := 0; ; attempt++ {
		if crec.Cluster.Status != shapes.StatusActive {
			return nil, Errorf(InvalidRequest, "Cluster '%s' is not in ACTIVE status", cluster).With("clusterName", cluster).With("nodegroupName", name)
		}
		if e := a.checkNodegroupPlacement(c, crec, &req); e != nil {
			return nil, e
		}
		launch, e := a.applyLaunchTemplate(c, cluster, &req)
		if e != nil {
			return nil, e
		}
		rec := a.newNodegroupRecord(crec, &req, hash)
		rec.Launch = launch
		ifAbsent := map[string]any{}
		if authMode(&crec.Cluster) != "CONFIG_MAP" {
			// EKS gives the node role an EC2_LINUX access entry when the
			// cluster's access entries count (API modes).
			entry := a.newAccessEntry(cluster, req.NodeRole, "EC2_LINUX", access.NodeUsername, access.NodeGroups, nil)
			ifAbsent[store.AccessEntryKey(cluster, req.NodeRole)] = &store.AccessEntryRecord{Entry: entry, Policies: []shapes.AssociatedAccessPolicy{}}
		}
		out, _, serr := a.cfg.Store.CreateNodegroup(c.r.Context(), rec, crec.Revision, token, ifAbsent)
		switch {
		case serr == nil:
			return map[string]any{"nodegroup": out.Nodegroup}, nil
		case errors.Is(serr, store.ErrExists):
			return nil, Errorf(ResourceInUse, "NodeGroup already exists with name %s and cluster name %s", name, cluster).With("clusterName", cluster).With("nodegroupName", name)
		case errors.Is(serr, store.ErrTokenMismatch), errors.Is(serr, store.ErrNotFound):
			return nil, tokenReused(token).With("clusterName", cluster).With("nodegroupName", name)
		case errors.Is(serr, store.ErrClusterChanged) && attempt < 5:
			// The cluster changed since it was read: look at it again.
			if crec, err = a.cluster(c); err != nil {
				return nil, err
			}
		default:
			return nil, internal(serr)
		}
	}
}

// checkNodegroupPlacement checks what CreateNodegroup needs of the account:
// the version, the node role, and subnets of the cluster's VPC.
func (a *API) checkNodegroupPlacement(c *call, crec *store.ClusterRecord, req *shapes.CreateNodegroupRequest) *Error {
	cluster, name := crec.Cluster.Name, req.NodegroupName
	if req.Version != "" && req.Version != crec.Cluster.Version {
		return ngParam(cluster, name, "Requested Nodegroup version %s is invalid. The Nodegroup version must match the cluster version %s", req.Version, crec.Cluster.Version)
	}
	if rv := a.releaseVersion(crec.Cluster.Version); req.ReleaseVersion != "" && req.ReleaseVersion != rv {
		return ngParam(cluster, name, "Requested release version %s is not valid for kubernetes version %s; kplane has %s", req.ReleaseVersion, crec.Cluster.Version, rv)
	}
	if a.cfg.RoleExists != nil {
		ok, err := a.cfg.RoleExists(c.r.Context(), req.NodeRole)
		if err != nil {
			return internal(err)
		}
		if !ok {
			return ngParam(cluster, name, "Role with arn: %s, does not exist. Create it with aws iam create-role first.", req.NodeRole)
		}
	}
	network, err := a.cfg.Store.Network(c.r.Context())
	if err != nil {
		return internal(err)
	}
	vpc := ""
	if crec.Cluster.ResourcesVpcConfig != nil {
		vpc = crec.Cluster.ResourcesVpcConfig.VpcID
	}
	for _, id := range req.Subnets {
		sn, ok := network.Subnet(id)
		if !ok {
			return ngParam(cluster, name, "The subnet ID '%s' does not exist", id)
		}
		if sn.VpcID != vpc {
			return ngParam(cluster, name, "Subnet %s is in VPC %s, not in the cluster's VPC %s", id, sn.VpcID, vpc)
		}
		if contains(a.limits.UnsupportedZones, sn.AvailabilityZone) {
			return Errorf(UnsupportedAvailabilityZone, "Nodes of this nodegroup cannot be launched in %s", sn.AvailabilityZone).
				With("clusterName", cluster).With("nodegroupName", name)
		}
	}
	return nil
}

// releaseVersion is the node image release kplane runs for Kubernetes minor
// version v, in EKS's form (1.37.2-20261201).
func (a *API) releaseVersion(minor string) string {
	if m, ok := a.cfg.Versions.Find(minor); ok {
		return m.KubernetesPatchVersion + "-" + m.ReleaseDate.Format("20060102")
	}
	return minor
}

// newNodegroupRecord is the nodegroup as EKS shows it right after
// CreateNodegroup: CREATING, every default filled in.
func (a *API) newNodegroupRecord(crec *store.ClusterRecord, req *shapes.CreateNodegroupRequest, hash string) *store.NodegroupRecord {
	id := uuid.NewString()
	cluster, name := crec.Cluster.Name, req.NodegroupName
	now := shapes.Time(float64(a.cfg.Now().UnixMilli()) / 1000)
	labels := req.Labels
	if labels == nil {
		labels = map[string]string{}
	}
	tags := req.Tags
	if tags == nil {
		tags = map[string]string{}
	}
	release := a.releaseVersion(crec.Cluster.Version)
	ng := shapes.Nodegroup{
		NodegroupName:    name,
		NodegroupArn:     fmt.Sprintf("arn:aws:eks:%s:%s:nodegroup/%s/%s/%s", a.cfg.Region, a.cfg.AccountID, cluster, name, id),
		ClusterName:      cluster,
		Version:          crec.Cluster.Version,
		ReleaseVersion:   release,
		CreatedAt:        now,
		ModifiedAt:       now,
		Status:           shapes.NodegroupCreating,
		CapacityType:     req.CapacityType,
		ScalingConfig:    req.ScalingConfig,
		InstanceTypes:    req.InstanceTypes,
		Subnets:          req.Subnets,
		AmiType:          req.AmiType,
		NodeRole:         req.NodeRole,
		Labels:           labels,
		Taints:           req.Taints,
		Resources:        &shapes.NodegroupResources{AutoScalingGroups: []shapes.AutoScalingGroup{{Name: "eks-" + name + "-" + id}}},
		DiskSize:         req.DiskSize,
		LaunchTemplate:   req.LaunchTemplate,
		Health:           &shapes.NodegroupHealth{Issues: []shapes.NodegroupIssue{}},
		UpdateConfig:     req.UpdateConfig,
		NodeRepairConfig: req.NodeRepairConfig,
		Tags:             tags,
	}
	return &store.NodegroupRecord{Nodegroup: ng, ID: id, ImageID: nodeImageID(req.AmiType, release), RequestHash: hash}
}

// nodegroup finds the cluster and nodegroup named in the path.
func (a *API) nodegroup(c *call) (*store.ClusterRecord, *store.NodegroupRecord, *Error) {
	crec, err := a.cluster(c)
	if err != nil {
		return nil, nil, err
	}
	name := c.params["nodegroupName"]
	if err := validateNodegroupName(crec.Cluster.Name, name); err != nil {
		return nil, nil, err
	}
	rec, serr := a.cfg.Store.GetNodegroup(c.r.Context(), crec.Cluster.Name, name)
	if errors.Is(serr, store.ErrNotFound) {
		return nil, nil, NodegroupNotFound(crec.Cluster.Name, name)
	}
	if serr != nil {
		return nil, nil, internal(serr)
	}
	return crec, rec, nil
}

func (a *API) describeNodegroup(c *call) (any, *Error) {
	_, rec, err := a.nodegroup(c)
	if err != nil {
		return nil, err
	}
	return map[string]any{"nodegroup": rec.Nodegroup}, nil
}

func (a *API) listNodegroups(c *call) (any, *Error) {
	crec, err := a.cluster(c)
	if err != nil {
		return nil, err
	}
	limit, err := validateMaxResults(c.query.Get("maxResults"), 100)
	if err != nil {
		return nil, err
	}
	all, serr := a.cfg.Store.ListNodegroups(c.r.Context(), crec.Cluster.Name)
	if serr != nil {
		return nil, internal(serr)
	}
	names := make([]string, len(all))
	for i, ng := range all {
		names[i] = ng.Nodegroup.NodegroupName
	}
	got, next, err := page(names, func(s string) string { return s }, c.query.Get("nextToken"), limit)
	if err != nil {
		return nil, err
	}
	out := map[string]any{"nodegroups": nonNil(got)}
	if next != "" {
		out["nextToken"] = next
	}
	return out, nil
}

func (a *API) deleteNodegroup(c *call) (any, *Error) {
	crec, rec, err := a.nodegroup(c)
	if err != nil {
		return nil, err
	}
	cluster, name := crec.Cluster.Name, rec.Nodegroup.NodegroupName
	out, serr := a.cfg.Store.UpdateNodegroup(c.r.Context(), cluster, name, func(r *store.NodegroupRecord) error {
		switch {
		case r.Nodegroup.Status == shapes.NodegroupDeleting:
			return nil
		case r.ActiveUpdate != "":
			return Errorf(ResourceInUse, "Nodegroup %s has an update in progress: %s", name, r.ActiveUpdate).With("clusterName", cluster).With("nodegroupName", name)
		}
		r.Nodegroup.Status = shapes.NodegroupDeleting
		r.Nodegroup.ModifiedAt = shapes.Time(float64(a.cfg.Now().UnixMilli()) / 1000)
		return nil
	})
	if serr != nil {
		return nil, nodegroupStoreError(serr, cluster, name)
	}
	return map[string]any{"nodegroup": out.Nodegroup}, nil
}

func (a *API) updateNodegroupConfig(c *call) (any, *Error) {
	crec, rec, err := a.nodegroup(c)
	if err != nil {
		return nil, err
	}
	cluster, name := crec.Cluster.Name, rec.Nodegroup.NodegroupName
	var req shapes.UpdateNodegroupConfigRequest
	if err := decodeBody(c.body, &req); err != nil {
		return nil, err
	}
	if err := validateUpdateNodegroupConfig(cluster, &rec.Nodegroup, &req); err != nil {
		return nil, err
	}
	token := req.ClientRequestToken
	req.ClientRequestToken = ""
	change, _ := json.Marshal(&req)
	u := &store.UpdateRecord{
		Cluster: cluster, Nodegroup: name,
		Update: shapes.Update{
			ID: uuid.NewString(), Status: shapes.UpdateInProgress, Type: "ConfigUpdate", Params: nodegroupUpdateParams(&req),
			CreatedAt: shapes.Time(float64(a.cfg.Now().UnixMilli()) / 1000), Errors: []shapes.ErrorDetail{},
		},
		Change:      change,
		RequestHash: requestHash(struct{ P string }{string(change)}),
	}
	out, serr := a.cfg.Store.StartNodegroupUpdate(c.r.Context(), u, token, func(r *store.NodegroupRecord) error {
		if s := r.Nodegroup.Status; s != shapes.NodegroupActive && s != shapes.NodegroupDegraded {
			return Errorf(ResourceInUse, "Nodegroup %s is in %s state and cannot be updated until it is ACTIVE", name, s).With("clusterName", cluster).With("nodegroupName", name)
		}
		// The new configuration is the nodegroup's at once; the
		// reconciler brings the nodes to it and finishes the update.
		r.Nodegroup.Apply(&req)
		r.Nodegroup.Status = shapes.NodegroupUpdating
		r.Nodegroup.ModifiedAt = u.Update.CreatedAt
		return nil
	})
	if serr != nil {
		return nil, nodegroupStoreError(serr, cluster, name)
	}
	return map[string]any{"update": out.Update}, nil
}

// nodegroupUpdateParams lists an UpdateNodegroupConfig's change as EKS's
// UpdateParams name it.
func nodegroupUpdateParams(req *shapes.UpdateNodegroupConfigRequest) []shapes.UpdateParam {
	var p []shapes.UpdateParam
	add := func(typ string, v any) {
		s, ok := v.(string)
		if !ok {
			b, _ := json.Marshal(v)
			s = string(b)
		}
		p = append(p, shapes.UpdateParam{Type: typ, Value: s})
	}
	if s := req.ScalingConfig; s != nil {
		if s.MinSize != nil {
			add("MinSize", fmt.Sprint(*s.MinSize))
		}
		if s.MaxSize != nil {
			add("MaxSize", fmt.Sprint(*s.MaxSize))
		}
		if s.DesiredSize != nil {
			add("DesiredSize", fmt.Sprint(*s.DesiredSize))
		}
	}
	if l := req.Labels; l != nil {
		if len(l.AddOrUpdateLabels) > 0 {
			add("LabelsToAdd", l.AddOrUpdateLabels)
		}
		if len(l.RemoveLabels) > 0 {
			add("LabelsToRemove", l.RemoveLabels)
		}
	}
	if t := req.Taints; t != nil {
		if len(t.AddOrUpdateTaints) > 0 {
			add("TaintsToAdd", t.AddOrUpdateTaints)
		}
		if len(t.RemoveTaints) > 0 {
			add("TaintsToRemove", t.RemoveTaints)
		}
	}
	if u := req.UpdateConfig; u != nil {
		if u.MaxUnavailable != nil {
			add("MaxUnavailable", fmt.Sprint(*u.MaxUnavailable))
		}
		if u.MaxUnavailablePercentage != nil {
			add("MaxUnavailablePercentage", fmt.Sprint(*u.MaxUnavailablePercentage))
		}
		if u.UpdateStrategy != "" {
			add("UpdateStrategy", u.UpdateStrategy)
		}
	}
	if r := req.NodeRepairConfig; r != nil {
		add("NodeRepairConfig", r)
	}
	return p
}

// nodegroupStoreError maps an error of a store call about a nodegroup.
func nodegroupStoreError(err error, cluster, name string) *Error {
	var e *Error
	switch {
	case errors.As(err, &e):
		return e
	case errors.Is(err, store.ErrNotFound):
		return NodegroupNotFound(cluster, name)
	case errors.Is(err, store.ErrUpdateInProgress):
		return Errorf(ResourceInUse, "Nodegroup %s has an update in progress", name).With("clusterName", cluster).With("nodegroupName", name)
	case errors.Is(err, store.ErrTokenMismatch):
		return Errorf(InvalidRequest, "The client request token was already used with different request parameters").With("clusterName", cluster).With("nodegroupName", name)
	}
	return internal(err)
}

// nodegroupUpdate answers DescribeUpdate and ListUpdates for ?nodegroupName=.
func (a *API) nodegroupUpdates(c *call, crec *store.ClusterRecord, name string, describe bool) (any, *Error) {
	cluster := crec.Cluster.Name
	if err := validateNodegroupName(cluster, name); err != nil {
		return nil, err
	}
	if _, err := a.cfg.Store.GetNodegroup(c.r.Context(), cluster, name); errors.Is(err, store.ErrNotFound) {
		return nil, NodegroupNotFound(cluster, name)
	} else if err != nil {
		return nil, internal(err)
	}
	if describe {
		id := c.params["updateId"]
		u, err := a.cfg.Store.GetNodegroupUpdate(c.r.Context(), cluster, name, id)
		if errors.Is(err, store.ErrNotFound) {
			return nil, Errorf(ResourceNotFound, "No update found for ID: %s", id).With("clusterName", cluster).With("nodegroupName", name)
		}
		if err != nil {
			return nil, internal(err)
		}
		return map[string]any{"update": u.Update}, nil
	}
	limit, err := validateMaxResults(c.query.Get("maxResults"), 100)
	if err != nil {
		return nil, err
	}
	all, serr := a.cfg.Store.ListNodegroupUpdates(c.r.Context(), cluster, name)
	if serr != nil {
		return nil, internal(serr)
	}
	ids := make([]string, len(all))
	for i, u := range all {
		ids[i] = u.Update.ID
	}
	got, next, err := page(ids, func(s string) string { return s }, c.query.Get("nextToken"), limit)
	if err != nil {
		return nil, err
	}
	out := map[string]any{"updateIds": nonNil(got)}
	if next != "" {
		out["nextToken"] = next
	}
	return out, nil
}

// nodegroupArnTarget resolves a nodegroup ARN of this region and account
// (arn:aws:eks:REGION:ACCOUNT:nodegroup/CLUSTER/NAME/ID) to its nodegroup.
// ok is false when arn is not a nodegroup ARN at all.
func (a *API) nodegroupArnTarget(c *call, arn string) (rec *store.NodegroupRecord, ok bool, e *Error) {
	parts := strings.SplitN(arn, ":", 6)
	if len(parts) != 6 || parts[0] != "arn" || parts[2] != "eks" || !strings.HasPrefix(parts[5], "nodegroup/") {
		return nil, false, nil
	}
	notFound := Errorf(NotFound, "Resource %s not found", arn)
	p := strings.Split(strings.TrimPrefix(parts[5], "nodegroup/"), "/")
	if len(p) != 3 || parts[3] != a.cfg.Region || parts[4] != a.cfg.AccountID {
		return nil, true, notFound
	}
	rec, err := a.cfg.Store.GetNodegroup(c.r.Context(), p[0], p[1])
	if err != nil || rec.ID != p[2] {
		return nil, true, notFound
	}
	return rec, true, nil
}

// changeNodegroupTags applies change to a nodegroup's tags.
func (a *API) changeNodegroupTags(c *call, rec *store.NodegroupRecord, change func(map[string]string) *Error) (any, *Error) {
	_, err := a.cfg.Store.UpdateNodegroup(c.r.Context(), rec.Nodegroup.ClusterName, rec.Nodegroup.NodegroupName, func(r *store.NodegroupRecord) error {
		if r.ID != rec.ID {
			return store.ErrNotFound
		}
		if r.Nodegroup.Tags == nil {
			r.Nodegroup.Tags = map[string]string{}
		}
		if e := change(r.Nodegroup.Tags); e != nil {
			return e
		}
		return nil
	})
	var e *Error
	switch {
	case errors.As(err, &e):
		return nil, e
	case errors.Is(err, store.ErrNotFound):
		return nil, Errorf(NotFound, "Resource %s not found", c.params["resourceArn"])
	case err != nil:
		return nil, internal(err)
	}
	return map[string]any{}, nil
}
