package eks

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"

	"github.com/google/uuid"

	"github.com/kplane/kplane/internal/eks/shapes"
	"github.com/kplane/kplane/internal/store"
	"github.com/kplane/kplane/internal/versions"
)

// updateNodegroupVersion starts a rolling replacement of the nodegroup's
// nodes with nodes of another Kubernetes version or node image release
// (internal/nodegroup's roll). As on EKS: the version defaults to the
// cluster's; it may not pass the cluster's nor go back; the release must be
// the one kplane has for it; a launch template must be the nodegroup's own.
func (a *API) updateNodegroupVersion(c *call) (any, *Error) {
	crec, rec, err := a.nodegroup(c)
	if err != nil {
		return nil, err
	}
	cluster, name := crec.Cluster.Name, rec.Nodegroup.NodegroupName
	var req shapes.UpdateNodegroupVersionRequest
	if err := decodeBody(c.body, &req); err != nil {
		return nil, err
	}
	token := req.ClientRequestToken
	req.ClientRequestToken = ""
	change, e := a.nodegroupVersionChange(crec, rec, &req)
	if e != nil {
		return nil, e
	}
	body, _ := json.Marshal(change)
	u := &store.UpdateRecord{
		Cluster: cluster, Nodegroup: name,
		Update: shapes.Update{
			ID: uuid.NewString(), Status: shapes.UpdateInProgress, Type: "VersionUpdate",
			Params: []shapes.UpdateParam{
				{Type: "Version", Value: change.Version},
				{Type: "ReleaseVersion", Value: change.ReleaseVersion},
			},
			CreatedAt: shapes.Time(float64(a.cfg.Now().UnixMilli()) / 1000), Errors: []shapes.ErrorDetail{},
		},
		Change:      body,
		RequestHash: requestHash(&req),
	}
	out, serr := a.cfg.Store.StartNodegroupUpdate(c.r.Context(), u, token, func(r *store.NodegroupRecord) error {
		if s := r.Nodegroup.Status; s != shapes.NodegroupActive && s != shapes.NodegroupDegraded {
			return Errorf(ResourceInUse, "Nodegroup %s is in %s state and cannot be updated until it is ACTIVE", name, s).With("clusterName", cluster).With("nodegroupName", name)
		}
		// The nodegroup takes the new version once its nodes run it.
		r.Nodegroup.Status = shapes.NodegroupUpdating
		r.Nodegroup.ModifiedAt = u.Update.CreatedAt
		return nil
	})
	if serr != nil {
		return nil, nodegroupStoreError(serr, cluster, name)
	}
	return map[string]any{"update": out.Update}, nil
}

// nodegroupVersionChange checks an UpdateNodegroupVersion against the
// cluster and the nodegroup and resolves what the nodes roll to.
func (a *API) nodegroupVersionChange(crec *store.ClusterRecord, rec *store.NodegroupRecord, req *shapes.UpdateNodegroupVersionRequest) (*store.NodegroupVersionChange, *Error) {
	cluster, ng := crec.Cluster.Name, &rec.Nodegroup
	name := ng.NodegroupName
	version := req.Version
	if version == "" {
		version = crec.Cluster.Version
	}
	if _, _, ok := versions.ParseMinor(version); !ok {
		return nil, ngParam(cluster, name, "Requested Nodegroup version %s is invalid", version)
	}
	if versions.CompareMinor(version, crec.Cluster.Version) > 0 {
		return nil, ngParam(cluster, name, "Requested Nodegroup version %s is invalid. The Nodegroup version must not be newer than the cluster version %s", version, crec.Cluster.Version)
	}
	if versions.CompareMinor(version, ng.Version) < 0 {
		return nil, ngParam(cluster, name, "Requested Nodegroup version %s is invalid. Downgrading a Nodegroup from version %s is not supported", version, ng.Version)
	}
	if offered := a.currentLimits().Versions; !contains(offered, version) {
		return nil, ngParam(cluster, name, "Kubernetes version %s is not available in kplane; %s", version, offeredVersions(offered))
	}
	release := a.releaseVersion(version)
	if req.ReleaseVersion != "" && req.ReleaseVersion != release {
		return nil, ngParam(cluster, name, "Requested release version %s is not valid for kubernetes version %s; kplane has %s", req.ReleaseVersion, version, release)
	}
	if lt := req.LaunchTemplate; lt != nil {
		own := ng.LaunchTemplate
		if own == nil {
			return nil, ngParam(cluster, name, "You cannot specify a launch template for a Nodegroup that was not created with a launch template")
		}
		if (lt.ID != "" && lt.ID != own.ID) || (lt.Name != "" && lt.Name != own.Name) {
			return nil, ngParam(cluster, name, "The launch template must be the one the Nodegroup was created with (%s)", own.ID+own.Name)
		}
	}
	if version == ng.Version && release == ng.ReleaseVersion {
		return nil, ngParam(cluster, name, "Nodegroup %s is already on Kubernetes version %s with release version %s", name, version, release)
	}
	return &store.NodegroupVersionChange{Version: version, ReleaseVersion: release, ImageID: nodeImageID(ng.AmiType, release), Force: req.Force}, nil
}

// nodeImageID is the AMI id of a nodegroup's nodes: one per AMI type and
// release, as EKS's optimized AMIs are.
func nodeImageID(amiType, release string) string {
	image := sha256.Sum256([]byte(amiType + "/" + release))
	return "ami-" + hex.EncodeToString(image[:])[:17]
}
