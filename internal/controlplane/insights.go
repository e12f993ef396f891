package controlplane

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/kplane/kplane/internal/insights"
	"github.com/kplane/kplane/internal/store"
)

// What the upgrade insights read of a cluster (insights.Source): each
// replica's own metrics, and the Node objects.

var _ insights.Source = (*LocalProvisioner)(nil)

// maxMetricsBytes bounds one replica's /metrics read.
const maxMetricsBytes = 32 << 20

// ScrapeReplicas implements insights.Source: the /metrics of every replica
// of rec's cluster that runs now, read with the admin certificate (each
// replica counts only the requests it served itself).
func (p *LocalProvisioner) ScrapeReplicas(ctx context.Context, rec *store.ClusterRecord) ([]insights.Scrape, []string, error) {
	base, err := p.servingReplica(rec)
	if err != nil {
		return nil, nil, err
	}
	p.mu.Lock()
	zones := append([]string(nil), p.clusterLocked(base.ID).zones...)
	ports := map[string]int{}
	for _, z := range zones {
		key := base.ID + "/" + z
		for port, owner := range p.ports {
			if owner == key {
				ports[z] = port
			}
		}
	}
	p.mu.Unlock()
	client, err := p.adminClient(base)
	if err != nil {
		return nil, nil, err
	}
	var out []insights.Scrape
	for _, z := range zones {
		cfg := base
		cfg.Replica, cfg.SecurePort = z, ports[z]
		st := p.Executor.State(cfg.ProcessKey())
		if cfg.SecurePort == 0 || !st.Ready {
			continue // not running now: its counters are read next time
		}
		body, err := getBody(ctx, client, cfg.LocalEndpoint()+"/metrics")
		if err != nil {
			return nil, nil, fmt.Errorf("replica %s: %w", z, err)
		}
		out = append(out, insights.Scrape{Replica: z, StartedAt: st.StartedAt, Metrics: bytes.NewReader(body)})
	}
	return out, zones, nil
}

// Nodes implements insights.Source: the cluster's Nodes' names and kubelet versions.
func (p *LocalProvisioner) Nodes(ctx context.Context, rec *store.ClusterRecord) ([]insights.Node, error) {
	cfg, err := p.servingReplica(rec)
	if err != nil {
		return nil, err
	}
	client, err := p.adminClient(cfg)
	if err != nil {
		return nil, err
	}
	var list struct {
		Items []struct {
			Metadata struct {
				Name string `json:"name"`
			} `json:"metadata"`
			Status struct {
				NodeInfo struct {
					KubeletVersion string `json:"kubeletVersion"`
				} `json:"nodeInfo"`
			} `json:"status"`
		} `json:"items"`
	}
	code, err := requestWith(ctx, client, cfg, http.MethodGet, "/api/v1/nodes", nil, &list)
	if err != nil {
		return nil, err
	}
	if code != http.StatusOK {
		return nil, fmt.Errorf("listing nodes: HTTP %d", code)
	}
	out := make([]insights.Node, 0, len(list.Items))
	for _, n := range list.Items {
		out = append(out, insights.Node{Name: n.Metadata.Name, KubeletVersion: n.Status.NodeInfo.KubeletVersion})
	}
	return out, nil
}

func getBody(ctx context.Context, c *http.Client, url string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: HTTP %d", url, resp.StatusCode)
	}
	return io.ReadAll(io.LimitReader(resp.Body, maxMetricsBytes))
}
