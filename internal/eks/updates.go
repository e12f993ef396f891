package eks

import (
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"github.com/kplane/kplane/internal/eks/shapes"
	"github.com/kplane/kplane/internal/store"
	"github.com/kplane/kplane/internal/versions"
)

// authModeOrder is the only direction EKS lets authenticationMode move.
var authModeOrder = map[string]int{"CONFIG_MAP": 0, "API_AND_CONFIG_MAP": 1, "API": 2}

func (a *API) updateClusterConfig(c *call) (any, *Error) {
	rec, err := a.cluster(c)
	if err != nil {
		return nil, err
	}
	name := rec.Cluster.Name
	var req shapes.UpdateClusterConfigRequest
	if err := decodeBody(c.body, &req); err != nil {
		return nil, err
	}
	if err := validateUpdateClusterConfig(name, &req); err != nil {
		return nil, err
	}
	typ, params, err := describeConfigChange(&rec.Cluster, &req)
	if err != nil {
		return nil, err.With("clusterName", name)
	}
	change, _ := json.Marshal(&req)
	var creator *store.AccessEntryRecord
	if typ == "AccessConfigUpdate" {
		// The creator's admin rights move from implicit to an access entry,
		// in the update's own transaction.
		creator = a.creatorEntry(rec, req.AccessConfig.AuthenticationMode)
	}
	return a.startUpdate(c, name, req.ClientRequestToken, typ, params, change, creator)
}

func (a *API) updateClusterVersion(c *call) (any, *Error) {
	rec, err := a.cluster(c)
	if err != nil {
		return nil, err
	}
	name := rec.Cluster.Name
	var req shapes.UpdateClusterVersionRequest
	if err := decodeBody(c.body, &req); err != nil {
		return nil, err
	}
	if req.Version == "" {
		return nil, InvalidParam(name, "version is required")
	}
	if !versions.IsNextMinor(rec.Cluster.Version, req.Version) {
		return nil, InvalidParam(name, "Unsupported Kubernetes minor version update from %s to %s", rec.Cluster.Version, req.Version)
	}
	if offered := a.currentLimits().Versions; !contains(offered, req.Version) {
		return nil, InvalidParam(name, "Kubernetes version %s is not available in kplane yet; %s", req.Version, offeredVersions(offered))
	}
	if err := a.nodegroupsOnClusterVersion(c, rec); err != nil {
		return nil, err
	}
	if err := a.upgradeReady(c, rec, req.Version, req.Force); err != nil {
		return nil, err
	}
	change, _ := json.Marshal(&req)
	params := []shapes.UpdateParam{
		{Type: "Version", Value: req.Version},
		{Type: "PlatformVersion", Value: a.platformVersion(req.Version)},
	}
	return a.startUpdate(c, name, req.ClientRequestToken, "VersionUpdate", params, change, nil)
}

// nodegroupsOnClusterVersion refuses a version update while a managed
// nodegroup is on an older minor than the cluster, as EKS does (force does
// not override it: it overrides upgrade insights only).
func (a *API) nodegroupsOnClusterVersion(c *call, rec *store.ClusterRecord) *Error {
	ngs, err := a.cfg.Store.ListNodegroups(c.r.Context(), rec.Cluster.Name)
	if err != nil {
		return internal(err)
	}
	var behind []string
	for _, ng := range ngs {
		if ng.Nodegroup.Version != rec.Cluster.Version {
			behind = append(behind, ng.Nodegroup.NodegroupName)
		}
	}
	if len(behind) > 0 {
		return Errorf(InvalidRequest, "Nodegroups %s must be updated to match cluster version %s before updating cluster version",
			strings.Join(behind, ", "), rec.Cluster.Version).With("clusterName", rec.Cluster.Name)
	}
	return nil
}

