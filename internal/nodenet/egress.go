package nodenet

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Egress is the HTTP CONNECT proxy that a cluster's kube-apiserver sends
// its "cluster" traffic through (--egress-selector-config-file, see
// EgressSelectorConfig): logs, exec, port-forward and metrics from the
// kubelets, proxied requests to pods. It listens on a unix socket of the
// cluster's directory and dials each target from inside the VPC's
// namespace, so the host never dials a VPC address. Only the VPC's nodes'
// addresses and addresses of their pod CIDRs are allowed targets.
//
// This is the egress selector's mechanism as Konnectivity uses it, with
// kplane as the proxy: nodes on this machine are reachable from the VPC's
// namespace, so no agent on the node is needed.
type Egress struct {
	m    *Manager
	vpc  string
	log  *slog.Logger
	ln   net.Listener
	path string
	made []string // directories ListenEgress made for the socket, removed by Close

	conns connSet
	wg    sync.WaitGroup
}

// egressDialTimeout bounds a dial to a node: the apiserver's own dial
// timeout is longer, and an answer at all is better than its timeout.
const egressDialTimeout = 10 * time.Second

// ListenEgress serves the proxy for VPC vpcID on the unix socket at path
// (mode 0600; a stale socket file is replaced).
func (m *Manager) ListenEgress(path, vpcID string, log *slog.Logger) (*Egress, error) {
	if err := checkID("vpc", vpcID); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	made, err := mkdirs(filepath.Dir(path))
	if err != nil {
		return nil, err
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, err
	}
	e := &Egress{m: m, vpc: vpcID, log: log.With("vpc", vpcID), ln: ln, path: path, made: made}
	e.wg.Add(1)
	go e.acceptLoop()
	return e, nil
}

// EgressSocket is where cluster id's egress socket lives when the path in
// its own directory is too long for a unix socket (108 bytes): beside the
// namespaces, in this kplane's directory under /run/kplane.
func (m *Manager) EgressSocket(clusterID string) string {
	return filepath.Join(filepath.Dir(m.dir), egressSocketPrefix+clusterID+".sock")
}

const egressSocketPrefix = "egress-"

// RemoveStaleEgressSockets removes the egress sockets that a kplane of this
// data directory, killed before it could close them, left beside the
// namespaces (see EgressSocket), then that directory and /run/kplane when
// nothing else is in them. Namespaces of nodes that still run stay. Call it
// only while holding the data directory (internal/datadir), so that no
// kplane serves those sockets; it returns the sockets it removed.
func (m *Manager) RemoveStaleEgressSockets() ([]string, error) {
	dir := filepath.Dir(m.dir)
	stale, err := filepath.Glob(filepath.Join(dir, egressSocketPrefix+"*.sock"))
	if err != nil {
		return nil, err
	}
	var removed []string
	var errs []error
	for _, f := range stale {
		if fi, err := os.Lstat(f); err != nil || fi.Mode().Type() != os.ModeSocket {
			continue
		}
		if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, f)
	}
	os.Remove(dir)               // only if empty
	os.Remove(filepath.Dir(dir)) // /run/kplane, if no other kplane has one
	return removed, errors.Join(errs...)
}

// Close stops the proxy, closes every tunnel and removes the socket file.
func (e *Egress) Close() error {
	e.conns.closeAll()
	err := e.ln.Close() // removes the socket file (net unlinks on close)
	e.wg.Wait()
	for _, d := range e.made {
		os.Remove(d) // only if empty: another socket may be there
	}
	return err
}

// mkdirs makes dir and the parents it lacks (0700), and returns those it
// made, deepest first.
func mkdirs(dir string) ([]string, error) {
	var made []string
	for d := dir; ; d = filepath.Dir(d) {
		if _, err := os.Stat(d); err == nil || d == filepath.Dir(d) {
			break
		}
		made = append(made, d)
	}
	return made, os.MkdirAll(dir, 0o700)
}

func (e *Egress) acceptLoop() {
	defer e.wg.Done()
	for {
		c, err := e.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			e.log.Warn("egress proxy: accept failed", "err", err)
			time.Sleep(50 * time.Millisecond)
			continue
		}
		if !e.conns.add(c) {
			return
		}
		e.wg.Add(1)
		go func() {
			defer e.wg.Done()
			defer e.conns.remove(c)
			e.serve(c)
		}()
	}
}

// serve answers one CONNECT and then copies bytes both ways until either
// side closes.
func (e *Egress) serve(c net.Conn) {
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	br := bufio.NewReader(c)
	req, err := http.ReadRequest(br)
	if err != nil {
		return
	}
	c.SetReadDeadline(time.Time{})
	if req.Method != http.MethodConnect {
		reply(c, http.StatusMethodNotAllowed, "only CONNECT")
		return
	}
	target, err := netip.ParseAddrPort(req.RequestURI)
	if err != nil {
		reply(c, http.StatusBadRequest, "target must be IP:port")
		return
	}
	if ok, err := e.allowed(target.Addr()); err != nil {
		reply(c, http.StatusServiceUnavailable, err.Error())
		return
	} else if !ok {
		e.log.Info("egress proxy: refused target outside the VPC's nodes and pods", "target", target.String())
		reply(c, http.StatusForbidden, "not a node or pod address of "+e.vpc)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), egressDialTimeout)
	up, err := e.m.DialVPC(ctx, e.vpc, &net.Dialer{}, target.String())
	cancel()
	if err != nil {
		reply(c, http.StatusBadGateway, err.Error())
		return
	}
	if !e.conns.add(up) {
		return
	}
	defer e.conns.remove(up)
	if _, err := io.WriteString(c, "HTTP/1.1 200 Connection established\r\n\r\n"); err != nil {
		return
	}
	splice(c, br, up) // bytes the client sent right after its request are in br
}

func reply(c net.Conn, code int, msg string) {
	fmt.Fprintf(c, "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %d\r\nConnection: close\r\n\r\n%s", code, http.StatusText(code), len(msg), msg)
}

// allowed reports whether addr is a node of the VPC or in one of its nodes'
// pod CIDRs, as the kernel knows them now.
func (e *Egress) allowed(addr netip.Addr) (bool, error) {
	nodes, err := e.m.Nodes(e.vpc)
	if err != nil {
		return false, err
	}
	addr = addr.Unmap()
	for _, n := range nodes {
		if n.Addr == addr || n.PodCIDR.IsValid() && n.PodCIDR.Contains(addr) {
			return true, nil
		}
	}
	return false, nil
}

// EgressSelectorConfig is kube-apiserver's --egress-selector-config-file
// that sends the "cluster" traffic through the proxy on socketPath.
func EgressSelectorConfig(socketPath string) []byte {
	return fmt.Appendf(nil, `apiVersion: apiserver.k8s.io/v1beta1
kind: EgressSelectorConfiguration
egressSelections:
- name: cluster
  connection:
    proxyProtocol: HTTPConnect
    transport:
      uds:
        udsName: %q
`, socketPath)
}
