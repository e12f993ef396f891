package localnodes

import (
	"net/netip"
	"net/url"

	"github.com/kplane/kplane/internal/node"
	"github.com/kplane/kplane/internal/nodegroup"
	"github.com/kplane/kplane/internal/nodenet"
)

// ensureRegistryProxy gives node spec's containerd its way out to image
// registries: a nodenet.RegistryProxy in the node's namespace, one per
// node, kept until the node is removed (or kplane stops). nil when nodes
// are kept offline (Config.NodeEgressOff).
func (e *Executor) ensureRegistryProxy(spec nodegroup.NodeSpec) (*node.RegistryProxy, error) {
	if e.cfg.NodeEgressOff {
		return nil, nil
	}
	// Not the host's way into kplane's networks: the node's VPC (its
	// subnet's, the only part of it the inventory gives here, and the pod
	// range), the cluster's Services.
	var internal []netip.Prefix
	for _, c := range []string{spec.SubnetCIDR, spec.PodRange, spec.ServiceIPv4CIDR} {
		if p, err := netip.ParsePrefix(c); err == nil {
			internal = append(internal, p.Masked())
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	p := e.proxies[spec.InstanceID]
	if p == nil {
		var err error
		p, err = nodenet.ListenRegistryProxy(e.cfg.Net.NodePath(spec.InstanceID), internal, e.cfg.Log.With("instance", spec.InstanceID))
		if err != nil {
			return nil, err
		}
		e.proxies[spec.InstanceID] = p
	}
	noProxy := []string{"localhost", "127.0.0.1"}
	for _, c := range internal {
		noProxy = append(noProxy, c.String())
	}
	if u, err := url.Parse(spec.EndpointInVPC); err == nil && u.Hostname() != "" {
		noProxy = append(noProxy, u.Hostname())
	}
	return &node.RegistryProxy{URL: p.URL(), NoProxy: noProxy}, nil
}

// closeRegistryProxy closes instance's proxy: before its namespace goes,
// which the proxy's socket would otherwise hold.
func (e *Executor) closeRegistryProxy(instanceID string) {
	e.mu.Lock()
	p := e.proxies[instanceID]
	delete(e.proxies, instanceID)
	e.mu.Unlock()
	if p != nil {
		if err := p.Close(); err != nil {
			e.cfg.Log.Warn("closing a node's registry proxy", "instance", instanceID, "err", err)
		}
	}
}

// closeRegistryProxies closes every node's proxy (kplane stops).
func (e *Executor) closeRegistryProxies() {
	e.mu.Lock()
	ids := make([]string, 0, len(e.proxies))
	for id := range e.proxies {
		ids = append(ids, id)
	}
	e.mu.Unlock()
	for _, id := range ids {
		e.closeRegistryProxy(id)
	}
}
