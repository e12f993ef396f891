package eks

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/google/uuid"

	"github.com/kplane/kplane/internal/eks/shapes"
	"github.com/kplane/kplane/internal/store"
)

// EKS's default service CIDRs: 10.100.0.0/16, or 172.20.0.0/16 when the VPC
// itself is in 10.0.0.0/8.
var (
	defaultServiceCIDR    = shapes.DefaultServiceCIDR
	defaultServiceCIDRAlt = "172.20.0.0/16"
)

func (a *API) createCluster(c *call) (any, *Error) {
	var req shapes.CreateClusterRequest
	if err := decodeBody(c.body, &req); err != nil {
		return nil, err
	}
	network, nerr := a.cfg.Store.Network(c.r.Context())
	if nerr == nil {
		nerr = a.addClusterSecurityGroups(c.r.Context(), network, req.ResourcesVpcConfig)
		// A cluster of this name is either this call's retry (the token
		// replays it) or a conflict; neither wants its addresses counted.
		if prior, err := a.cfg.Store.GetCluster(c.r.Context(), req.Name); err == nil {
			network.Release(prior)
		}
	}
	if nerr != nil {
		return nil, internal(nerr)
	}
	if err := validateCreateCluster(&req, network, a.currentLimits()); err != nil {
		return nil, err
	}
	if a.cfg.RoleExists != nil {
		ok, err := a.cfg.RoleExists(c.r.Context(), req.RoleArn)
		if err != nil {
			return nil, internal(err)
		}
		if !ok {
			return nil, InvalidParam(req.Name, "Role with arn: %s, does not exist. Create it with aws iam create-role first.", req.RoleArn)
		}
	}
	if err := a.checkEncryptionKeys(c.r.Context(), req.Name, req.EncryptionConfig); err != nil {
		return nil, err
	}
	rec := a.newClusterRecord(&req, network, c.caller)
	var entries []*store.AccessEntryRecord
	if e := a.creatorEntry(rec, authMode(&rec.Cluster)); e != nil {
		entries = append(entries, e)
	}
	out, replayed, err := a.cfg.Store.CreateCluster(c.r.Context(), rec, req.ClientRequestToken, a.cfg.ClusterQuota, entries...)
	var netErr *store.ClusterNetworkError
	switch {
	case errors.Is(err, store.ErrExists):
		return nil, Errorf(ResourceInUse, "Cluster already exists with name: %s", req.Name).With("clusterName", req.Name)
	case errors.Is(err, store.ErrQuota):
		return nil, Errorf(ResourceLimitExceeded, "Cluster limit exceeded for account %s: at most %d clusters", a.cfg.AccountID, a.cfg.ClusterQuota).With("clusterName", req.Name)
	case errors.Is(err, store.ErrTokenMismatch):
		return nil, tokenReused(req.ClientRequestToken).With("clusterName", req.Name)
	case errors.As(err, &netErr):
		// The network changed between validation and the write.
		return nil, clusterNetworkError(req.Name, netErr)
	case errors.Is(err, store.ErrNotFound):
		// The token's cluster was created and deleted since.
		return nil, tokenReused(req.ClientRequestToken).With("clusterName", req.Name)
	case err != nil:
		return nil, internal(err)
	}
	if replayed {
		a.cfg.Log.Debug("CreateCluster replayed", "cluster", out.Cluster.Name, "token", req.ClientRequestToken)
	}
	return map[string]any{"cluster": out.Cluster}, nil
}

// addClusterSecurityGroups adds to network the groups EKS made for other
// clusters that v names: Network leaves them out (one read per cluster), and
// EKS lets a cluster use another's group.
func (a *API) addClusterSecurityGroups(ctx context.Context, network *store.Network, v *shapes.VpcConfigRequest) error {
	if v == nil || len(v.SecurityGroupIDs) > maxSecurityGroups {
		return nil // validation refuses too many
	}
	for _, id := range v.SecurityGroupIDs {
		if _, ok := network.SecurityGroup(id); ok {
			continue
		}
		g, ok, err := a.cfg.Store.ClusterSecurityGroup(ctx, id)
		if err != nil {
			return err
		}
		if ok {
			network.SecurityGroups = append(network.SecurityGroups, g)
		}
	}
	return nil
}

// clusterNetworkError is the error validation would have given had it seen
// the network the store found.
func clusterNetworkError(cluster string, e *store.ClusterNetworkError) *Error {
	switch {
	case !e.Missing:
		return InvalidParam(cluster, insufficientIPs, fmt.Sprintf("%s Free IPs: %d", e.ID, e.Free), store.MinFreeAddresses)
	case strings.HasPrefix(e.ID, "sg-"):
		return InvalidParam(cluster, "The security group '%s' does not exist", e.ID)
	}
	return InvalidParam(cluster, "The subnet ID '%s' does not exist", e.ID)
}

func tokenReused(token string) *Error {
	return Errorf(InvalidRequest, "The client request token %s was already used with different request parameters", token)
}

