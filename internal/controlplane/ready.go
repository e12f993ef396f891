package controlplane

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"
)

// AllocatePort returns a currently free TCP port on 127.0.0.1. The caller
// persists it (ClusterConfig.SecurePort) so the endpoint is stable across
// restarts.
func AllocatePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// AdminHTTPClient returns an HTTP client that trusts the cluster CA and
// authenticates with the admin client certificate (system:masters).
func AdminHTTPClient(cfg ClusterConfig) (*http.Client, error) {
	return tlsClient(cfg.CertFile(CertCA), cfg.CertFile(CertAdmin), cfg.KeyFile(CertAdmin), 5*time.Second)
}

func tlsClient(caFile, certFile, keyFile string, timeout time.Duration) (*http.Client, error) {
	caPEM, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("%s: no certificates", caFile)
	}
	tc := &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	if certFile != "" {
		pair, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, err
		}
		tc.Certificates = []tls.Certificate{pair}
	}
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			TLSClientConfig:     tc,
			Proxy:               nil,
			DialContext:         (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
			MaxIdleConnsPerHost: 1,
			IdleConnTimeout:     30 * time.Second,
		},
	}, nil
}

// getStatus GETs url and returns the status code and (a prefix of) the body.
func getStatus(ctx context.Context, c *http.Client, url string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, "", err
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return resp.StatusCode, string(b), nil
}

// pollInterval between readiness probes.
const pollInterval = 100 * time.Millisecond

// WaitReady polls LocalEndpoint()/readyz with the admin certificate until it
// returns 200 or ctx is done (the error then says what /readyz last said).
func WaitReady(ctx context.Context, cfg ClusterConfig) error {
	c, err := AdminHTTPClient(cfg)
	if err != nil {
		return err
	}
	defer c.CloseIdleConnections()
	url := cfg.LocalEndpoint() + "/readyz"
	var last string
	for {
		code, body, err := getStatus(ctx, c, url)
		if err == nil && code == http.StatusOK {
			return nil
		}
		if err != nil {
			last = err.Error()
		} else {
			last = fmt.Sprintf("HTTP %d: %s", code, failedChecks(body))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("cluster %s: %s not ready: %w (last: %s)", cfg.ID, url, ctx.Err(), last)
		case <-time.After(pollInterval):
		}
	}
}

// failedChecks extracts the "[-]name failed" lines of a /readyz body.
func failedChecks(body string) string {
	var f []string
	for _, l := range strings.Split(body, "\n") {
		if strings.HasPrefix(l, "[-]") {
			f = append(f, strings.TrimPrefix(strings.Fields(l)[0], "[-]"))
		}
	}
	if len(f) == 0 {
		return strings.TrimSpace(body)
	}
	return "failed: " + strings.Join(f, ",")
}

// bootstrapPaths are the objects a working control plane creates: the
// default ServiceAccount by kube-controller-manager, the namespaces by
// kube-apiserver. The ServiceAccount comes last, so it is asked for first:
// while it is missing a check is one request.
var bootstrapPaths = []string{
	"/api/v1/namespaces/default/serviceaccounts/default",
	"/api/v1/namespaces/default",
	"/api/v1/namespaces/kube-system",
}

// checkBootstrapped checks once that the ServiceAccount default/default and
// the namespaces default and kube-system exist.
func checkBootstrapped(ctx context.Context, c *http.Client, base string) error {
	for _, p := range bootstrapPaths {
		code, body, err := getStatus(ctx, c, base+p)
		if err != nil {
			return err
		}
		if code != http.StatusOK {
			return fmt.Errorf("GET %s: HTTP %d: %s", p, code, strings.TrimSpace(body))
		}
	}
	return nil
}

// WaitBootstrapped polls checkBootstrapped until it succeeds or ctx is done.
func WaitBootstrapped(ctx context.Context, cfg ClusterConfig) error {
	c, err := AdminHTTPClient(cfg)
	if err != nil {
		return err
	}
	defer c.CloseIdleConnections()
	for {
		err := checkBootstrapped(ctx, c, cfg.LocalEndpoint())
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("cluster %s not bootstrapped: %w", cfg.ID, errors.Join(ctx.Err(), err))
		case <-time.After(pollInterval):
		}
	}
}
