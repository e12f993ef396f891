package nodejoin

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/kplane/kplane/internal/node"
	"github.com/kplane/kplane/internal/nodecreds"
)

// runAgent runs the node agent until ctx ends, starting it again when it
// dies (as a machine's service manager would), and reports Ready once.
func runAgent(ctx context.Context, cfg Config, exe string, spec node.Spec) error {
	api, err := newNodeAPI(cfg, spec)
	if err != nil {
		return err
	}
	readyReported := false
	for {
		p, err := node.Start(exe, cfg.Dir)
		if err != nil {
			return fmt.Errorf("starting the node agent: %w", err)
		}
		started := time.Now()
		tick := time.NewTicker(time.Second)
	wait:
		for {
			select {
			case <-ctx.Done():
				tick.Stop()
				stopCtx, cancel := context.WithTimeout(context.Background(), node.TeardownTimeout+10*time.Second)
				defer cancel()
				return p.Stop(stopCtx)
			case <-p.Done():
				tick.Stop()
				cfg.Log.Warn("the node agent exited; starting it again", "err", p.Err(), "log", node.Paths{Dir: cfg.Dir}.LogDir())
				break wait
			case <-tick.C:
				if readyReported {
					continue
				}
				if ready, err := api.ready(ctx, started); err == nil && ready {
					readyReported = true
					cfg.Log.Info("node Ready", "node", spec.Name, "after", time.Since(started).Round(time.Millisecond))
					if cfg.Ready != nil {
						cfg.Ready(spec.Name)
					}
				}
			}
		}
		_ = node.Teardown(cfg.Dir)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(2 * time.Second):
		}
	}
}

// leave removes the node from this host (the agent stopped: its
// directory). Its Node object stays: the Node authorizer lets no node
// delete its own, so the operator deletes it, as after EKS hybrid nodes'
// `nodeadm uninstall`.
func leave(cfg Config, spec node.Spec) error {
	if err := node.Delete(cfg.Dir); err != nil {
		return err
	}
	cfg.Log.Info("left: nothing of the node is left on this machine; its Node object goes with `kubectl delete node "+spec.Name+"`",
		"cluster", cfg.Cluster, "node", spec.Name)
	return nil
}

// nodeAPI calls the cluster's apiserver as the node (its IAM token).
type nodeAPI struct {
	cfg    Config
	spec   node.Spec
	client *http.Client
}

func newNodeAPI(cfg Config, spec node.Spec) (*nodeAPI, error) {
	pem, err := os.ReadFile(spec.CAFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s holds no certificate", spec.CAFile)
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	return &nodeAPI{cfg: cfg, spec: spec, client: &http.Client{Transport: tr, Timeout: 10 * time.Second}}, nil
}

func (a *nodeAPI) getNode(ctx context.Context) (*http.Response, error) {
	f, err := nodecreds.Read(nodecreds.Path(a.cfg.Dir))
	if err != nil {
		return nil, err
	}
	token, _, err := nodecreds.Token(ctx, f, a.cfg.Cluster, a.cfg.Region, time.Now())
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, a.spec.APIServerURL+"/api/v1/nodes/"+a.spec.Name, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	return a.client.Do(req)
}

// ready: the Node's Ready condition is True with a heartbeat since since.
func (a *nodeAPI) ready(ctx context.Context, since time.Time) (bool, error) {
	resp, err := a.getNode(ctx)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false, fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	var n struct {
		Status struct {
			Conditions []struct {
				Type, Status      string
				LastHeartbeatTime time.Time
			}
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&n); err != nil {
		return false, err
	}
	for _, c := range n.Status.Conditions {
		if c.Type == "Ready" {
			return c.Status == "True" && !c.LastHeartbeatTime.Before(since.Truncate(time.Second)), nil
		}
	}
	return false, nil
}