// startUpdate records an InProgress update for the reconciler to carry out,
// with the creator's access entry (nil: none) in the same write; also, if
// given, checks and marks the cluster in that write.
func (a *API) startUpdate(c *call, name, token, typ string, params []shapes.UpdateParam, change []byte, entry *store.AccessEntryRecord, also ...func(*store.ClusterRecord) error) (any, *Error) {
	u := &store.UpdateRecord{
		Cluster: name,
		Update: shapes.Update{
			ID: uuid.NewString(), Status: shapes.UpdateInProgress, Type: typ, Params: params,
			CreatedAt: shapes.Time(float64(a.cfg.Now().UnixMilli()) / 1000), Errors: []shapes.ErrorDetail{},
		},
		Change:      change,
		RequestHash: requestHash(struct{ T, P string }{typ, string(change)}),
	}
	out, _, err := a.cfg.Store.StartUpdate(c.r.Context(), u, token, func(rec *store.ClusterRecord) error {
		if rec.Cluster.Status != shapes.StatusActive {
			return Errorf(ResourceInUse, "Cluster %s is in %s state and cannot be updated until it is ACTIVE", name, rec.Cluster.Status).With("clusterName", name)
		}
		for _, f := range also {
			if err := f(rec); err != nil {
				return err
			}
		}
		rec.Cluster.Status = shapes.StatusUpdating
		return nil
	}, entry)
	if err != nil {
		return nil, storeError(err, name)
	}
	return map[string]any{"update": out.Update}, nil
}

// describeConfigChange names the update an UpdateClusterConfig makes and its
// params, refusing a request that changes nothing or more than one thing.
func describeConfigChange(cur *shapes.Cluster, req *shapes.UpdateClusterConfigRequest) (string, []shapes.UpdateParam, *Error) {
	var kinds []string
	var params []shapes.UpdateParam
	add := func(kind string, p ...shapes.UpdateParam) {
		kinds = append(kinds, kind)
		params = append(params, p...)
	}
	if req.Logging != nil {
		var current []string
		if cur.Logging != nil {
			current = cur.Logging.EnabledLogTypes()
		}
		if reflect.DeepEqual(req.Logging.ApplyTo(current), current) {
			return "", nil, Errorf(InvalidParameter, "No changes needed for the logging config provided")
		}
		v, _ := json.Marshal(req.Logging)
		add("LoggingUpdate", shapes.UpdateParam{Type: "ClusterLogging", Value: string(v)})
	}
	if v := req.ResourcesVpcConfig; v != nil {
		var p []shapes.UpdateParam
		if v.EndpointPublicAccess != nil {
			p = append(p, shapes.UpdateParam{Type: "EndpointPublicAccess", Value: strconv.FormatBool(*v.EndpointPublicAccess)})
		}
		if v.EndpointPrivateAccess != nil {
			p = append(p, shapes.UpdateParam{Type: "EndpointPrivateAccess", Value: strconv.FormatBool(*v.EndpointPrivateAccess)})
		}
		if v.PublicAccessCidrs != nil {
			b, _ := json.Marshal(v.PublicAccessCidrs)
			p = append(p, shapes.UpdateParam{Type: "PublicAccessCidrs", Value: string(b)})
		}
		if len(v.SubnetIDs) > 0 || v.SecurityGroupIDs != nil {
			return "", nil, Errorf(InvalidParameter, "kplane does not support changing a cluster's subnets or security groups yet")
		}
		next := *cur.ResourcesVpcConfig
		(&shapes.Cluster{ResourcesVpcConfig: &next}).ApplyConfig(&shapes.UpdateClusterConfigRequest{ResourcesVpcConfig: v})
		if !next.EndpointPublicAccess && !next.EndpointPrivateAccess {
			return "", nil, Errorf(InvalidParameter, "Cluster endpoint must have at least public or private access enabled")
		}
		if reflect.DeepEqual(next, *cur.ResourcesVpcConfig) {
			return "", nil, Errorf(InvalidParameter, "Cluster is already at the desired configuration with endpointPrivateAccess: %t , endpointPublicAccess: %t, and Public Endpoint Restrictions: %s", cur.ResourcesVpcConfig.EndpointPrivateAccess, cur.ResourcesVpcConfig.EndpointPublicAccess, strings.Join(cur.ResourcesVpcConfig.PublicAccessCidrs, ","))
		}
		add("EndpointAccessUpdate", p...)
	}
	if ac := req.AccessConfig; ac != nil && ac.AuthenticationMode != "" {
		from := "CONFIG_MAP"
		if cur.AccessConfig != nil && cur.AccessConfig.AuthenticationMode != "" {
			from = cur.AccessConfig.AuthenticationMode
		}
		if ac.AuthenticationMode == from {
			return "", nil, Errorf(InvalidParameter, "Cluster already has authentication mode %s", from)
		}
		if authModeOrder[ac.AuthenticationMode] < authModeOrder[from] {
			return "", nil, Errorf(InvalidParameter, "Unsupported authentication mode update from %s to %s", from, ac.AuthenticationMode)
		}
		add("AccessConfigUpdate", shapes.UpdateParam{Type: "AuthenticationMode", Value: ac.AuthenticationMode})
	}
	simple := []struct {
		set        bool
		kind, para string
		val        any
	}{
		{req.UpgradePolicy != nil, "UpgradePolicyUpdate", "UpgradePolicy", req.UpgradePolicy},
		{req.ZonalShiftConfig != nil, "ZonalShiftConfigUpdate", "ZonalShiftConfig", req.ZonalShiftConfig},
		// EKS Auto Mode changes compute, storage and load balancing together.
		{req.ComputeConfig != nil || req.StorageConfig != nil || req.KubernetesNetworkConfig != nil,
			"AutoModeUpdate", "ComputeConfig", req.ComputeConfig},
		{req.RemoteNetworkConfig != nil, "RemoteNetworkConfigUpdate", "RemoteNetworkConfig", req.RemoteNetworkConfig},
		{req.DeletionProtection != nil, "DeletionProtectionUpdate", "DeletionProtection", req.DeletionProtection},
		{req.ControlPlaneScalingConfig != nil, "ControlPlaneScalingConfigUpdate", "UpdatedTier", req.ControlPlaneScalingConfig},
		{req.KubeAPIServerConfig != nil || req.KubeControllerManagerConfig != nil || req.KubeSchedulerConfig != nil,
			"ControlPlaneComponentConfigUpdate", "KubeApiServerConfig", req.KubeAPIServerConfig},
	}
	for _, s := range simple {
		if s.set {
			v, _ := json.Marshal(s.val)
			add(s.kind, shapes.UpdateParam{Type: s.para, Value: string(v)})
		}
	}
	switch len(kinds) {
	case 0:
		return "", nil, Errorf(InvalidParameter, "The request must contain a change to the cluster configuration")
	case 1:
		return kinds[0], params, nil
	}
	return "", nil, Errorf(InvalidParameter, "Only one type of update can be allowed per request; this one has %s", strings.Join(kinds, ", "))
}

