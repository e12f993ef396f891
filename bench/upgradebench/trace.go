package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"
)

// event is one step of a rolling update: when, which replica, what.
type event struct {
	at      time.Duration // since the UpdateClusterVersion call
	replica string        // its zone, or "" for the cluster
	step    string
}

// The lines of kplane's log (JSON) that are steps of a roll. The replica is
// the zone at the end of the process key "control plane ID/ZONE: ...".
var (
	supervisorStep = regexp.MustCompile(`^control plane [^/ ]+/(\S+): (stopping pid \d+|pid \d+ exited|started pid \d+|pid \d+ ready)`)
	// Each replica's process.log: `kplane: stop step="..." at=RFC3339`.
	childStep = regexp.MustCompile(`^kplane: stop step="([^"]*)" at=(\S+)`)
	pidNumber = regexp.MustCompile(` ?pid \d+ ?`)
)

// readTrace collects the steps of the roll that began at start from kplane's
// log and the replicas' process logs (read before the cluster is deleted):
// the supervisor's stop, exit, start and ready of each process; the
// balancer's health changes; each stopping replica's own component stops;
// the update's end.
func readTrace(serveLog, dataDir string, start time.Time) ([]event, error) {
	var evs []event
	add := func(t time.Time, replica, step string) {
		if !t.Before(start) {
			evs = append(evs, event{t.Sub(start), replica, step})
		}
	}
	f, err := os.Open(serveLog)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var l struct {
			Time    time.Time `json:"time"`
			Msg     string    `json:"msg"`
			Backend string    `json:"backend"`
			Status  string    `json:"status"`
		}
		if json.Unmarshal(sc.Bytes(), &l) != nil {
			continue
		}
		switch {
		case supervisorStep.MatchString(l.Msg):
			m := supervisorStep.FindStringSubmatch(l.Msg)
			add(l.Time, m[1], "kplane: "+pidNumber.ReplaceAllString(m[2], ""))
		case strings.HasPrefix(l.Msg, "backend draining"):
			add(l.Time, l.Backend, "balancer: drained (no new connections)")
		case strings.HasPrefix(l.Msg, "backend unhealthy"):
			add(l.Time, l.Backend, "balancer: out (/readyz failed)")
		case l.Msg == "backend healthy":
			add(l.Time, l.Backend, "balancer: in (/readyz passed)")
		case l.Msg == "no backend reachable, closing client connection":
			add(l.Time, "", "balancer: no backend reachable for a new connection")
		case l.Msg == "update finished":
			add(l.Time, "", "Update "+l.Status+" written")
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	logs, _ := filepath.Glob(filepath.Join(dataDir, "clusters", "*", "replicas", "*", "logs", "process.log"))
	for _, p := range logs {
		zone := filepath.Base(filepath.Dir(filepath.Dir(p)))
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		for _, line := range strings.Split(string(b), "\n") {
			m := childStep.FindStringSubmatch(line)
			if m == nil {
				continue
			}
			if t, err := time.Parse(time.RFC3339Nano, m[2]); err == nil {
				add(t, zone, "old process: "+m[1])
			}
		}
	}
	slices.SortStableFunc(evs, func(a, b event) int { return int(a.at - b.at) })
	return evs, nil
}

// traceTable is the roll as a markdown table, in time order.
func traceTable(evs []event) string {
	var s strings.Builder
	s.WriteString("| s since UpdateClusterVersion | replica | step |\n|---:|---|---|\n")
	for _, e := range evs {
		r := e.replica
		if r == "" {
			r = "cluster"
		}
		fmt.Fprintf(&s, "| %.3f | %s | %s |\n", e.at.Seconds(), r, e.step)
	}
	return s.String()
}

// replicasReady waits until kplane's log shows n replicas' processes ready
// since start: the create's ACTIVE needs only the first, and a cluster whose
// second replica is still starting is not yet the two-replica cluster an
// upgrade is timed on.
func replicasReady(ctx context.Context, serveLog string, start time.Time, n int) error {
	for deadline := time.Now().Add(time.Minute); ; {
		b, err := os.ReadFile(serveLog)
		if err != nil {
			return err
		}
		ready := map[string]bool{}
		for _, line := range strings.Split(string(b), "\n") {
			var l struct {
				Time time.Time `json:"time"`
				Msg  string    `json:"msg"`
			}
			if json.Unmarshal([]byte(line), &l) != nil || l.Time.Before(start) {
				continue
			}
			if m := supervisorStep.FindStringSubmatch(l.Msg); m != nil && strings.HasSuffix(m[2], " ready") {
				ready[m[1]] = true
			}
		}
		if len(ready) >= n {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d replicas ready after a minute", len(ready), n)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}
