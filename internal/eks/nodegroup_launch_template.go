package eks

import (
	"errors"
	"strconv"

	"github.com/kplane/kplane/internal/eks/shapes"
	"github.com/kplane/kplane/internal/store"
)

// A nodegroup's launch template, checked as EKS checks it: the template and
// version exist, instance types are in the template or the request (not
// both), and it sets nothing EKS sets itself (an instance profile, a
// subnet). What a node honours (instance type, security groups, instance
// tags) is kept in the nodegroup's record for its instances; the rest stays
// in the template version, which DescribeNodegroup names.

// applyLaunchTemplate resolves req.LaunchTemplate to id, name and version
// number and returns what the nodegroup's instances take from it.
func (a *API) applyLaunchTemplate(c *call, cluster string, req *shapes.CreateNodegroupRequest) (*store.NodegroupLaunch, *Error) {
	lt := req.LaunchTemplate
	if lt == nil {
		return nil, nil
	}
	name := req.NodegroupName
	ctx := c.r.Context()
	id := lt.ID
	if id == "" {
		found, err := a.cfg.Store.LaunchTemplateID(ctx, lt.Name)
		if errors.Is(err, store.ErrNotFound) {
			return nil, ngParam(cluster, name, "Launch template %s does not exist", lt.Name)
		} else if err != nil {
			return nil, internal(err)
		}
		id = found
	}
	tmpl, _, err := a.cfg.Store.GetLaunchTemplate(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ngParam(cluster, name, "Launch template %s does not exist", id)
	} else if err != nil {
		return nil, internal(err)
	}
	number := tmpl.DefaultVersion
	switch lt.Version {
	case "", "$Default":
	case "$Latest":
		number = tmpl.LatestVersion
	default:
		n, perr := strconv.ParseInt(lt.Version, 10, 64)
		if perr != nil || n < 1 {
			return nil, ngParam(cluster, name, "Launch template version %s is not valid: give a version number, $Latest or $Default", lt.Version)
		}
		number = n
	}
	v, err := a.cfg.Store.LaunchTemplateVersion(ctx, id, number)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ngParam(cluster, name, "Launch template %s does not have version %d", id, number)
	} else if err != nil {
		return nil, internal(err)
	}
	switch {
	case v.InstanceType() != "" && len(req.InstanceTypes) > 0:
		return nil, ngParam(cluster, name, "Instance type can be specified in either the launch template or the nodegroup request, not both.")
	case v.Has("IamInstanceProfile"):
		return nil, ngParam(cluster, name, "Launch template %s should not specify an instance profile. The node role of the request is used.", id)
	case v.Has("NetworkInterface") && hasSubnet(v):
		return nil, ngParam(cluster, name, "Launch template %s should not specify a subnet. The subnets of the request are used.", id)
	case v.ImageID() != "":
		// EKS would make the nodegroup CUSTOM; kplane's nodes run kplane's image.
		return nil, ngParam(cluster, name, "kplane runs its own node image: a launch template with an ImageId (amiType CUSTOM) is not supported")
	}
	if v.InstanceType() == "" && len(req.InstanceTypes) == 0 {
		req.InstanceTypes = []string{defaultInstanceType}
	}
	lt.ID, lt.Name, lt.Version = tmpl.ID, tmpl.Name, strconv.FormatInt(number, 10)
	return &store.NodegroupLaunch{InstanceType: v.InstanceType(), SecurityGroupIDs: v.SecurityGroupIDs(), Tags: v.InstanceTags()}, nil
}

func hasSubnet(v store.LaunchTemplateVersion) bool {
	for k := range v.Data {
		if len(k) > len(".SubnetId") && k[len(k)-len(".SubnetId"):] == ".SubnetId" {
			return true
		}
	}
	return false
}
