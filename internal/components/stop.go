package components

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"syscall"
	"time"

	"k8s.io/klog/v2"

	"github.com/kplane/kplane/internal/controlplane"
)

// How a control-plane process stops: its components in order, and when
// kube-apiserver is done enough for the process to end.

// stopAll stops the components, each bounded by ShutdownTimeout:
// controller-manager (its lease released through the apiserver), then
// kube-apiserver's graceful shutdown (the requests in flight on its
// connections finish), then kube-scheduler. The scheduler goes last because,
// when it leads, it calls os.Exit(0) itself on a requested stop: before the
// apiserver, that cut the clients' requests in flight through the cluster's
// balancer during a rolling update. With the apiserver gone it can neither
// release its lease nor do anything else, so it is not waited for; another
// replica's scheduler takes over when the lease expires.
//
// The apiserver counts as stopped once it has closed its listener
// (apiServerAddr; see untilStoppedListening), not only when it returns.
func stopAll(comps []*component, apiServerAddr string) {
	stopping.Store(true)
	order := []string{ControllerManager, APIServer, Scheduler}
	for _, name := range order {
		for _, c := range comps {
			if c.name != name {
				continue
			}
			c.cancel()
			if name == Scheduler {
				continue
			}
			var drained <-chan struct{}
			if name == APIServer && apiServerAddr != "" {
				drained = untilStoppedListening(apiServerAddr, c.done)
			}
			select {
			case <-c.done:
				stopStep(c.name + " stopped")
			case <-drained:
				stopStep(c.name + " stopped listening, requests drained")
			case <-time.After(ShutdownTimeout):
				klog.InfoS("kplane: component did not stop in time", "component", c.name, "timeout", ShutdownTimeout)
				stopStep(c.name + " did not stop in time")
			}
		}
	}
}

// AfterListenerClosed is how long a stopping kube-apiserver still runs once
// it closed its listener: time for the GOAWAY it sent its HTTP/2 clients to
// reach them, so a request they send meanwhile is refused (and retried
// elsewhere), not cut.
var AfterListenerClosed = 200 * time.Millisecond

// untilStoppedListening is closed AfterListenerClosed after addr refuses
// connections (or when done is). With --shutdown-send-retry-after,
// kube-apiserver closes its listener only once its requests in flight
// have drained (watches, with --shutdown-watch-termination-grace-period,
// too). What it waits for after that serves no client: HTTP/2 clients
// hanging up after its GOAWAY (Go's server waits up to 1 s for them) and
// long-running streams, bounded by a hard-coded 2 s. A replica's stop costs
// those 1-2 s twice in a two-replica roll (bench/upgradebench), so the
// process ends here instead; the cut streams (watches) resume on another
// replica as after any apiserver restart.
func untilStoppedListening(addr string, done <-chan struct{}) <-chan struct{} {
	out := make(chan struct{})
	go func() {
		defer close(out)
		for {
			c, err := net.DialTimeout("tcp", addr, time.Second)
			if err == nil {
				c.Close()
			} else if errors.Is(err, syscall.ECONNREFUSED) {
				break
			}
			select {
			case <-done:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
		select {
		case <-done:
		case <-time.After(AfterListenerClosed):
		}
	}()
	return out
}

// stopStep writes when a step of a requested stop ended to process.log
// (stderr, whatever log types are on): bench/upgradebench reads these lines
// into its per-step table of a rolling update.
func stopStep(step string) {
	fmt.Fprintf(os.Stderr, "kplane: stop step=%q at=%s\n", step, time.Now().UTC().Format(time.RFC3339Nano))
}

// apiServerAddr is the host:port kube-apiserver serves on (its /readyz URL's).
func apiServerAddr(spec controlplane.ProcessSpec) string {
	u, err := url.Parse(spec.ReadyzURL)
	if err != nil {
		return ""
	}
	return u.Host
}