func (a *API) describeUpdate(c *call) (any, *Error) {
	rec, err := a.cluster(c)
	if err != nil {
		return nil, err
	}
	if ng := c.query.Get("nodegroupName"); ng != "" {
		return a.nodegroupUpdates(c, rec, ng, true)
	}
	if err := noSubresource(c, rec.Cluster.Name); err != nil {
		return nil, err
	}
	id := c.params["updateId"]
	u, serr := a.cfg.Store.GetUpdate(c.r.Context(), rec.Cluster.Name, id)
	if serr == store.ErrNotFound {
		return nil, Errorf(ResourceNotFound, "No update found for ID: %s", id).With("clusterName", rec.Cluster.Name)
	}
	if serr != nil {
		return nil, internal(serr)
	}
	return map[string]any{"update": u.Update}, nil
}

func (a *API) listUpdates(c *call) (any, *Error) {
	rec, err := a.cluster(c)
	if err != nil {
		return nil, err
	}
	if ng := c.query.Get("nodegroupName"); ng != "" {
		return a.nodegroupUpdates(c, rec, ng, false)
	}
	if err := noSubresource(c, rec.Cluster.Name); err != nil {
		return nil, err
	}
	limit, err := validateMaxResults(c.query.Get("maxResults"), 100)
	if err != nil {
		return nil, err
	}
	all, serr := a.cfg.Store.ListUpdates(c.r.Context(), rec.Cluster.Name)
	if serr != nil {
		return nil, internal(serr)
	}
	// Oldest first, as the store lists them: by creation time, then id.
	byAge := func(u *store.UpdateRecord) string {
		return fmt.Sprintf("%020.3f/%s", float64(u.Update.CreatedAt), u.Update.ID)
	}
	got, next, err := page(all, byAge, c.query.Get("nextToken"), limit)
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(got))
	for i, u := range got {
		ids[i] = u.Update.ID
	}
	out := map[string]any{"updateIds": ids}
	if next != "" {
		out["nextToken"] = next
	}
	return out, nil
}

// noSubresource refuses update queries about node groups, add-ons and
// capabilities, which kplane does not have yet.
func noSubresource(c *call, cluster string) *Error {
	for _, q := range []string{"nodegroupName", "addonName", "capabilityName"} {
		if v := c.query.Get(q); v != "" {
			e := Errorf(ResourceNotFound, "No %s found for name: %s.", strings.TrimSuffix(q, "Name"), v).With("clusterName", cluster)
			if q != "capabilityName" {
				e.With(q, v)
			}
			return e
		}
	}
	return nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
