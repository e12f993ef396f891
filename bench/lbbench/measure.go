package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/kplane/kplane/bench/internal/load"
)

type target struct{ name, addr string }

// result is one measured run against one target.
type result struct {
	target string
	round  int
	run    load.Run
	// Cores used over the measured window: the apiserver process, this
	// process (load generator, balancer, etcd), everything else.
	cpuAPIServer, cpuSelf, cpuOther float64
	quietWait                       time.Duration
}

// measure runs cfg.clients closed-loop clients against t. Each client has
// its own Transport, so its own single keep-alive connection (with HTTP/2 as
// client-go, one stream at a time); all are new for every run, so the
// warm-up includes the TLS handshakes and the window does not.
func measure(ctx context.Context, cfg config, t target, tc *tls.Config, apiserverPID, round int) (result, error) {
	res := result{target: t.name, round: round}
	var err error
	if _, res.quietWait, err = load.WaitQuiet(ctx, cfg.quiet, cfg.quietWait, logf, apiserverPID); err != nil {
		return res, err
	}
	clients := make(chan *http.Client, cfg.clients)
	for range cfg.clients {
		clients <- &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
			TLSClientConfig:     tc.Clone(),
			ForceAttemptHTTP2:   !cfg.http1,
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
			MaxIdleConnsPerHost: 1,
			MaxConnsPerHost:     1,
		}}
	}
	defer func() {
		close(clients)
		for c := range clients {
			c.CloseIdleConnections()
		}
	}()
	url := "https://" + t.addr + "/api/v1/namespaces/default"
	op := func(ctx context.Context) (time.Duration, int, error) {
		// Each of the cfg.clients workers takes a free client: at most
		// cfg.clients requests in flight, one per connection.
		c := <-clients
		defer func() { clients <- c }()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		req.Header.Set("Accept", "application/json")
		start := time.Now()
		resp, err := c.Do(req)
		if err != nil {
			return 0, 0, err
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return time.Since(start), resp.StatusCode, err
	}
	var a0, s0, m0 float64
	var t0 time.Time
	hooks := load.Hooks{
		MeasureStart: func() {
			a0, s0, t0 = load.CPUSeconds(apiserverPID), load.CPUSeconds(os.Getpid()), time.Now()
			m0, _ = load.MachineCPU()
		},
		MeasureEnd: func() {
			w := time.Since(t0).Seconds()
			a1, s1 := load.CPUSeconds(apiserverPID), load.CPUSeconds(os.Getpid())
			m1, _ := load.MachineCPU()
			res.cpuAPIServer, res.cpuSelf = (a1-a0)/w, (s1-s0)/w
			res.cpuOther = max((m1-m0)/w-res.cpuAPIServer-res.cpuSelf, 0)
		},
	}
	res.run = load.Closed(ctx, cfg.clients, cfg.warmup, cfg.duration, hooks, op)
	if ctx.Err() != nil {
		return res, ctx.Err()
	}
	if res.run.OK == 0 {
		return res, fmt.Errorf("%s: no request succeeded: %v", t.name, res.run.ErrorKind)
	}
	return res, nil
}

// readyz is the balancer's health check: GET /readyz must answer 200.
func readyz(ctx context.Context, c *http.Client, url string) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("readyz: %s", resp.Status)
	}
	return nil
}
