// Package shapes holds the EKS 2017-11-01 wire shapes kplane reads and writes,
// with the JSON member names of the restJson1 protocol. Pointers mark members
// that may be absent, so a response omits what the model lets it omit.
package shapes

// Time is a timestamp on the wire: epoch seconds as a JSON number.
type Time float64

// Cluster is the Cluster shape returned by Create/Describe/DeleteCluster.
type Cluster struct {
	Name                        string                       `json:"name"`
	Arn                         string                       `json:"arn"`
	ID                          string                       `json:"id,omitempty"`
	CreatedAt                   Time                         `json:"createdAt"`
	Version                     string                       `json:"version"`
	Endpoint                    string                       `json:"endpoint,omitempty"`
	RoleArn                     string                       `json:"roleArn"`
	ResourcesVpcConfig          *VpcConfigResponse           `json:"resourcesVpcConfig,omitempty"`
	KubernetesNetworkConfig     *KubernetesNetworkConfig     `json:"kubernetesNetworkConfig,omitempty"`
	Logging                     *Logging                     `json:"logging,omitempty"`
	Identity                    *Identity                    `json:"identity,omitempty"`
	Status                      string                       `json:"status"`
	CertificateAuthority        *Certificate                 `json:"certificateAuthority,omitempty"`
	ClientRequestToken          string                       `json:"clientRequestToken,omitempty"`
	PlatformVersion             string                       `json:"platformVersion"`
	Tags                        map[string]string            `json:"tags"`
	EncryptionConfig            []EncryptionConfig           `json:"encryptionConfig,omitempty"`
	ConnectorConfig             *ConnectorConfig             `json:"connectorConfig,omitempty"`
	Health                      *ClusterHealth               `json:"health"`
	OutpostConfig               *OutpostConfig               `json:"outpostConfig,omitempty"`
	AccessConfig                *AccessConfig                `json:"accessConfig,omitempty"`
	UpgradePolicy               *UpgradePolicy               `json:"upgradePolicy,omitempty"`
	ZonalShiftConfig            *EnabledFlag                 `json:"zonalShiftConfig,omitempty"`
	RemoteNetworkConfig         *RemoteNetworkConfig         `json:"remoteNetworkConfig,omitempty"`
	ComputeConfig               *ComputeConfig               `json:"computeConfig,omitempty"`
	StorageConfig               *StorageConfig               `json:"storageConfig,omitempty"`
	DeletionProtection          *bool                        `json:"deletionProtection,omitempty"`
	ControlPlaneScalingConfig   *ControlPlaneScalingConfig   `json:"controlPlaneScalingConfig,omitempty"`
	KubeAPIServerConfig         *KubeAPIServerConfig         `json:"kubeApiServerConfig,omitempty"`
	KubeControllerManagerConfig *KubeControllerManagerConfig `json:"kubeControllerManagerConfig,omitempty"`
	KubeSchedulerConfig         *KubeSchedulerConfig         `json:"kubeSchedulerConfig,omitempty"`
}

// Cluster status values.
// DefaultServiceCIDR is the service CIDR EKS gives a cluster that names
// none (unless its VPC is in 10.0.0.0/8).
const DefaultServiceCIDR = "10.100.0.0/16"

const (
	StatusCreating = "CREATING"
	StatusActive   = "ACTIVE"
	StatusDeleting = "DELETING"
	StatusFailed   = "FAILED"
	StatusUpdating = "UPDATING"
	StatusPending  = "PENDING"
)

type VpcConfigRequest struct {
	SubnetIDs              []string `json:"subnetIds,omitempty"`
	SecurityGroupIDs       []string `json:"securityGroupIds,omitempty"`
	EndpointPublicAccess   *bool    `json:"endpointPublicAccess,omitempty"`
	EndpointPrivateAccess  *bool    `json:"endpointPrivateAccess,omitempty"`
	PublicAccessCidrs      []string `json:"publicAccessCidrs,omitempty"`
	ControlPlaneEgressMode string   `json:"controlPlaneEgressMode,omitempty"`
}

type VpcConfigResponse struct {
	SubnetIDs              []string `json:"subnetIds"`
	SecurityGroupIDs       []string `json:"securityGroupIds"`
	ClusterSecurityGroupID string   `json:"clusterSecurityGroupId,omitempty"`
	VpcID                  string   `json:"vpcId,omitempty"`
	EndpointPublicAccess   bool     `json:"endpointPublicAccess"`
	EndpointPrivateAccess  bool     `json:"endpointPrivateAccess"`
	PublicAccessCidrs      []string `json:"publicAccessCidrs"`
	ControlPlaneEgressMode string   `json:"controlPlaneEgressMode,omitempty"`
}

type KubernetesNetworkConfig struct {
	ServiceIpv4Cidr      string                `json:"serviceIpv4Cidr,omitempty"`
	ServiceIpv6Cidr      string                `json:"serviceIpv6Cidr,omitempty"`
	IPFamily             string                `json:"ipFamily,omitempty"`
	ElasticLoadBalancing *ElasticLoadBalancing `json:"elasticLoadBalancing,omitempty"`
}

