package nodenet

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"strconv"
	"sync"
	"time"

	"golang.org/x/net/http/httpproxy"
)

// RegistryProxy is a node's way out to image registries: an HTTP proxy
// (CONNECT for https, absolute-form requests for plain-http registries)
// listening on 127.0.0.1 inside the node's own network namespace, which
// dials its targets from the host's namespace. The node's containerd uses it
// through HTTPS_PROXY and HTTP_PROXY, so images are pulled exactly when the
// host can reach the registry. Pods cannot use it: each pod has a loopback
// of its own, and the proxy listens on no address the VPC routes.
//
// It never bridges into the host or kplane's networks: targets on loopback,
// link-local (instance metadata), unspecified or multicast addresses, in
// the ranges given to ListenRegistryProxy (the node's VPC, pods, Services)
// or on one of the host's own addresses are refused with 403.
//
// When kplane itself runs with HTTPS_PROXY/HTTP_PROXY/NO_PROXY, the proxy
// goes through the operator's proxy as any program of the host would.
type RegistryProxy struct {
	ln       net.Listener
	srv      *http.Server
	forward  *httputil.ReverseProxy
	refused  []netip.Prefix
	log      *slog.Logger
	upstream func(*url.URL) (*url.URL, error)
	// upstreamAddrs are the operator's proxies' host:port, dialed as they are.
	upstreamAddrs map[string]bool

	tunnels connSet
	wg      sync.WaitGroup // the server
}

// refusedEverywhere are addresses no proxied request may reach: the host's
// own loopback and link-local services (instance metadata at
// 169.254.169.254), and addresses that name no single remote host.
var refusedEverywhere = []netip.Prefix{
	netip.MustParsePrefix("127.0.0.0/8"),
	netip.MustParsePrefix("0.0.0.0/8"),
	netip.MustParsePrefix("169.254.0.0/16"),
	netip.MustParsePrefix("224.0.0.0/4"),
	netip.MustParsePrefix("255.255.255.255/32"),
	netip.MustParsePrefix("::1/128"),
	netip.MustParsePrefix("::/128"),
	netip.MustParsePrefix("fe80::/10"),
	netip.MustParsePrefix("ff00::/8"),
}

// registryDialTimeout bounds one dial to a registry (or the operator's proxy).
const registryDialTimeout = 30 * time.Second

// ListenRegistryProxy serves a registry proxy on 127.0.0.1 (a port the
// kernel picks) inside the network namespace bound at nsPath. refused are
// further ranges no target may be in (the node's VPC, its cluster's pods
// and Services). Close it before the namespace is removed: its socket holds
// the namespace.
func ListenRegistryProxy(nsPath string, refused []netip.Prefix, log *slog.Logger) (*RegistryProxy, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ln, err := ListenIn(context.Background(), nsPath, nil, "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("registry proxy in %s: %w", nsPath, err)
	}
	env := httpproxy.FromEnvironment()
	p := &RegistryProxy{
		ln:            ln,
		refused:       append(append([]netip.Prefix{}, refusedEverywhere...), refused...),
		log:           log,
		upstream:      env.ProxyFunc(),
		upstreamAddrs: map[string]bool{},
	}
	for _, s := range []string{env.HTTPProxy, env.HTTPSProxy} {
		if u, err := url.Parse(s); err == nil && u.Host != "" {
			p.upstreamAddrs[proxyAddr(u)] = true
		}
	}
	transport := &http.Transport{
		Proxy:                 func(r *http.Request) (*url.URL, error) { return p.upstream(r.URL) },
		DialContext:           p.dialTransport,
		ForceAttemptHTTP2:     false,
		MaxIdleConns:          16,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: time.Minute,
	}
	p.forward = &httputil.ReverseProxy{
		// The request is in absolute form already: send it where it says.
		Rewrite:   func(*httputil.ProxyRequest) {},
		Transport: transport,
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			p.fail(w, r.URL.Host, err)
		},
	}
	p.srv = &http.Server{Handler: p, ReadHeaderTimeout: 30 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug)}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		p.srv.Serve(ln)
	}()
	return p, nil
}

