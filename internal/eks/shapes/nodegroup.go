package shapes

// Nodegroup is the Nodegroup shape returned by Create/Describe/DeleteNodegroup.
type Nodegroup struct {
	NodegroupName    string                  `json:"nodegroupName"`
	NodegroupArn     string                  `json:"nodegroupArn"`
	ClusterName      string                  `json:"clusterName"`
	Version          string                  `json:"version"`
	ReleaseVersion   string                  `json:"releaseVersion"`
	CreatedAt        Time                    `json:"createdAt"`
	ModifiedAt       Time                    `json:"modifiedAt"`
	Status           string                  `json:"status"`
	CapacityType     string                  `json:"capacityType"`
	ScalingConfig    *NodegroupScalingConfig `json:"scalingConfig"`
	InstanceTypes    []string                `json:"instanceTypes"`
	Subnets          []string                `json:"subnets"`
	RemoteAccess     *RemoteAccessConfig     `json:"remoteAccess,omitempty"`
	AmiType          string                  `json:"amiType"`
	NodeRole         string                  `json:"nodeRole"`
	Labels           map[string]string       `json:"labels"`
	Taints           []Taint                 `json:"taints,omitempty"`
	Resources        *NodegroupResources     `json:"resources,omitempty"`
	DiskSize         *int                    `json:"diskSize,omitempty"`
	Health           *NodegroupHealth        `json:"health"`
	UpdateConfig     *NodegroupUpdateConfig  `json:"updateConfig,omitempty"`
	NodeRepairConfig *NodeRepairConfig       `json:"nodeRepairConfig,omitempty"`
	LaunchTemplate   *LaunchTemplate         `json:"launchTemplate,omitempty"`
	WarmPoolConfig   *WarmPoolConfig         `json:"warmPoolConfig,omitempty"`
	Tags             map[string]string       `json:"tags"`
}

// Nodegroup status values (NodegroupStatus).
const (
	NodegroupCreating     = "CREATING"
	NodegroupActive       = "ACTIVE"
	NodegroupUpdating     = "UPDATING"
	NodegroupDeleting     = "DELETING"
	NodegroupCreateFailed = "CREATE_FAILED"
	NodegroupDeleteFailed = "DELETE_FAILED"
	NodegroupDegraded     = "DEGRADED"
)

type NodegroupScalingConfig struct {
	MinSize     *int `json:"minSize,omitempty"`
	MaxSize     *int `json:"maxSize,omitempty"`
	DesiredSize *int `json:"desiredSize,omitempty"`
}

type RemoteAccessConfig struct {
	Ec2SshKey            string   `json:"ec2SshKey,omitempty"`
	SourceSecurityGroups []string `json:"sourceSecurityGroups,omitempty"`
}

type Taint struct {
	Key    string `json:"key,omitempty"`
	Value  string `json:"value,omitempty"`
	Effect string `json:"effect,omitempty"`
}

type NodegroupResources struct {
	AutoScalingGroups         []AutoScalingGroup `json:"autoScalingGroups,omitempty"`
	RemoteAccessSecurityGroup string             `json:"remoteAccessSecurityGroup,omitempty"`
}

type AutoScalingGroup struct {
	Name string `json:"name,omitempty"`
}

type NodegroupHealth struct {
	Issues []NodegroupIssue `json:"issues"`
}

// NodegroupIssue is the Issue shape: a NodegroupIssueCode, a message and the
// resources (instance ids, ...) it is about.
type NodegroupIssue struct {
	Code        string   `json:"code,omitempty"`
	Message     string   `json:"message,omitempty"`
	ResourceIDs []string `json:"resourceIds,omitempty"`
}

type NodegroupUpdateConfig struct {
	MaxUnavailable           *int   `json:"maxUnavailable,omitempty"`
	MaxUnavailablePercentage *int   `json:"maxUnavailablePercentage,omitempty"`
	UpdateStrategy           string `json:"updateStrategy,omitempty"`
}

type NodeRepairConfig struct {
	Enabled                             *bool                       `json:"enabled,omitempty"`
	MaxParallelNodesRepairedCount       *int                        `json:"maxParallelNodesRepairedCount,omitempty"`
	MaxParallelNodesRepairedPercentage  *int                        `json:"maxParallelNodesRepairedPercentage,omitempty"`
	MaxUnhealthyNodeThresholdCount      *int                        `json:"maxUnhealthyNodeThresholdCount,omitempty"`
	MaxUnhealthyNodeThresholdPercentage *int                        `json:"maxUnhealthyNodeThresholdPercentage,omitempty"`
	NodeRepairConfigOverrides           []NodeRepairConfigOverrides `json:"nodeRepairConfigOverrides,omitempty"`
}

type NodeRepairConfigOverrides struct {
	MinRepairWaitTimeMins   *int   `json:"minRepairWaitTimeMins,omitempty"`
	NodeMonitoringCondition string `json:"nodeMonitoringCondition,omitempty"`
	NodeUnhealthyReason     string `json:"nodeUnhealthyReason,omitempty"`
	RepairAction            string `json:"repairAction,omitempty"`
}

type LaunchTemplate struct {
	ID      string `json:"id,omitempty"`
	Name    string `json:"name,omitempty"`
	Version string `json:"version,omitempty"`
}

