package shapes

// CreateClusterRequest is the CreateCluster body.
type CreateClusterRequest struct {
	Name                        string                       `json:"name"`
	Version                     string                       `json:"version,omitempty"`
	RoleArn                     string                       `json:"roleArn"`
	ResourcesVpcConfig          *VpcConfigRequest            `json:"resourcesVpcConfig"`
	KubernetesNetworkConfig     *KubernetesNetworkConfig     `json:"kubernetesNetworkConfig,omitempty"`
	Logging                     *Logging                     `json:"logging,omitempty"`
	ClientRequestToken          string                       `json:"clientRequestToken,omitempty"`
	Tags                        map[string]string            `json:"tags,omitempty"`
	EncryptionConfig            []EncryptionConfig           `json:"encryptionConfig,omitempty"`
	OutpostConfig               *OutpostConfig               `json:"outpostConfig,omitempty"`
	AccessConfig                *AccessConfig                `json:"accessConfig,omitempty"`
	BootstrapSelfManagedAddons  *bool                        `json:"bootstrapSelfManagedAddons,omitempty"`
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

// UpdateClusterConfigRequest is the UpdateClusterConfig body.
type UpdateClusterConfigRequest struct {
	ResourcesVpcConfig          *VpcConfigRequest            `json:"resourcesVpcConfig,omitempty"`
	Logging                     *Logging                     `json:"logging,omitempty"`
	ClientRequestToken          string                       `json:"clientRequestToken,omitempty"`
	AccessConfig                *AccessConfig                `json:"accessConfig,omitempty"`
	UpgradePolicy               *UpgradePolicy               `json:"upgradePolicy,omitempty"`
	ZonalShiftConfig            *EnabledFlag                 `json:"zonalShiftConfig,omitempty"`
	ComputeConfig               *ComputeConfig               `json:"computeConfig,omitempty"`
	KubernetesNetworkConfig     *KubernetesNetworkConfig     `json:"kubernetesNetworkConfig,omitempty"`
	StorageConfig               *StorageConfig               `json:"storageConfig,omitempty"`
	RemoteNetworkConfig         *RemoteNetworkConfig         `json:"remoteNetworkConfig,omitempty"`
	DeletionProtection          *bool                        `json:"deletionProtection,omitempty"`
	ControlPlaneScalingConfig   *ControlPlaneScalingConfig   `json:"controlPlaneScalingConfig,omitempty"`
	KubeAPIServerConfig         *KubeAPIServerConfig         `json:"kubeApiServerConfig,omitempty"`
	KubeControllerManagerConfig *KubeControllerManagerConfig `json:"kubeControllerManagerConfig,omitempty"`
	KubeSchedulerConfig         *KubeSchedulerConfig         `json:"kubeSchedulerConfig,omitempty"`
}

// UpdateClusterVersionRequest is the UpdateClusterVersion body.
type UpdateClusterVersionRequest struct {
	Version            string `json:"version"`
	ClientRequestToken string `json:"clientRequestToken,omitempty"`
	Force              bool   `json:"force,omitempty"`
	RollbackConfig     *struct {
		TimeoutMinutes *int `json:"timeoutMinutes,omitempty"`
	} `json:"rollbackConfig,omitempty"`
}

// TagResourceRequest is the TagResource body.
type TagResourceRequest struct {
	Tags map[string]string `json:"tags"`
}

// Update is the Update shape.
type Update struct {
	ID        string        `json:"id"`
	Status    string        `json:"status"`
	Type      string        `json:"type"`
	Params    []UpdateParam `json:"params"`
	CreatedAt Time          `json:"createdAt"`
	Errors    []ErrorDetail `json:"errors"`
	// Cancellation is set once CancelUpdate was called on the update.
	Cancellation *Cancellation `json:"cancellation,omitempty"`
}

// Cancellation is the Cancellation shape: the progress of a CancelUpdate.
type Cancellation struct {
	Status string `json:"status,omitempty"` // InProgress|Failed|Successful
	Reason string `json:"reason,omitempty"`
}

// Update status values.
const (
	UpdateInProgress = "InProgress"
	UpdateFailed     = "Failed"
	UpdateSuccessful = "Successful"
)

type UpdateParam struct {
	Type  string `json:"type"`
	Value string `json:"value"`
}

type ErrorDetail struct {
	ErrorCode    string   `json:"errorCode,omitempty"`
	ErrorMessage string   `json:"errorMessage,omitempty"`
	ResourceIDs  []string `json:"resourceIds,omitempty"`
}

// ClusterVersionInformation is one entry of DescribeClusterVersions.
type ClusterVersionInformation struct {
	ClusterVersion           string `json:"clusterVersion"`
	ClusterType              string `json:"clusterType"`
	DefaultPlatformVersion   string `json:"defaultPlatformVersion"`
	DefaultVersion           bool   `json:"defaultVersion"`
	ReleaseDate              *Time  `json:"releaseDate,omitempty"`
	EndOfStandardSupportDate *Time  `json:"endOfStandardSupportDate,omitempty"`
	EndOfExtendedSupportDate *Time  `json:"endOfExtendedSupportDate,omitempty"`
	Status                   string `json:"status"`
	VersionStatus            string `json:"versionStatus"`
	KubernetesPatchVersion   string `json:"kubernetesPatchVersion"`
}
