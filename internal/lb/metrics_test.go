package lb

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// gather scrapes the balancer's collector as kplane's registry would, and
// returns every sample keyed by metric name and label values.
func gather(t testing.TB, b *Balancer) map[string]float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(b.Collector())
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			key := mf.GetName()
			for _, lp := range m.GetLabel() {
				key += " " + lp.GetName() + "=" + lp.GetValue()
			}
			switch {
			case m.Counter != nil:
				out[key] = m.Counter.GetValue()
			case m.Gauge != nil:
				out[key] = m.Gauge.GetValue()
			}
		}
	}
	return out
}

// counts is kplane_lb_connections_total of one listener by result.
func counts(t testing.TB, b *Balancer, listener string) map[string]float64 {
	g := gather(t, b)
	out := map[string]float64{}
	for _, r := range []string{"accepted", "refused", "failed"} {
		out[r] = g["kplane_lb_connections_total listener="+listener+" result="+r]
	}
	return out
}

func TestCollector(t *testing.T) {
	a, dead := startBackend(t, "us-west-2a"), startBackend(t, "us-west-2b")
	dead.kill()
	b := newTestBalancer(t, Config{})
	addr := ensure(t, b, "c", Listener{Backends: []Backend{a.backend(), dead.backend()}, Check: readyzCheck(t), Access: testAccess(true, false)})
	waitFor(t, 5*time.Second, "dead backend out", func() bool { ok, checked := healthy(b, "c", "us-west-2b"); return checked && !ok })
	get(clientFrom(t, srcPublic), addr)
	get(clientFrom(t, srcPrivate), addr)
	pc := openConn(t, srcPublic, addr)
	pc.get()
	// The finished connections' teardown (closing the backend side) runs
	// after the client has its answer: wait for it.
	const open = "kplane_lb_backend_connections backend=us-west-2a listener=c"
	waitFor(t, 5*time.Second, "closed connections counted out", func() bool { return gather(t, b)[open] == 1 })

	g := gather(t, b)
	want := map[string]float64{
		"kplane_lb_connections_total listener=c result=accepted":              2,
		"kplane_lb_connections_total listener=c result=refused":               1,
		"kplane_lb_connections_total listener=c result=failed":                0,
		"kplane_lb_backend_healthy backend=us-west-2a listener=c":             1,
		"kplane_lb_backend_healthy backend=us-west-2b listener=c":             0,
		"kplane_lb_backend_connections backend=us-west-2a listener=c":         1,
		"kplane_lb_backend_connections backend=us-west-2b listener=c":         0,
		"kplane_lb_backend_dial_failures_total backend=us-west-2b listener=c": 0, // health kept it out of the way
	}
	for k, v := range want {
		if got, ok := g[k]; !ok || got != v {
			t.Errorf("%s = %v (present %v), want %v", k, got, ok, v)
		}
	}
	b.Remove("c")
	if g := gather(t, b); len(g) != 0 {
		t.Errorf("series left after Remove: %v", g)
	}
}
