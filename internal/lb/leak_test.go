package lb

import (
	"context"
	"io"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestNoLeaks: after connections of every kind (served, refused, to a dead
// replica, idle, half-closed and never finished) and Remove/Close, the
// balancer has closed every connection and holds no goroutine and no file
// descriptor.
func TestNoLeaks(t *testing.T) {
	a, dead := startBackend(t, "us-west-2a"), startBackend(t, "us-west-2b")
	dead.kill()
	sink, release := startSink(t)
	getPKI(t)
	baseG, baseFD := settle(t, 0, 0, time.Second)

	b := New(Config{HealthInterval: 50 * time.Millisecond})
	l := Listener{Addr: "127.0.0.1:0", Backends: []Backend{dead.backend(), a.backend()}, Check: readyzCheck(t), Access: testAccess(true, false)}
	for _, name := range []string{"one", "two"} {
		if err := b.Ensure(name, l); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Ensure("sink", Listener{Addr: "127.0.0.1:0", Backends: []Backend{{Name: "sink", Addr: sink}}, Access: l.Access}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			addr := b.Addr([]string{"one", "two"}[i%2])
			src := []string{srcPublic, srcPrivate}[i%4/2] // a quarter refused
			get(clientFrom(t, src), addr)
		}()
	}
	wg.Wait()
	// Half-closed by the client; the replica never answers nor closes, so
	// only Close can end it.
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(srcPublic)}}
	half, err := d.Dial("tcp", b.Addr("sink"))
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(half, "hello")
	half.(*net.TCPConn).CloseWrite()
	// Open and idle on a listener that gets removed.
	idle := openConn(t, srcPublic, b.Addr("two"))
	if _, err := idle.get(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "sink connection joined", func() bool { return b.Status("sink")[0].Conns == 1 })

	b.Remove("two")
	if _, err := idle.get(); err == nil {
		t.Error("idle connection still open after Remove")
	}
	b.Close()
	half.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadAll(half); err != nil {
		t.Errorf("half-closed connection not closed by Close: %v", err)
	}
	if n := lbGoroutines(); n != 0 {
		t.Errorf("%d balancer goroutines left after Close", n)
	}
	half.Close()
	idle.c.Close()
	close(release)

	g, fd := settle(t, baseG, baseFD, 10*time.Second)
	if g > baseG || fd > baseFD {
		buf := make([]byte, 1<<20)
		t.Errorf("goroutines %d (was %d), fds %d (was %d)\n%s", g, baseG, fd, baseFD, buf[:runtime.Stack(buf, true)])
	}
}

// startSink is a replica that reads until EOF and then neither answers nor
// closes until release is closed.
func startSink(t testing.TB) (addr string, release chan struct{}) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	release = make(chan struct{})
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				io.ReadAll(c)
				<-release
				c.Close()
			}()
		}
	}()
	return ln.Addr().String(), release
}

// lbGoroutines counts goroutines running the balancer's own code.
func lbGoroutines() int {
	buf := make([]byte, 1<<20)
	n := 0
	for _, g := range strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n") {
		if strings.Contains(g, "internal/lb.(*listener)") || strings.Contains(g, "internal/lb.(*proxyConn)") {
			n++
		}
	}
	return n
}

// settle waits up to d for the goroutine and fd counts to fall to the
// given ones (0: just let them settle) and returns them. GC runs first so
// Go's pooled splice pipes, closed by finalizers, are not counted.
func settle(t testing.TB, wantG, wantFD int, d time.Duration) (int, int) {
	deadline := time.Now().Add(d)
	for {
		runtime.GC()
		runtime.GC()
		time.Sleep(20 * time.Millisecond)
		g, fd := runtime.NumGoroutine(), countFDs(t)
		if wantG == 0 || (g <= wantG && fd <= wantFD) || time.Now().After(deadline) {
			if wantG == 0 && time.Now().Before(deadline) {
				time.Sleep(time.Until(deadline))
				return runtime.NumGoroutine(), countFDs(t)
			}
			return g, fd
		}
	}
}

func countFDs(t testing.TB) int {
	es, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd")
	}
	return len(es)
}

// TestHungBackendOut: a replica that accepts but never answers is put out
// by check timeouts, without delaying the checks of the others.
func TestHungBackendOut(t *testing.T) {
	a := startBackend(t, "us-west-2a")
	hung := Backend{Name: "us-west-2b", Addr: "192.0.2.1:443"} // never dialed: the Check hangs
	check := readyzCheck(t)
	b := newTestBalancer(t, Config{HealthInterval: 100 * time.Millisecond, HealthTimeout: 200 * time.Millisecond})
	var mu sync.Mutex
	checksA := 0
	ensure(t, b, "c", Listener{Backends: []Backend{a.backend(), hung}, Access: testAccess(true, false),
		Check: func(ctx context.Context, be Backend) error {
			if be == hung {
				<-ctx.Done()
				return ctx.Err()
			}
			mu.Lock()
			checksA++
			mu.Unlock()
			return check(ctx, be)
		}})
	took := waitFor(t, 5*time.Second, "hung replica out", func() bool { ok, _ := healthy(b, "c", "us-west-2b"); return !ok })
	mu.Lock()
	n := checksA
	mu.Unlock()
	// The first check of a never-checked replica decides: one timeout.
	if took > time.Second || n < 2 {
		t.Errorf("hung replica out after %s; us-west-2a checked %d times meanwhile", took, n)
	}
	if st := b.Status("c")[1]; st.LastError != context.DeadlineExceeded.Error() {
		t.Errorf("LastError = %q", st.LastError)
	}
}