type ElasticLoadBalancing struct {
	Enabled    *bool       `json:"enabled,omitempty"`
	GatewayAPI *GatewayAPI `json:"gatewayApi,omitempty"`
}

type GatewayAPI struct {
	Crds *struct {
		Managed *bool `json:"managed,omitempty"`
	} `json:"crds,omitempty"`
}

// Log types, in the order EKS reports them.
var LogTypes = []string{"api", "audit", "authenticator", "controllerManager", "scheduler"}

type Logging struct {
	ClusterLogging []LogSetup `json:"clusterLogging"`
}

type LogSetup struct {
	Types   []string `json:"types"`
	Enabled *bool    `json:"enabled,omitempty"`
}

type Identity struct {
	OIDC *OIDC `json:"oidc,omitempty"`
}

type OIDC struct {
	Issuer string `json:"issuer,omitempty"`
}

type Certificate struct {
	Data   string                      `json:"data,omitempty"`
	Active *ActiveCertificateAuthority `json:"active,omitempty"`
}

type ActiveCertificateAuthority struct {
	ID          string `json:"id,omitempty"`
	ActivatedBy string `json:"activatedBy,omitempty"`
}

type EncryptionConfig struct {
	Resources []string  `json:"resources,omitempty"`
	Provider  *Provider `json:"provider,omitempty"`
}

type Provider struct {
	KeyArn string `json:"keyArn,omitempty"`
}

type ConnectorConfig struct {
	ActivationID     string `json:"activationId,omitempty"`
	ActivationCode   string `json:"activationCode,omitempty"`
	ActivationExpiry *Time  `json:"activationExpiry,omitempty"`
	Provider         string `json:"provider,omitempty"`
	RoleArn          string `json:"roleArn,omitempty"`
}

type ClusterHealth struct {
	Issues []ClusterIssue `json:"issues"`
}

type ClusterIssue struct {
	Code        string   `json:"code"`
	Message     string   `json:"message"`
	ResourceIDs []string `json:"resourceIds,omitempty"`
}

type OutpostConfig struct {
	OutpostArns              []string   `json:"outpostArns,omitempty"`
	ControlPlaneInstanceType string     `json:"controlPlaneInstanceType,omitempty"`
	ControlPlanePlacement    *Placement `json:"controlPlanePlacement,omitempty"`
	EtcdInstanceType         string     `json:"etcdInstanceType,omitempty"`
	EtcdPlacement            *Placement `json:"etcdPlacement,omitempty"`
}

type Placement struct {
	GroupName   string `json:"groupName,omitempty"`
	SpreadLevel string `json:"spreadLevel,omitempty"`
}

type AccessConfig struct {
	BootstrapClusterCreatorAdminPermissions *bool  `json:"bootstrapClusterCreatorAdminPermissions,omitempty"`
	AuthenticationMode                      string `json:"authenticationMode,omitempty"`
}

type UpgradePolicy struct {
	SupportType string `json:"supportType,omitempty"`
}

type EnabledFlag struct {
	Enabled *bool `json:"enabled,omitempty"`
}

type RemoteNetworkConfig struct {
	RemoteNodeNetworks []CidrList `json:"remoteNodeNetworks,omitempty"`
	RemotePodNetworks  []CidrList `json:"remotePodNetworks,omitempty"`
}

type CidrList struct {
	Cidrs []string `json:"cidrs,omitempty"`
}

type ComputeConfig struct {
	Enabled     *bool    `json:"enabled,omitempty"`
	NodePools   []string `json:"nodePools,omitempty"`
	NodeRoleArn string   `json:"nodeRoleArn,omitempty"`
}

type StorageConfig struct {
	BlockStorage *EnabledFlag `json:"blockStorage,omitempty"`
}

type ControlPlaneScalingConfig struct {
	Tier string `json:"tier,omitempty"`
}

type KubeAPIServerConfig struct {
	EventTTL             string                `json:"eventTtl,omitempty"`
	ServiceNodePortRange *ServiceNodePortRange `json:"serviceNodePortRange,omitempty"`
}

type ServiceNodePortRange struct {
	MinPort int `json:"minPort"`
	MaxPort int `json:"maxPort"`
}

type KubeControllerManagerConfig struct {
	HorizontalPodAutoscalerControllerConfig *struct {
		HorizontalPodAutoscalerSyncPeriod string `json:"horizontalPodAutoscalerSyncPeriod,omitempty"`
	} `json:"horizontalPodAutoscalerControllerConfig,omitempty"`
	PodGcControllerConfig *struct {
		TerminatedPodGcThreshold *int `json:"terminatedPodGcThreshold,omitempty"`
	} `json:"podGcControllerConfig,omitempty"`
}

type KubeSchedulerConfig struct {
	NodeResourcesFit *struct {
		ScoringStrategy *struct {
			Type      string `json:"type,omitempty"`
			Resources []struct {
				Name   string `json:"name"`
				Weight int    `json:"weight"`
			} `json:"resources,omitempty"`
		} `json:"scoringStrategy,omitempty"`
	} `json:"nodeResourcesFit,omitempty"`
}