// requestHash identifies a request's parameters apart from its token.
func requestHash(v any) string {
	b, _ := json.Marshal(v)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// newClusterRecord is the cluster as EKS shows it right after CreateCluster:
// CREATING, every default filled in, no endpoint or CA yet.
func (a *API) newClusterRecord(req *shapes.CreateClusterRequest, network *store.Network, caller string) *store.ClusterRecord {
	token := req.ClientRequestToken
	req.ClientRequestToken = ""
	hash := requestHash(req)
	req.ClientRequestToken = token

	id := uuid.NewString()
	issuerID := strings.ToUpper(strings.ReplaceAll(uuid.NewString(), "-", ""))
	first, _ := network.Subnet(req.ResourcesVpcConfig.SubnetIDs[0])
	vpc := &shapes.VpcConfigResponse{
		SubnetIDs:              req.ResourcesVpcConfig.SubnetIDs,
		SecurityGroupIDs:       nonNil(req.ResourcesVpcConfig.SecurityGroupIDs),
		ClusterSecurityGroupID: store.NewResourceID("sg"),
		VpcID:                  first.VpcID,
		EndpointPublicAccess:   boolOr(req.ResourcesVpcConfig.EndpointPublicAccess, true),
		EndpointPrivateAccess:  boolOr(req.ResourcesVpcConfig.EndpointPrivateAccess, false),
		PublicAccessCidrs:      req.ResourcesVpcConfig.PublicAccessCidrs,
		ControlPlaneEgressMode: req.ResourcesVpcConfig.ControlPlaneEgressMode,
	}
	if len(vpc.PublicAccessCidrs) == 0 {
		vpc.PublicAccessCidrs = []string{"0.0.0.0/0"}
	}
	knc := &shapes.KubernetesNetworkConfig{IPFamily: "ipv4", ElasticLoadBalancing: &shapes.ElasticLoadBalancing{Enabled: shapes.Bool(false)}}
	if r := req.KubernetesNetworkConfig; r != nil {
		knc.ServiceIpv4Cidr = r.ServiceIpv4Cidr
		if r.IPFamily != "" {
			knc.IPFamily = r.IPFamily
		}
		if r.ElasticLoadBalancing != nil {
			knc.ElasticLoadBalancing = r.ElasticLoadBalancing
		}
	}
	if knc.ServiceIpv4Cidr == "" {
		knc.ServiceIpv4Cidr = a.defaultServiceCIDR(network, vpc.VpcID)
	}
	access := &shapes.AccessConfig{AuthenticationMode: "CONFIG_MAP", BootstrapClusterCreatorAdminPermissions: shapes.Bool(true)}
	if r := req.AccessConfig; r != nil {
		if r.AuthenticationMode != "" {
			access.AuthenticationMode = r.AuthenticationMode
		}
		if r.BootstrapClusterCreatorAdminPermissions != nil {
			access.BootstrapClusterCreatorAdminPermissions = r.BootstrapClusterCreatorAdminPermissions
		}
	}
	upgrade := req.UpgradePolicy
	if upgrade == nil || upgrade.SupportType == "" {
		upgrade = &shapes.UpgradePolicy{SupportType: "EXTENDED"}
	}
	version := req.Version
	if version == "" {
		version = a.defaultVersion()
	}
	tags := req.Tags
	if tags == nil {
		tags = map[string]string{}
	}
	cl := shapes.Cluster{
		Name:                        req.Name,
		Arn:                         a.clusterArn(req.Name),
		ID:                          id,
		CreatedAt:                   shapes.Time(float64(a.cfg.Now().UnixMilli()) / 1000),
		Version:                     version,
		RoleArn:                     req.RoleArn,
		ResourcesVpcConfig:          vpc,
		KubernetesNetworkConfig:     knc,
		Logging:                     shapes.NewLogging(req.Logging.EnabledLogTypes()),
		Identity:                    &shapes.Identity{OIDC: &shapes.OIDC{Issuer: strings.TrimRight(a.cfg.IssuerBase, "/") + "/id/" + issuerID}},
		Status:                      shapes.StatusCreating,
		CertificateAuthority:        &shapes.Certificate{},
		ClientRequestToken:          token,
		PlatformVersion:             a.platformVersion(version),
		Tags:                        tags,
		EncryptionConfig:            req.EncryptionConfig,
		Health:                      &shapes.ClusterHealth{Issues: []shapes.ClusterIssue{}},
		AccessConfig:                access,
		UpgradePolicy:               upgrade,
		ZonalShiftConfig:            req.ZonalShiftConfig,
		RemoteNetworkConfig:         req.RemoteNetworkConfig,
		ComputeConfig:               req.ComputeConfig,
		StorageConfig:               req.StorageConfig,
		DeletionProtection:          shapes.Bool(boolOr(req.DeletionProtection, false)),
		ControlPlaneScalingConfig:   req.ControlPlaneScalingConfig,
		KubeAPIServerConfig:         req.KubeAPIServerConfig,
		KubeControllerManagerConfig: req.KubeControllerManagerConfig,
		KubeSchedulerConfig:         req.KubeSchedulerConfig,
	}
	if cl.ControlPlaneScalingConfig == nil {
		cl.ControlPlaneScalingConfig = &shapes.ControlPlaneScalingConfig{Tier: "standard"}
	}
	return &store.ClusterRecord{Cluster: cl, RequestHash: hash, CreatorArn: caller}
}

func (a *API) defaultServiceCIDR(network *store.Network, vpcID string) string {
	for _, v := range network.VPCs {
		if v.ID != vpcID {
			continue
		}
		if p, err := netip.ParsePrefix(v.CidrBlock); err == nil && netip.MustParsePrefix("10.0.0.0/8").Overlaps(p) {
			return defaultServiceCIDRAlt
		}
	}
	return defaultServiceCIDR
}

func (a *API) clusterArn(name string) string {
	return fmt.Sprintf("arn:aws:eks:%s:%s:cluster/%s", a.cfg.Region, a.cfg.AccountID, name)
}

// platformVersion is minor's current EKS platform version (eks.N), which a
// cluster takes at create and at each version update.
func (a *API) platformVersion(minor string) string {
	if m, ok := a.cfg.Versions.Find(minor); ok {
		return m.DefaultPlatformVersion
	}
	return "eks.1"
}

func (a *API) describeCluster(c *call) (any, *Error) {
	rec, err := a.cluster(c)
	if err != nil {
		return nil, err
	}
	if rec.DescribeJSON != nil {
		return json.RawMessage(rec.DescribeJSON), nil
	}
	return map[string]any{"cluster": rec.Cluster}, nil
}

// cluster finds the cluster named in the path.
func (a *API) cluster(c *call) (*store.ClusterRecord, *Error) {
	name := c.params["name"]
	if err := validateClusterName(name); err != nil {
		return nil, err
	}
	rec, err := a.cfg.Store.GetCluster(c.r.Context(), name)
	if errors.Is(err, store.ErrNotFound) {
		return nil, ClusterNotFound(name)
	}
	if err != nil {
		return nil, internal(err)
	}
	return rec, nil
}

func (a *API) listClusters(c *call) (any, *Error) {
	limit, err := validateMaxResults(c.query.Get("maxResults"), 100)
	if err != nil {
		return nil, err
	}
	after, err := decodeNextToken(c.query.Get("nextToken"))
	if err != nil {
		return nil, err
	}
	names, more := a.cfg.Store.ListClusterNames(after, limit)
	out := map[string]any{"clusters": nonNil(names)}
	if more && len(names) > 0 {
		out["nextToken"] = encodeNextToken(names[len(names)-1])
	}
	return out, nil
}

func (a *API) deleteCluster(c *call) (any, *Error) {
	if _, err := a.cluster(c); err != nil {
		return nil, err
	}
	name := c.params["name"]
	// Refused while the cluster has nodegroups, in the same transaction.
	rec, err := a.cfg.Store.MarkClusterDeleting(c.r.Context(), name, func(rec *store.ClusterRecord) error {
		if rec.Cluster.DeletionProtection != nil && *rec.Cluster.DeletionProtection {
			return Errorf(InvalidRequest, "Cluster %s has deletion protection enabled. Disable it with UpdateClusterConfig before deleting the cluster.", name).With("clusterName", name)
		}
		if rec.Cluster.Status == shapes.StatusDeleting {
			return nil
		}
		if rec.ActiveUpdate != "" {
			return Errorf(ResourceInUse, "Cluster %s has an update in progress: %s", name, rec.ActiveUpdate).With("clusterName", name)
		}
		rec.Cluster.Status = shapes.StatusDeleting
		return nil
	})
	if err != nil {
		return nil, storeError(err, name)
	}
	return map[string]any{"cluster": rec.Cluster}, nil
}

// storeError maps an error of a store call about cluster name.
func storeError(err error, name string) *Error {
	var e *Error
	switch {
	case errors.As(err, &e):
		return e
	case errors.Is(err, store.ErrNotFound):
		return ClusterNotFound(name)
	case errors.Is(err, store.ErrUpdateInProgress):
		return Errorf(ResourceInUse, "Cluster %s has an update in progress", name).With("clusterName", name)
	case errors.Is(err, store.ErrHasNodegroups):
		return Errorf(ResourceInUse, "Cluster has nodegroups attached").With("clusterName", name)
	case errors.Is(err, store.ErrTokenMismatch):
		return Errorf(InvalidRequest, "The client request token was already used with different request parameters").With("clusterName", name)
	}
	return internal(err)
}

func boolOr(b *bool, def bool) bool {
	if b == nil {
		return def
	}
	return *b
}

// nonNil makes an empty list encode as [] rather than null.
func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
