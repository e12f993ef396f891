package lb

import (
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"
)

// TestSpreadsConnections: long-lived connections go to the replica with
// the fewest, and TLS with a client certificate passes through untouched.
func TestSpreadsConnections(t *testing.T) {
	a, c := startBackend(t, "us-west-2a"), startBackend(t, "us-west-2c")
	b := newTestBalancer(t, Config{})
	addr := ensure(t, b, "c", Listener{Backends: []Backend{a.backend(), c.backend()}, Check: readyzCheck(t), Access: testAccess(true, false)})
	served := map[string]int{}
	for range 4 {
		body, err := openConn(t, srcPublic, addr).get()
		if err != nil {
			t.Fatal(err)
		}
		name, user, _ := strings.Cut(body, " ")
		if user != "kubernetes-admin" {
			t.Fatalf("backend saw client %q: the client certificate did not pass through", user)
		}
		served[name]++
	}
	if served["us-west-2a"] != 2 || served["us-west-2c"] != 2 {
		t.Errorf("4 open connections went %v, want 2 each", served)
	}
	for _, s := range b.Status("c") {
		if s.Conns != 2 {
			t.Errorf("Status %s: %d connections, want 2", s.Name, s.Conns)
		}
	}
}

// TestDeadBackendRetried: a replica that died before the health checks
// noticed costs the client nothing: the dial fails and the next is tried.
func TestDeadBackendRetried(t *testing.T) {
	a, dead := startBackend(t, "us-west-2a"), startBackend(t, "us-west-2b")
	// One check at start, then none for the test's life.
	b := newTestBalancer(t, Config{HealthInterval: time.Hour})
	addr := ensure(t, b, "c", Listener{Backends: []Backend{dead.backend(), a.backend()}, Check: readyzCheck(t), Access: testAccess(true, false)})
	waitFor(t, 5*time.Second, "first checks", func() bool {
		_, c1 := healthy(b, "c", "us-west-2a")
		_, c2 := healthy(b, "c", "us-west-2b")
		return c1 && c2
	})
	dead.kill()
	for i := range 10 {
		body, err := get(clientFrom(t, srcPublic), addr)
		if err != nil || !strings.HasPrefix(body, "us-west-2a ") {
			t.Fatalf("request %d: %q, %v", i, body, err)
		}
	}
	if ok, _ := healthy(b, "c", "us-west-2b"); !ok {
		t.Fatal("health checks noticed: the test did not exercise the retry")
	}
	// The failed dial moved the dead replica to the back: one failure in all.
	if n := gather(t, b)["kplane_lb_backend_dial_failures_total backend=us-west-2b listener=c"]; n != 1 {
		t.Errorf("dial failures to the dead replica = %v, want 1", n)
	}
}

// TestHealthOut: a killed replica is out within 2 s with the defaults; one
// failing /readyz is out after FailAfter checks and back after one success.
func TestHealthOut(t *testing.T) {
	a, c := startBackend(t, "us-west-2a"), startBackend(t, "us-west-2c")
	b := newTestBalancer(t, Config{})
	addr := ensure(t, b, "c", Listener{Backends: []Backend{a.backend(), c.backend()}, Check: readyzCheck(t), Access: testAccess(true, false)})
	waitFor(t, 5*time.Second, "first checks", func() bool {
		ok1, c1 := healthy(b, "c", "us-west-2a")
		ok2, c2 := healthy(b, "c", "us-west-2c")
		return ok1 && c1 && ok2 && c2
	})

	c.notReady.Store(true)
	took := waitFor(t, 5*time.Second, "not-ready replica out", func() bool { ok, _ := healthy(b, "c", "us-west-2c"); return !ok })
	t.Logf("failing /readyz: out after %s", took)
	if took > 2*time.Second {
		t.Errorf("failing replica out after %s, want within 2s", took)
	}
	for range 4 {
		if body, err := get(clientFrom(t, srcPublic), addr); err != nil || !strings.HasPrefix(body, "us-west-2a ") {
			t.Errorf("with us-west-2c out: %q, %v", body, err)
		}
	}
	st := b.Status("c")[1]
	if st.LastError == "" || time.Since(st.Since) > 5*time.Second {
		t.Errorf("Status of the out replica: %+v", st)
	}
	c.notReady.Store(false)
	waitFor(t, 3*time.Second, "replica back in", func() bool { ok, _ := healthy(b, "c", "us-west-2c"); return ok })

	a.kill()
	took = waitFor(t, 5*time.Second, "killed replica out", func() bool { ok, _ := healthy(b, "c", "us-west-2a"); return !ok })
	t.Logf("killed replica: out after %s", took)
	if took > 2*time.Second {
		t.Errorf("killed replica out after %s, want within 2s", took)
	}
}