type WarmPoolConfig struct {
	Enabled                  *bool  `json:"enabled,omitempty"`
	MaxGroupPreparedCapacity *int   `json:"maxGroupPreparedCapacity,omitempty"`
	MinSize                  *int   `json:"minSize,omitempty"`
	PoolState                string `json:"poolState,omitempty"`
	ReuseOnScaleIn           *bool  `json:"reuseOnScaleIn,omitempty"`
}

// CreateNodegroupRequest is the CreateNodegroup body.
type CreateNodegroupRequest struct {
	NodegroupName      string                  `json:"nodegroupName"`
	ScalingConfig      *NodegroupScalingConfig `json:"scalingConfig,omitempty"`
	DiskSize           *int                    `json:"diskSize,omitempty"`
	Subnets            []string                `json:"subnets"`
	InstanceTypes      []string                `json:"instanceTypes,omitempty"`
	AmiType            string                  `json:"amiType,omitempty"`
	RemoteAccess       *RemoteAccessConfig     `json:"remoteAccess,omitempty"`
	NodeRole           string                  `json:"nodeRole"`
	Labels             map[string]string       `json:"labels,omitempty"`
	Taints             []Taint                 `json:"taints,omitempty"`
	Tags               map[string]string       `json:"tags,omitempty"`
	ClientRequestToken string                  `json:"clientRequestToken,omitempty"`
	LaunchTemplate     *LaunchTemplate         `json:"launchTemplate,omitempty"`
	UpdateConfig       *NodegroupUpdateConfig  `json:"updateConfig,omitempty"`
	NodeRepairConfig   *NodeRepairConfig       `json:"nodeRepairConfig,omitempty"`
	CapacityType       string                  `json:"capacityType,omitempty"`
	Version            string                  `json:"version,omitempty"`
	ReleaseVersion     string                  `json:"releaseVersion,omitempty"`
	WarmPoolConfig     *WarmPoolConfig         `json:"warmPoolConfig,omitempty"`
}

// UpdateNodegroupConfigRequest is the UpdateNodegroupConfig body.
type UpdateNodegroupConfigRequest struct {
	Labels             *UpdateLabelsPayload    `json:"labels,omitempty"`
	Taints             *UpdateTaintsPayload    `json:"taints,omitempty"`
	ScalingConfig      *NodegroupScalingConfig `json:"scalingConfig,omitempty"`
	UpdateConfig       *NodegroupUpdateConfig  `json:"updateConfig,omitempty"`
	NodeRepairConfig   *NodeRepairConfig       `json:"nodeRepairConfig,omitempty"`
	WarmPoolConfig     *WarmPoolConfig         `json:"warmPoolConfig,omitempty"`
	ClientRequestToken string                  `json:"clientRequestToken,omitempty"`
}

type UpdateLabelsPayload struct {
	AddOrUpdateLabels map[string]string `json:"addOrUpdateLabels,omitempty"`
	RemoveLabels      []string          `json:"removeLabels,omitempty"`
}

type UpdateTaintsPayload struct {
	AddOrUpdateTaints []Taint `json:"addOrUpdateTaints,omitempty"`
	RemoveTaints      []Taint `json:"removeTaints,omitempty"`
}

// Apply makes the change req asks for to ng's configuration (not its status).
func (ng *Nodegroup) Apply(req *UpdateNodegroupConfigRequest) {
	if s := req.ScalingConfig; s != nil {
		next := *ng.ScalingConfig
		if s.MinSize != nil {
			next.MinSize = Int(*s.MinSize)
		}
		if s.MaxSize != nil {
			next.MaxSize = Int(*s.MaxSize)
		}
		if s.DesiredSize != nil {
			next.DesiredSize = Int(*s.DesiredSize)
		}
		ng.ScalingConfig = &next
	}
	if l := req.Labels; l != nil {
		labels := map[string]string{}
		for k, v := range ng.Labels {
			labels[k] = v
		}
		for _, k := range l.RemoveLabels {
			delete(labels, k)
		}
		for k, v := range l.AddOrUpdateLabels {
			labels[k] = v
		}
		ng.Labels = labels
	}
	if t := req.Taints; t != nil {
		var taints []Taint
		for _, cur := range ng.Taints {
			drop := false
			// A taint is its key and effect: one of each pair per node. A
			// taint to remove without an effect removes the key's taints.
			for _, r := range t.RemoveTaints {
				drop = drop || (r.Key == cur.Key && (r.Effect == "" || r.Effect == cur.Effect))
			}
			for _, a := range t.AddOrUpdateTaints {
				drop = drop || (a.Key == cur.Key && a.Effect == cur.Effect)
			}
			if !drop {
				taints = append(taints, cur)
			}
		}
		ng.Taints = append(taints, t.AddOrUpdateTaints...)
	}
	if u := req.UpdateConfig; u != nil {
		next := *u
		ng.UpdateConfig = &next
	}
	if r := req.NodeRepairConfig; r != nil {
		next := *r
		ng.NodeRepairConfig = &next
	}
}

// Int returns a pointer to v.
func Int(v int) *int { return &v }

// UpdateNodegroupVersionRequest is the UpdateNodegroupVersion body.
type UpdateNodegroupVersionRequest struct {
	Version            string          `json:"version,omitempty"`
	ReleaseVersion     string          `json:"releaseVersion,omitempty"`
	LaunchTemplate     *LaunchTemplate `json:"launchTemplate,omitempty"`
	Force              bool            `json:"force,omitempty"`
	ClientRequestToken string          `json:"clientRequestToken,omitempty"`
}
