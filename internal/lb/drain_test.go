package lb

import (
	"strings"
	"testing"
	"time"
)

// TestDrainBeforeRestart: a drained replica gets no new connection at once,
// while its checks still pass; once a check failed (it went down) and a
// later one passed (its new process is ready), it is back in rotation.
func TestDrainBeforeRestart(t *testing.T) {
	a, c := startBackend(t, "us-west-2a"), startBackend(t, "us-west-2c")
	b := newTestBalancer(t, Config{HealthInterval: 100 * time.Millisecond})
	addr := ensure(t, b, "c", Listener{Backends: []Backend{a.backend(), c.backend()}, Check: readyzCheck(t), Access: testAccess(true, false)})
	waitFor(t, 5*time.Second, "first checks", func() bool {
		ok1, c1 := healthy(b, "c", "us-west-2a")
		ok2, c2 := healthy(b, "c", "us-west-2c")
		return ok1 && c1 && ok2 && c2
	})

	b.Drain("c", a.backend())
	b.Drain("c", Backend{Name: "unknown", Addr: "127.0.0.1:1"}) // ignored
	b.Drain("unknown", a.backend())                             // ignored
	for range 6 {
		if body, err := get(clientFrom(t, srcPublic), addr); err != nil || !strings.HasPrefix(body, "us-west-2c ") {
			t.Fatalf("with us-west-2a draining: %q, %v", body, err)
		}
	}
	time.Sleep(300 * time.Millisecond) // checks of a keep passing: it stays drained
	if st := b.Status("c")[0]; !st.Draining || !st.Healthy {
		t.Fatalf("drained replica whose checks pass: %+v", st)
	}
	if body, _ := get(clientFrom(t, srcPublic), addr); !strings.HasPrefix(body, "us-west-2c ") {
		t.Fatalf("drained replica got a new connection: %q", body)
	}

	// Its restart: /readyz fails (shutdown), then passes (the new process).
	a.notReady.Store(true)
	waitFor(t, 3*time.Second, "drained replica down", func() bool { st := b.Status("c")[0]; return !st.Healthy && !st.Draining })
	a.notReady.Store(false)
	waitFor(t, 3*time.Second, "restarted replica back", func() bool { ok, _ := healthy(b, "c", "us-west-2a"); return ok })
	seen := map[string]bool{}
	for range 6 {
		body, err := get(clientFrom(t, srcPublic), addr)
		if err != nil {
			t.Fatal(err)
		}
		seen[strings.Fields(body)[0]] = true
	}
	if !seen["us-west-2a"] || !seen["us-west-2c"] {
		t.Errorf("after the restart, connections went to %v, want both replicas", seen)
	}

	// A drained replica is still used when no other answers (fail open).
	b.Drain("c", a.backend())
	c.kill()
	if body, err := get(clientFrom(t, srcPublic), addr); err != nil || !strings.HasPrefix(body, "us-west-2a ") {
		t.Errorf("only the drained replica left: %q, %v", body, err)
	}
}

// TestDrainExpires: a drained replica that never went down (its restart did
// not happen) is sent to again after DrainTimeout.
func TestDrainExpires(t *testing.T) {
	defer func(d time.Duration) { DrainTimeout = d }(DrainTimeout)
	DrainTimeout = 300 * time.Millisecond
	a, c := startBackend(t, "us-west-2a"), startBackend(t, "us-west-2c")
	b := newTestBalancer(t, Config{HealthInterval: 100 * time.Millisecond})
	ensure(t, b, "c", Listener{Backends: []Backend{a.backend(), c.backend()}, Check: readyzCheck(t), Access: testAccess(true, false)})
	waitFor(t, 5*time.Second, "first checks", func() bool { _, c1 := healthy(b, "c", "us-west-2a"); return c1 })
	b.Drain("c", a.backend())
	if !b.Status("c")[0].Draining {
		t.Fatal("not draining after Drain")
	}
	waitFor(t, 3*time.Second, "drain expired", func() bool { return !b.Status("c")[0].Draining })
}
