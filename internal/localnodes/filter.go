package localnodes

import (
	"encoding/json"
	"sync"

	"github.com/kplane/kplane/internal/nodegroup"
)

// appliedFilters remembers which filter each node's namespace holds, so
// that a pass applies one only when the security groups changed. It is a
// cache of what the kernel holds: after a restart every filter is applied
// once again.
type appliedFilters struct {
	mu sync.Mutex
	by map[string]string // instance id → the filter as JSON
}

// ensureFilter makes the node's namespace enforce spec.Filter (its security
// groups) if it does not yet. A node whose filter cannot be applied has a
// problem to report, and is tried again at the next pass.
func (e *Executor) ensureFilter(spec nodegroup.NodeSpec) (problem string) {
	if spec.Filter == nil {
		return ""
	}
	b, _ := json.Marshal(spec.Filter)
	f := &e.filters
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.by[spec.InstanceID] == string(b) {
		return ""
	}
	if err := e.cfg.Net.ApplyFilter(spec.InstanceID, *spec.Filter); err != nil {
		delete(f.by, spec.InstanceID)
		return "Could not apply the instance's security groups: " + err.Error()
	}
	if f.by == nil {
		f.by = map[string]string{}
	}
	f.by[spec.InstanceID] = string(b)
	return ""
}

// forgetFilter drops what ensureFilter remembers of a removed node.
func (e *Executor) forgetFilter(instanceID string) {
	e.filters.mu.Lock()
	delete(e.filters.by, instanceID)
	e.filters.mu.Unlock()
}