// TestAllDead: when no replica answers, the client sees its connection
// closed, and it is counted.
func TestAllDead(t *testing.T) {
	a, c := startBackend(t, "us-west-2a"), startBackend(t, "us-west-2c")
	b := newTestBalancer(t, Config{HealthInterval: time.Hour})
	addr := ensure(t, b, "c", Listener{Backends: []Backend{a.backend(), c.backend()}, Check: readyzCheck(t), Access: testAccess(true, false)})
	a.kill()
	c.kill()
	_, err := get(clientFrom(t, srcPublic), addr)
	if !isClosedByPeer(err) {
		t.Fatalf("client error %v, want the connection closed", err)
	}
	if n := counts(t, b, "c")["failed"]; n != 1 {
		t.Errorf("failed connections = %v, want 1", n)
	}
}

// TestNoneHealthyTriesAll: when every check fails the balancer still sends
// connections to whichever replica accepts them (fail open, as an NLB).
func TestNoneHealthyTriesAll(t *testing.T) {
	a := startBackend(t, "us-west-2a")
	a.notReady.Store(true)
	b := newTestBalancer(t, Config{})
	addr := ensure(t, b, "c", Listener{Backends: []Backend{a.backend()}, Check: readyzCheck(t), Access: testAccess(true, false)})
	waitFor(t, 5*time.Second, "replica out", func() bool { ok, checked := healthy(b, "c", "us-west-2a"); return checked && !ok })
	if body, err := get(clientFrom(t, srcPublic), addr); err != nil || !strings.HasPrefix(body, "us-west-2a ") {
		t.Errorf("%q, %v", body, err)
	}
}

