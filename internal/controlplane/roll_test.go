package controlplane

import (
	"testing"
	"time"

	"github.com/kplane/kplane/internal/supervise"
)

// A replica is restarted for a change only when it serves a spec from
// before it, and not while another replica's process is still starting
// (the endpoint would have none to send to).
func TestRollWaitsForAStartingReplica(t *testing.T) {
	changed := time.Now()
	old := supervise.State{Phase: supervise.PhaseRunning, PID: 10, Ready: true, StartedAt: changed.Add(-time.Minute)}
	current := supervise.State{Phase: supervise.PhaseRunning, PID: 11, Ready: true, StartedAt: changed.Add(time.Second)}
	starting := supervise.State{Phase: supervise.PhaseStarting, PID: 12, StartedAt: changed.Add(-time.Second)}
	backoff := supervise.State{Phase: supervise.PhaseBackOff}

	if !restartDue(old, changed) {
		t.Error("a ready replica started before the change: restart not due")
	}
	if restartDue(current, changed) || restartDue(starting, changed) {
		t.Error("restart due for a replica started after the change, or not ready")
	}
	if restartDue(old, time.Time{}) {
		t.Error("restart due on first sight (no change in this run)")
	}
	for _, c := range []struct {
		other supervise.State
		wait  bool
	}{
		{starting, true},
		{old, false},
		{current, false},
		{backoff, false}, // a crashing replica is not waited for
		{supervise.State{Phase: supervise.PhaseStopped}, false},
	} {
		states := map[string]supervise.State{"us-west-2a": old, "us-west-2b": c.other}
		if got := anotherStarting(states, "us-west-2a"); got != c.wait {
			t.Errorf("other replica %+v: anotherStarting = %v, want %v", c.other, got, c.wait)
		}
	}
	if anotherStarting(map[string]supervise.State{"us-west-2a": starting}, "us-west-2a") {
		t.Error("a replica waits for itself")
	}
}
