package lb

import (
	"errors"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// An endpoint's further sockets (Listener.Also, as inside a VPC's network
// namespace) serve the same backends under the same access rules, are
// opened once per key, and closed when their key goes or the endpoint does.
func TestAlsoSockets(t *testing.T) {
	a := startBackend(t, "us-west-2a")
	b := newTestBalancer(t, Config{})
	var opened atomic.Int32
	var alsoAddr string
	vpc := Socket{Key: "vpc-1", Listen: func() (net.Listener, error) {
		opened.Add(1)
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err == nil {
			alsoAddr = ln.Addr().String()
		}
		return ln, err
	}}
	l := Listener{Addr: "127.0.0.1:0", Backends: []Backend{a.backend()}, Check: readyzCheck(t), Access: testAccess(false, true), Also: []Socket{vpc}}
	ensure(t, b, "c", l)
	for range 3 {
		if err := b.Ensure("c", l); err != nil {
			t.Fatal(err)
		}
	}
	if n := opened.Load(); n != 1 {
		t.Fatalf("the socket was opened %d times, want once", n)
	}
	if body, err := get(clientFrom(t, srcPrivate), alsoAddr); err != nil || !strings.HasPrefix(body, "us-west-2a ") {
		t.Errorf("private source through the further socket: %q, %v", body, err)
	}
	if _, err := get(clientFrom(t, srcPublic), alsoAddr); err == nil {
		t.Errorf("public source through the further socket of a private-only endpoint: allowed")
	}

	// A socket whose Listen fails is tried again by each Ensure; the
	// others serve meanwhile.
	var tries atomic.Int32
	bad := Socket{Key: "vpc-2", Listen: func() (net.Listener, error) {
		tries.Add(1)
		return nil, errors.New("no namespace")
	}}
	l.Also = []Socket{vpc, bad}
	for range 2 {
		if err := b.Ensure("c", l); err != nil {
			t.Errorf("Ensure with a socket that cannot listen: %v", err)
		}
	}
	if n := tries.Load(); n != 2 {
		t.Errorf("a failing socket was tried %d times by 2 Ensures", n)
	}
	if _, err := get(clientFrom(t, srcPrivate), alsoAddr); err != nil {
		t.Errorf("the other socket after a failed one: %v", err)
	}

	// Gone from the list: closed.
	l.Also = nil
	if err := b.Ensure("c", l); err != nil {
		t.Fatal(err)
	}
	if c, err := net.DialTimeout("tcp", alsoAddr, time.Second); err == nil {
		c.Close()
		t.Errorf("the socket dropped from Also still accepts")
	}
	// Removing the endpoint closes its further sockets too.
	l.Also = []Socket{vpc}
	if err := b.Ensure("c", l); err != nil {
		t.Fatal(err)
	}
	b.Remove("c")
	if c, err := net.DialTimeout("tcp", alsoAddr, time.Second); err == nil {
		c.Close()
		t.Errorf("a further socket still accepts after Remove")
	}
}
