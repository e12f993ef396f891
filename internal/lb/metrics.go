package lb

import "github.com/prometheus/client_golang/prometheus"

var (
	connsDesc = prometheus.NewDesc("kplane_lb_connections_total",
		"Client connections to a cluster endpoint by result: accepted (joined to a backend), refused (endpoint access), failed (no backend could be dialed).",
		[]string{"listener", "result"}, nil)
	dialFailDesc = prometheus.NewDesc("kplane_lb_backend_dial_failures_total",
		"Dials to a backend that failed (the connection then tried the next backend).",
		[]string{"listener", "backend"}, nil)
	healthyDesc = prometheus.NewDesc("kplane_lb_backend_healthy",
		"1 while a backend receives new connections (its health checks pass, or it has not been checked yet), else 0.",
		[]string{"listener", "backend"}, nil)
	activeDesc = prometheus.NewDesc("kplane_lb_backend_connections",
		"Open client connections to a backend.",
		[]string{"listener", "backend"}, nil)
)

// Collector exposes the balancer's counters and backend health, read at
// scrape time (a removed listener's series disappear with it), for kplane's
// Prometheus registry.
func (b *Balancer) Collector() prometheus.Collector { return collector{b} }

type collector struct{ b *Balancer }

func (collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- connsDesc
	ch <- dialFailDesc
	ch <- healthyDesc
	ch <- activeDesc
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	var ms []prometheus.Metric
	for _, l := range c.b.listeners() {
		// Build under the lock, send after it: the registry reads the
		// channel at its own pace and connections must not wait for it.
		l.mu.Lock()
		for result, n := range map[string]uint64{"accepted": l.accepted, "refused": l.refused, "failed": l.failed} {
			ms = append(ms, prometheus.MustNewConstMetric(connsDesc, prometheus.CounterValue, float64(n), l.name, result))
		}
		for _, be := range l.backends {
			healthy := 0.0
			if be.healthy {
				healthy = 1
			}
			ms = append(ms,
				prometheus.MustNewConstMetric(dialFailDesc, prometheus.CounterValue, float64(be.dialFailures), l.name, be.Name),
				prometheus.MustNewConstMetric(healthyDesc, prometheus.GaugeValue, healthy, l.name, be.Name),
				prometheus.MustNewConstMetric(activeDesc, prometheus.GaugeValue, float64(be.active), l.name, be.Name))
		}
		l.mu.Unlock()
	}
	for _, m := range ms {
		ch <- m
	}
}