// TestEnsure: idempotent, backends updated in place, connections kept.
func TestEnsure(t *testing.T) {
	a, c := startBackend(t, "us-west-2a"), startBackend(t, "us-west-2c")
	b := newTestBalancer(t, Config{})
	l := Listener{Addr: "127.0.0.1:0", Backends: []Backend{a.backend()}, Check: readyzCheck(t), Access: testAccess(true, false)}
	addr := ensure(t, b, "c", l)
	pc := openConn(t, srcPublic, addr)
	if body, err := pc.get(); err != nil || !strings.HasPrefix(body, "us-west-2a ") {
		t.Fatalf("%q, %v", body, err)
	}
	waitFor(t, 5*time.Second, "first check", func() bool { _, checked := healthy(b, "c", "us-west-2a"); return checked })
	before := b.Status("c")

	for range 3 {
		if err := b.Ensure("c", l); err != nil {
			t.Fatal(err)
		}
	}
	if b.Addr("c") != addr {
		t.Fatalf("Ensure moved the listener to %s", b.Addr("c"))
	}
	if after := b.Status("c"); len(after) != 1 || !after[0].Checked || after[0].Since != before[0].Since {
		t.Errorf("Ensure with the same backends reset their state: %+v, was %+v", after, before)
	}

	l.Backends = []Backend{a.backend(), c.backend()}
	b.Ensure("c", l)
	// a has the open connection, so the new one goes to c.
	if body, err := get(clientFrom(t, srcPublic), addr); err != nil || !strings.HasPrefix(body, "us-west-2c ") {
		t.Errorf("after adding us-west-2c: %q, %v", body, err)
	}

	l.Backends = []Backend{c.backend()}
	b.Ensure("c", l)
	for range 3 {
		if body, err := get(clientFrom(t, srcPublic), addr); err != nil || !strings.HasPrefix(body, "us-west-2c ") {
			t.Errorf("after removing us-west-2a: %q, %v", body, err)
		}
	}
	if st := b.Status("c"); len(st) != 1 || st[0].Name != "us-west-2c" {
		t.Errorf("Status = %+v", st)
	}
	// The connection to the replica taken out of the list drains on its own.
	if body, err := pc.get(); err != nil || !strings.HasPrefix(body, "us-west-2a ") {
		t.Errorf("open connection to the removed replica: %q, %v", body, err)
	}

	// The bound address written out is the same listener; a new one moves it.
	l.Addr = addr
	if err := b.Ensure("c", l); err != nil || b.Addr("c") != addr {
		t.Fatalf("Ensure with the bound address %s: %v (now %s)", addr, err, b.Addr("c"))
	}
	l.Addr = "127.0.0.1:0"
	if err := b.Ensure("c", l); err != nil || b.Addr("c") == addr {
		t.Fatalf("move: %v (now %s)", err, b.Addr("c"))
	}
	if _, err := get(clientFrom(t, srcPublic), b.Addr("c")); err != nil {
		t.Errorf("after the move: %v", err)
	}
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Error("old address still accepts after the move")
	}
}

func TestEnsureErrors(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	b := New(Config{})
	if err := b.Ensure("c", Listener{Addr: busy.Addr().String()}); err == nil {
		t.Error("Ensure on a busy port: no error")
	}
	if b.Status("c") != nil || b.Addr("c") != "" {
		t.Error("a listener that failed to bind is known")
	}
	b.Close()
	if err := b.Ensure("c", Listener{Addr: "127.0.0.1:0"}); !errors.Is(err, ErrClosed) {
		t.Errorf("Ensure after Close: %v", err)
	}
}

// TestRemoveCloses: Remove closes the port and the open connections.
func TestRemoveCloses(t *testing.T) {
	a := startBackend(t, "us-west-2a")
	b := newTestBalancer(t, Config{})
	addr := ensure(t, b, "c", Listener{Backends: []Backend{a.backend()}, Check: readyzCheck(t), Access: testAccess(true, false)})
	pc := openConn(t, srcPublic, addr)
	if _, err := pc.get(); err != nil {
		t.Fatal(err)
	}
	b.Remove("c")
	if _, err := pc.get(); err == nil {
		t.Error("open connection still served after Remove")
	}
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Error("port still accepts after Remove")
	}
	if b.Status("c") != nil {
		t.Error("Status of a removed listener")
	}
	b.Remove("c") // idempotent
}

// TestHalfClose: a client that shuts down its write side still reads the
// answer: the FIN is forwarded, not turned into a full close.
func TestHalfClose(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() { // reads to EOF, then answers with what it read
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				b, _ := io.ReadAll(c)
				io.WriteString(c, "got "+string(b))
			}()
		}
	}()
	b := newTestBalancer(t, Config{})
	// No Check: the balancer's own TCP connect check.
	addr := ensure(t, b, "c", Listener{Backends: []Backend{{Name: "raw", Addr: ln.Addr().String()}}, Access: testAccess(true, false)})
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(srcPublic)}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(c, "hello")
	c.(*net.TCPConn).CloseWrite()
	got, err := io.ReadAll(c)
	if err != nil || string(got) != "got hello" {
		t.Errorf("after half-close: %q, %v", got, err)
	}
	waitFor(t, 3*time.Second, "TCP check", func() bool { ok, checked := healthy(b, "c", "raw"); return ok && checked })
}