// URL is the proxy's address as the node's containerd is given it.
func (p *RegistryProxy) URL() string { return "http://" + p.ln.Addr().String() }

// Close stops the proxy: its listener, requests and tunnels.
func (p *RegistryProxy) Close() error {
	err := p.srv.Close()
	p.tunnels.closeAll()
	p.wg.Wait()
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}

func (p *RegistryProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodConnect {
		p.tunnel(w, r)
		return
	}
	if r.URL.Scheme != "http" || r.URL.Host == "" {
		http.Error(w, "a proxy: send CONNECT host:port, or an absolute http:// URL", http.StatusBadRequest)
		return
	}
	if err := p.check(r.Context(), r.URL.Host); err != nil {
		p.fail(w, r.URL.Host, err)
		return
	}
	p.forward.ServeHTTP(w, r)
}

// RefusedError is a target the proxy does not reach.
type RefusedError struct {
	Target string
	Addr   netip.Addr
	Why    string
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("registry proxy: %s (%v) is %s: refused", e.Target, e.Addr, e.Why)
}

func (p *RegistryProxy) fail(w http.ResponseWriter, target string, err error) {
	var refused *RefusedError
	if errors.As(err, &refused) {
		p.log.Debug("registry proxy: refused", "target", target, "addr", refused.Addr, "why", refused.Why)
		http.Error(w, refused.Error(), http.StatusForbidden)
		return
	}
	p.log.Debug("registry proxy: failed", "target", target, "err", err)
	http.Error(w, err.Error(), http.StatusBadGateway)
}

// tunnel answers CONNECT host:port: a TCP connection from the host's
// namespace (or through the operator's proxy), then bytes both ways.
func (p *RegistryProxy) tunnel(w http.ResponseWriter, r *http.Request) {
	target := r.Host
	if _, _, err := net.SplitHostPort(target); err != nil {
		http.Error(w, "CONNECT wants host:port", http.StatusBadRequest)
		return
	}
	if err := p.check(r.Context(), target); err != nil {
		p.fail(w, target, err)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), registryDialTimeout)
	up, err := p.dialTunnel(ctx, target)
	cancel()
	if err != nil {
		p.fail(w, target, err)
		return
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		up.Close()
		http.Error(w, "cannot tunnel", http.StatusInternalServerError)
		return
	}
	down, buf, err := hj.Hijack()
	if err != nil {
		up.Close()
		return
	}
	if !p.tunnels.add(up, down) {
		return
	}
	defer p.tunnels.remove(up, down)
	if _, err := io.WriteString(down, "HTTP/1.1 200 Connection established\r\n\r\n"); err != nil {
		return
	}
	splice(down, buf, up) // bytes the client sent after its request are buffered
}

// dialTunnel connects to target for a CONNECT: directly, or through the
// operator's proxy when the environment names one for https.
func (p *RegistryProxy) dialTunnel(ctx context.Context, target string) (net.Conn, error) {
	via, err := p.upstream(&url.URL{Scheme: "https", Host: target})
	if err != nil {
		return nil, err
	}
	if via == nil {
		return p.dialChecked(ctx, target)
	}
	c, err := dialProxy(ctx, via)
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Now().Add(registryDialTimeout))
	req := &http.Request{Method: http.MethodConnect, URL: &url.URL{Opaque: target}, Host: target, Header: http.Header{}}
	if u := via.User; u != nil {
		pw, _ := u.Password()
		req.Header.Set("Proxy-Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(u.Username()+":"+pw)))
	}
	br := bufio.NewReader(c)
	if err := req.Write(c); err != nil {
		c.Close()
		return nil, err
	}
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("proxy %s: %w", via.Host, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		c.Close()
		return nil, fmt.Errorf("proxy %s answered CONNECT %s with %s", via.Host, target, resp.Status)
	}
	c.SetDeadline(time.Time{})
	if br.Buffered() > 0 { // a proxy must not send before the client does
		c.Close()
		return nil, fmt.Errorf("proxy %s sent data after its CONNECT answer", via.Host)
	}
	return c, nil
}

