package nodegroup

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/netip"
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

// An instance of a nodegroup: how it is launched, named and tagged, and the
// NodeSpec its node agent runs from.

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
