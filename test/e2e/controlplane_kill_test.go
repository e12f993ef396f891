//go:build e2e

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/eks"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// observation is one timestamped look at something while the control plane
// is down and coming back.
type observation struct {
	at     time.Duration // since the kill
	ok     bool          // API: answered 200; health: no issues
	detail string
}

type timeline struct {
	mu  sync.Mutex
	obs []observation
}

func (tl *timeline) add(o observation) {
	tl.mu.Lock()
	tl.obs = append(tl.obs, o)
	tl.mu.Unlock()
}

func (tl *timeline) snapshot() []observation {
	tl.mu.Lock()
	defer tl.mu.Unlock()
	return append([]observation(nil), tl.obs...)
}

// firstNotOK is the first observation that was not ok, and whether there is one.
func firstNotOK(obs []observation) (observation, bool) {
	for _, o := range obs {
		if !o.ok {
			return o, true
		}
	}
	return observation{}, false
}

// firstOKAfter is the first ok observation after d.
func firstOKAfter(obs []observation, d time.Duration) (observation, bool) {
	for _, o := range obs {
		if o.ok && o.at > d {
			return o, true
		}
	}
	return observation{}, false
}

// TestControlPlaneProcessKilled kills a cluster's control-plane process with
// SIGKILL and watches, side by side, the cluster's API (HTTPS every 100 ms),
// describe-cluster (Go SDK every 200 ms) and the cluster record in etcd (a
// watch, so no written health state can be missed): the gap must show as a
// health issue, or the API must never have stopped answering; then kplane
// must bring the control plane back by itself and clear the issue.
//
// With one replica the endpoint has nowhere else to send, so this is the
// test of the gap; TestReplicaKilled is the one with two.
func TestControlPlaneProcessKilled(t *testing.T) {
	k := startKplaneWith(t, "--control-plane-replicas", "1")
	const name = "victim"
	c := k.createActive(name)
	kc := k.kubeconfig(name)
	k.mustKubectl(kc, "get", "ns")

	oldPID := k.controlPlanePID(c.ID)
	cdir := k.clusterDir(c.ID)
	if oldPID == 0 {
		t.Fatalf("no pid in %s/pid", cdir)
	}
	if procs := processesMatching("--dir " + cdir); procs[oldPID] == "" || !strings.Contains(procs[oldPID], "controlplane-run") {
		t.Fatalf("pid %d from %s/pid is not the cluster's controlplane-run process: %v", oldPID, cdir, procs)
	}

	creds := k.readKubeconfig(kc)
	api := httpsClient(t, creds.CAPEM, creds.CertPEM, creds.KeyPEM, time.Second)
	sdk := k.sdk()
	cli := k.etcd()

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var apiTL, healthTL, etcdTL timeline
	var wg sync.WaitGroup
	var killedAt time.Time
	ready := make(chan struct{}) // closed once killedAt is set
	since := func() time.Duration { return time.Since(killedAt) }

	// The cluster record as written: every health change, from an etcd watch.
	watch := cli.Watch(ctx, "/kplane/clusters/"+name)
	wg.Go(func() {
		<-ready
		for resp := range watch {
			for _, ev := range resp.Events {
				var rec struct {
					Cluster cluster `json:"cluster"`
				}
				if ev.Type != clientv3.EventTypePut || json.Unmarshal(ev.Kv.Value, &rec) != nil {
					continue
				}
				etcdTL.add(observation{at: since(), ok: len(rec.Cluster.Health.Issues) == 0,
					detail: fmt.Sprintf("%s %+v", rec.Cluster.Status, rec.Cluster.Health.Issues)})
			}
		}
	})
	// The cluster's API, as a client sees it.
	wg.Go(func() {
		<-ready
		for ctx.Err() == nil {
			at := since()
			resp, err := api.Get(creds.Server + "/api/v1/namespaces?limit=1")
			o := observation{at: at}
			if err != nil {
				o.detail = err.Error()
			} else {
				resp.Body.Close()
				o.ok, o.detail = resp.StatusCode == http.StatusOK, resp.Status
			}
			apiTL.add(o)
			sleepCtx(ctx, 100*time.Millisecond)
		}
	})
	// describe-cluster.
	wg.Go(func() {
		<-ready
		for ctx.Err() == nil {
			at := since()
			rctx, rcancel := context.WithTimeout(ctx, 5*time.Second)
			out, err := sdk.DescribeCluster(rctx, &eks.DescribeClusterInput{Name: aws.String(name)})
			rcancel()
			o := observation{at: at}
			switch {
			case err != nil:
				o.ok, o.detail = true, "error: "+err.Error() // not a health issue
			case out.Cluster.Health == nil:
				o.ok, o.detail = true, string(out.Cluster.Status)+" (no health)"
			default:
				var is []string
				for _, i := range out.Cluster.Health.Issues {
					is = append(is, fmt.Sprintf("%s: %s", i.Code, aws.ToString(i.Message)))
				}
				o.ok = len(is) == 0
				o.detail = fmt.Sprintf("%s %v", out.Cluster.Status, is)
			}
			if err == nil || ctx.Err() == nil {
				healthTL.add(o)
			}
			sleepCtx(ctx, 200*time.Millisecond)
		}
	})

	if err := syscall.Kill(oldPID, syscall.SIGKILL); err != nil {
		t.Fatalf("kill -9 %d: %v", oldPID, err)
	}
	killedAt = time.Now()
	close(ready)
	t.Logf("kill -9 control-plane pid %d", oldPID)

	// Watch until the control plane is back and describe is clean again; if
	// describe has not shown an issue by then, go on until 20 s after the kill
	// so that a late one is seen too.
	var newPID int
	deadline := killedAt.Add(2 * time.Minute)
	for {
		time.Sleep(200 * time.Millisecond)
		if p := k.controlPlanePID(c.ID); p != 0 && p != oldPID && !isZombie(p) {
			newPID = p
		}
		apiObs, healthObs := apiTL.snapshot(), healthTL.snapshot()
		down, wasDown := firstNotOK(apiObs)
		var back bool
		if wasDown {
			_, back = firstOKAfter(apiObs, down.at)
		} else {
			back = len(apiObs) > 0
		}
		clean := len(healthObs) > 0 && healthObs[len(healthObs)-1].ok
		_, sawIssue := firstNotOK(healthObs)
		if newPID != 0 && back && clean && (sawIssue || since() > 20*time.Second) {
			break
		}
		if time.Now().After(deadline) {
			cancel()
			wg.Wait()
			logTimeline(t, "API", apiTL.snapshot())
			logTimeline(t, "describe-cluster", healthTL.snapshot())
			logTimeline(t, "etcd record", etcdTL.snapshot())
			t.Fatalf("not recovered within 2m of the kill: new pid %d, API back %v, describe clean %v", newPID, back, clean)
		}
	}
	cancel()
	wg.Wait()
	apiObs, healthObs, etcdObs := apiTL.snapshot(), healthTL.snapshot(), etcdTL.snapshot()

	// What the API saw: the gap.
	down, wasDown := firstNotOK(apiObs)
	var gap time.Duration
	if wasDown {
		up, _ := firstOKAfter(apiObs, down.at)
		gap = up.at
		t.Logf("API: first failure %v after the kill (%s), answering again %v after the kill", down.at.Round(time.Millisecond), down.detail, up.at.Round(time.Millisecond))
	} else {
		t.Logf("API: answered every probe (%d) after the kill: no gap seen", len(apiObs))
	}

	// What describe-cluster showed, and what was written.
	issue, sawIssue := firstNotOK(healthObs)
	written, wroteIssue := firstNotOK(etcdObs)
	if wroteIssue {
		t.Logf("etcd: a health issue was written %v after the kill: %s", written.at.Round(time.Millisecond), written.detail)
	} else {
		t.Logf("etcd: no health issue was ever written (%d writes of the record after the kill)", len(etcdObs))
	}
	switch {
	case sawIssue && issue.at <= 20*time.Second:
		cleared, _ := firstOKAfter(healthObs, issue.at)
		t.Logf("RESULT: describe-cluster showed the gap: issue %v after the kill (%s), cleared %v after the kill",
			issue.at.Round(time.Millisecond), issue.detail, cleared.at.Round(time.Millisecond))
	case sawIssue:
		t.Errorf("describe-cluster showed a health issue only %v after the kill (want within 20 s): %s", issue.at.Round(time.Millisecond), issue.detail)
	case !wasDown:
		t.Logf("RESULT: the control plane came back so fast that the API never stopped answering; no health issue shown")
	default:
		logTimeline(t, "API", apiObs)
		logTimeline(t, "describe-cluster", healthObs)
		logTimeline(t, "etcd record", etcdObs)
		t.Errorf("RESULT: health missed the gap: the cluster's API did not answer for %v after kill -9 of its control plane, "+
			"but describe-cluster never showed a health issue (%d looks, every one ACTIVE without issues; issue written to etcd: %v)",
			gap.Round(time.Millisecond), len(healthObs), wroteIssue)
	}

	// It came back by itself.
	if newPID == 0 {
		t.Fatalf("no new control-plane pid in %s/pid", cdir)
	}
	if procs := processesMatching("--dir " + cdir); len(procs) != 1 || !strings.Contains(procs[newPID], "controlplane-run") {
		t.Errorf("want exactly the new control-plane process %d for the cluster, got %v", newPID, procs)
	}
	if !isZombie(oldPID) && strings.Contains(processesMatching("--dir " + cdir)[oldPID], "controlplane-run") {
		t.Errorf("the killed process %d is still there", oldPID)
	}
	t.Logf("control-plane pid %d -> %d", oldPID, newPID)
	if out, err := k.kubectl(kc, "get", "ns", "-o", "name"); err != nil || !strings.Contains(out, "namespace/default") {
		t.Errorf("kubectl get ns after the restart: %v: %q", err, out)
	}
	final := k.mustDescribe(name)
	if final.Status != "ACTIVE" || len(final.Health.Issues) != 0 {
		t.Errorf("after recovery: status %s, issues %+v; want ACTIVE without issues", final.Status, final.Health.Issues)
	}
}

func sleepCtx(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// logTimeline logs the observations whose state changed.
func logTimeline(t *testing.T, what string, obs []observation) {
	t.Helper()
	var b strings.Builder
	prev := ""
	for i, o := range obs {
		state := fmt.Sprintf("ok=%v %s", o.ok, o.detail)
		if state != prev || i == len(obs)-1 {
			fmt.Fprintf(&b, "  +%v %s\n", o.at.Round(time.Millisecond), state)
		}
		prev = state
	}
	t.Logf("%s timeline (%d observations, changes only):\n%s", what, len(obs), b.String())
}