// proxyAddr is a proxy URL's host:port, its scheme's port by default.
func proxyAddr(via *url.URL) string {
	port := via.Port()
	if port == "" {
		port = "80"
		if via.Scheme == "https" {
			port = "443"
		}
	}
	return net.JoinHostPort(via.Hostname(), port)
}

// dialProxy connects to the operator's proxy (http or https).
func dialProxy(ctx context.Context, via *url.URL) (net.Conn, error) {
	addr := proxyAddr(via)
	d := &net.Dialer{Timeout: registryDialTimeout}
	if via.Scheme == "https" {
		return (&tls.Dialer{NetDialer: d, Config: &tls.Config{ServerName: via.Hostname()}}).DialContext(ctx, "tcp", addr)
	}
	return d.DialContext(ctx, "tcp", addr)
}

// dialTransport is the plain-http transport's dial: the operator's proxy
// when the transport goes through it, a checked target otherwise.
func (p *RegistryProxy) dialTransport(ctx context.Context, network, addr string) (net.Conn, error) {
	if p.upstreamAddrs[addr] {
		return (&net.Dialer{Timeout: registryDialTimeout}).DialContext(ctx, network, addr)
	}
	return p.dialChecked(ctx, addr)
}

// check refuses target when its address (a literal, or what the host's
// resolver answers for its name) is one the proxy must not reach. A name
// the host cannot resolve passes: only the operator's proxy can take it.
func (p *RegistryProxy) check(ctx context.Context, target string) error {
	host, _, err := net.SplitHostPort(target)
	if err != nil {
		host = target
	}
	addrs, err := p.resolve(ctx, host)
	if err != nil {
		return nil
	}
	for _, a := range addrs {
		if err := p.allowed(host, a); err != nil {
			return err
		}
	}
	return nil
}

// dialChecked dials target directly from the host's namespace, to an
// address it checked itself (no second lookup between check and dial).
func (p *RegistryProxy) dialChecked(ctx context.Context, target string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(target)
	if err != nil {
		return nil, err
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return nil, fmt.Errorf("registry proxy: bad port in %q", target)
	}
	addrs, err := p.resolve(ctx, host)
	if err != nil {
		return nil, err
	}
	d := &net.Dialer{Timeout: registryDialTimeout}
	var errs []error
	for _, a := range addrs {
		if err := p.allowed(host, a); err != nil {
			return nil, err
		}
		c, err := d.DialContext(ctx, "tcp", net.JoinHostPort(a.String(), port))
		if err == nil {
			return c, nil
		}
		errs = append(errs, err)
	}
	return nil, errors.Join(errs...)
}

func (p *RegistryProxy) resolve(ctx context.Context, host string) ([]netip.Addr, error) {
	if a, err := netip.ParseAddr(host); err == nil {
		return []netip.Addr{a}, nil
	}
	return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
}

// allowed refuses a, the address of host, if it is in a refused range or
// an address of the host itself (kplane's own ports, other local services).
func (p *RegistryProxy) allowed(host string, a netip.Addr) error {
	a = a.Unmap().WithZone("")
	for _, r := range p.refused {
		if r.Contains(a) {
			return &RefusedError{Target: host, Addr: a, Why: "in " + r.String()}
		}
	}
	local, err := net.InterfaceAddrs() // the host's: this runs on the host's threads
	if err != nil {
		return err
	}
	for _, l := range local {
		if n, ok := l.(*net.IPNet); ok {
			if la, ok := netip.AddrFromSlice(n.IP); ok && la.Unmap() == a {
				return &RefusedError{Target: host, Addr: a, Why: "an address of this host"}
			}
		}
	}
	return nil
}
