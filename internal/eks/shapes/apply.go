package shapes

import "slices"

// NewLogging returns the logging shape EKS reports: the enabled types in one
// entry, the rest in a disabled entry, both in the canonical order.
func NewLogging(enabled []string) *Logging {
	var on, off []string
	for _, t := range LogTypes {
		if slices.Contains(enabled, t) {
			on = append(on, t)
		} else {
			off = append(off, t)
		}
	}
	l := &Logging{ClusterLogging: []LogSetup{}}
	if len(on) > 0 {
		l.ClusterLogging = append(l.ClusterLogging, LogSetup{Types: on, Enabled: Bool(true)})
	}
	if len(off) > 0 {
		l.ClusterLogging = append(l.ClusterLogging, LogSetup{Types: off, Enabled: Bool(false)})
	}
	return l
}

// EnabledLogTypes lists the types l enables, in canonical order.
func (l *Logging) EnabledLogTypes() []string {
	return l.ApplyTo(nil)
}

// ApplyTo returns the enabled set after applying l's entries to enabled.
func (l *Logging) ApplyTo(enabled []string) []string {
	set := map[string]bool{}
	for _, t := range enabled {
		set[t] = true
	}
	if l != nil {
		for _, s := range l.ClusterLogging {
			for _, t := range s.Types {
				set[t] = s.Enabled != nil && *s.Enabled
			}
		}
	}
	var out []string
	for _, t := range LogTypes {
		if set[t] {
			out = append(out, t)
		}
	}
	return out
}

// ApplyConfig applies an UpdateClusterConfig change to c.
func (c *Cluster) ApplyConfig(req *UpdateClusterConfigRequest) {
	if req.Logging != nil {
		var current []string
		if c.Logging != nil {
			current = c.Logging.EnabledLogTypes()
		}
		c.Logging = NewLogging(req.Logging.ApplyTo(current))
	}
	if v := req.ResourcesVpcConfig; v != nil && c.ResourcesVpcConfig != nil {
		r := c.ResourcesVpcConfig
		if v.EndpointPublicAccess != nil {
			r.EndpointPublicAccess = *v.EndpointPublicAccess
		}
		if v.EndpointPrivateAccess != nil {
			r.EndpointPrivateAccess = *v.EndpointPrivateAccess
		}
		if v.PublicAccessCidrs != nil {
			r.PublicAccessCidrs = v.PublicAccessCidrs
		}
		if len(v.SubnetIDs) > 0 {
			r.SubnetIDs = v.SubnetIDs
		}
		if v.SecurityGroupIDs != nil {
			r.SecurityGroupIDs = v.SecurityGroupIDs
		}
	}
	if a := req.AccessConfig; a != nil && a.AuthenticationMode != "" {
		if c.AccessConfig == nil {
			c.AccessConfig = &AccessConfig{}
		}
		c.AccessConfig.AuthenticationMode = a.AuthenticationMode
	}
	if req.UpgradePolicy != nil {
		c.UpgradePolicy = req.UpgradePolicy
	}
	if req.ZonalShiftConfig != nil {
		c.ZonalShiftConfig = req.ZonalShiftConfig
	}
	if req.ComputeConfig != nil {
		c.ComputeConfig = req.ComputeConfig
	}
	if req.StorageConfig != nil {
		c.StorageConfig = req.StorageConfig
	}
	if req.RemoteNetworkConfig != nil {
		c.RemoteNetworkConfig = req.RemoteNetworkConfig
	}
	if req.DeletionProtection != nil {
		c.DeletionProtection = req.DeletionProtection
	}
	if req.ControlPlaneScalingConfig != nil {
		c.ControlPlaneScalingConfig = req.ControlPlaneScalingConfig
	}
	if req.KubeAPIServerConfig != nil {
		c.KubeAPIServerConfig = req.KubeAPIServerConfig
	}
	if req.KubeControllerManagerConfig != nil {
		c.KubeControllerManagerConfig = req.KubeControllerManagerConfig
	}
	if req.KubeSchedulerConfig != nil {
		c.KubeSchedulerConfig = req.KubeSchedulerConfig
	}
	if k := req.KubernetesNetworkConfig; k != nil && k.ElasticLoadBalancing != nil {
		if c.KubernetesNetworkConfig == nil {
			c.KubernetesNetworkConfig = &KubernetesNetworkConfig{}
		}
		c.KubernetesNetworkConfig.ElasticLoadBalancing = k.ElasticLoadBalancing
	}
}

// Bool returns a pointer to b.
func Bool(b bool) *bool { return &b }
