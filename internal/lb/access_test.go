package lb

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"testing"
	"time"
)

// Sources on loopback: .2 inside the VPC, .3 on the public allow-list, .4
// in neither, .5 inside the VPC and also on the public allow-list.
const (
	srcPrivate = "127.0.0.2"
	srcPublic  = "127.0.0.3"
	srcOther   = "127.0.0.4"
	srcBoth    = "127.0.0.5"
)

func testAccess(public, private bool) Access {
	return Access{
		Public: public, Private: private,
		PrivateCIDRs: []netip.Prefix{netip.MustParsePrefix("127.0.0.2/32"), netip.MustParsePrefix("127.0.0.5/32")},
		PublicCIDRs:  []netip.Prefix{netip.MustParsePrefix("127.0.0.3/32"), netip.MustParsePrefix("127.0.0.5/32")},
	}
}

// accessTable is the full truth table: which sources each setting allows.
var accessTable = []struct {
	public, private bool
	allowed         map[string]bool
}{
	{false, false, map[string]bool{}},
	// Private off: VPC traffic goes out the public side, so .2 (not on the
	// list) is refused and .5 (on it) is allowed.
	{true, false, map[string]bool{srcPublic: true, srcBoth: true}},
	{false, true, map[string]bool{srcPrivate: true, srcBoth: true}},
	{true, true, map[string]bool{srcPrivate: true, srcPublic: true, srcBoth: true}},
}

func TestAccessAllowed(t *testing.T) {
	for _, tc := range accessTable {
		a := testAccess(tc.public, tc.private)
		for _, src := range []string{srcPrivate, srcPublic, srcOther, srcBoth} {
			if got := a.Allowed(netip.MustParseAddr(src)); got != tc.allowed[src] {
				t.Errorf("public=%v private=%v src %s: Allowed = %v, want %v", tc.public, tc.private, src, got, tc.allowed[src])
			}
		}
	}
	// An IPv4 client seen on a dual-stack socket is judged as IPv4.
	if !testAccess(true, false).Allowed(netip.MustParseAddr("::ffff:127.0.0.3")) {
		t.Error("IPv4-mapped source not matched against IPv4 prefixes")
	}
	// EKS's default publicAccessCidrs, 0.0.0.0/0, is passed explicitly.
	open := Access{Public: true, PublicCIDRs: []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}}
	if !open.Allowed(netip.MustParseAddr("203.0.113.9")) || (Access{Public: true}).Allowed(netip.MustParseAddr("203.0.113.9")) {
		t.Error("0.0.0.0/0 must allow any IPv4 source, an empty list none")
	}
}

// TestAccessOnLoopback drives the truth table through a real listener,
// changing Access live with Ensure, and checks what happens to
// connections already open when the setting changes.
func TestAccessOnLoopback(t *testing.T) {
	be := startBackend(t, "us-west-2a")
	b := newTestBalancer(t, Config{})
	l := Listener{Backends: []Backend{be.backend()}, Check: readyzCheck(t), Access: testAccess(true, true)}
	addr := ensure(t, b, "c", l)
	l.Addr = "127.0.0.1:0" // the same listener: Ensure updates it in place

	for _, tc := range accessTable {
		l.Access = testAccess(tc.public, tc.private)
		if err := b.Ensure("c", l); err != nil {
			t.Fatal(err)
		}
		if b.Addr("c") != addr {
			t.Fatalf("Ensure moved the listener: %s, was %s", b.Addr("c"), addr)
		}
		for _, src := range []string{srcPrivate, srcPublic, srcOther, srcBoth} {
			body, err := get(clientFrom(t, src), addr)
			want := tc.allowed[src]
			switch {
			case want && (err != nil || body != "us-west-2a kubernetes-admin"):
				t.Errorf("public=%v private=%v src %s: want allowed, got %q, %v", tc.public, tc.private, src, body, err)
			case !want && err == nil:
				t.Errorf("public=%v private=%v src %s: want refused, got %q", tc.public, tc.private, src, body)
			}
		}
	}
	c := counts(t, b, "c")
	// 4 settings × 4 sources, 7 allowed.
	if c["accepted"] != 7 || c["refused"] != 9 {
		t.Errorf("counters = %v, want 7 accepted, 9 refused", c)
	}

	// Connections open when access changes: the ones still allowed keep
	// working, the others are closed.
	l.Access = testAccess(true, true)
	b.Ensure("c", l)
	priv, pub := openConn(t, srcPrivate, addr), openConn(t, srcPublic, addr)
	for _, c := range []*persistentConn{priv, pub} {
		if _, err := c.get(); err != nil {
			t.Fatal(err)
		}
	}
	l.Access = testAccess(false, true) // public access turned off
	b.Ensure("c", l)
	if body, err := priv.get(); err != nil {
		t.Errorf("private connection dropped by an access change that still allows it: %v", err)
	} else if body != "us-west-2a kubernetes-admin" {
		t.Errorf("private connection: %q", body)
	}
	if body, err := pub.get(); err == nil {
		t.Errorf("public connection still served after public access was turned off: %q", body)
	}
}

// persistentConn is one TLS connection through the balancer on which
// requests are sent one after another (keep-alive), as kubectl does.
type persistentConn struct {
	c  *tls.Conn
	br *bufio.Reader
}

func openConn(t testing.TB, src, addr string) *persistentConn {
	t.Helper()
	p := getPKI(t)
	d := &net.Dialer{Timeout: 2 * time.Second}
	if src != "" {
		d.LocalAddr = &net.TCPAddr{IP: net.ParseIP(src)}
	}
	c, err := tls.DialWithDialer(d, "tcp", addr, &tls.Config{RootCAs: p.pool, Certificates: []tls.Certificate{p.client}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &persistentConn{c: c, br: bufio.NewReader(c)}
}

func (p *persistentConn) get() (string, error) {
	p.c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(p.c, "GET / HTTP/1.1\r\nHost: kubernetes\r\n\r\n"); err != nil {
		return "", err
	}
	resp, err := http.ReadResponse(p.br, nil)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("status %s", resp.Status)
	}
	return string(b), err
}
