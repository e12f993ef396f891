package main

import (
	"bufio"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/kplane/kplane/bench/internal/load"
	"github.com/kplane/kplane/internal/localnodes"
	"github.com/kplane/kplane/internal/node"
	"github.com/kplane/kplane/internal/nodegroup"
	"github.com/kplane/kplane/internal/supervise"
)

// breakdown is one CreateNodegroup taken apart: when each node reached
// each step of its start, from the CreateNodegroup call. kplane's steps
// come from its log (`serve --log-level debug`: "instance launched" and the
// executor's "node step" lines), the agent's and the kubelet's from each
// node's process log, Ready and ACTIVE from the benchmark's own polls.
type breakdown struct {
	instances []string                            // in launch order
	at        map[string]map[string]time.Duration // instance → step → since the call
	active    time.Duration                       // kplane wrote ACTIVE
}

// Steps in the order a node goes through them.
const (
	stepLaunched   = "instance launched (reconciler)"
	stepRegistered = "kubelet: node registered"
	stepReadyBench = "Node Ready (bench's 100 ms poll)"
)

var stepOrder = []string{
	stepLaunched,
	"credentials minted", "network ready", "certificates issued", "agent started", // executor, in kplane
	"agent in namespaces", "configs written", "containerd started", "containerd ready", "images imported", // agent
	stepRegistered,
	"node registered seen", // executor
	stepReadyBench,
	"node ready seen", // executor
}

// readBreakdown reads the steps of nodegroup ng's nodes from kplane's log
// and the nodes' logs (read before the nodegroup is deleted).
func readBreakdown(serveLog, dataDir, ng, region string, start time.Time, run nodegroupRun) (*breakdown, error) {
	b := &breakdown{at: map[string]map[string]time.Duration{}}
	nameOf := map[string]string{} // node name → instance
	set := func(inst, step string, t time.Time) {
		if b.at[inst] == nil {
			b.at[inst] = map[string]time.Duration{}
		}
		if _, seen := b.at[inst][step]; !seen && !t.Before(start) {
			b.at[inst][step] = t.Sub(start)
		}
	}
	type line struct {
		Time      time.Time `json:"time"`
		Msg       string    `json:"msg"`
		Nodegroup string    `json:"nodegroup"`
		Instance  string    `json:"instance"`
		Step      string    `json:"step"`
		IP        string    `json:"ip"`
	}
	err := load.EachLogLine(serveLog, func(l *line) {
		if l.Nodegroup != ng || l.Time.Before(start) {
			return
		}
		switch l.Msg {
		case "instance launched":
			b.instances = append(b.instances, l.Instance)
			set(l.Instance, stepLaunched, l.Time)
			if ip, err := netip.ParseAddr(l.IP); err == nil {
				nameOf[nodegroup.PrivateDNSName(ip, region)] = l.Instance
			}
		case node.StepMessage:
			set(l.Instance, l.Step, l.Time)
		case "nodegroup active":
			b.active = l.Time.Sub(start)
		}
	})
	if err != nil {
		return nil, err
	}
	for _, inst := range b.instances {
		agentLog := supervise.LogPath(localnodes.NodeDir(dataDir, inst))
		if err := readAgentLog(agentLog, start, func(step string, t time.Time) { set(inst, step, t) }); err != nil {
			return nil, err
		}
		// Kept beside serve.log (-keep): the node's directory goes with the nodegroup.
		if b, err := os.ReadFile(agentLog); err == nil {
			_ = os.WriteFile(filepath.Join(filepath.Dir(serveLog), ng+"-"+inst+".log"), b, 0o600)
		}
	}
	for i, name := range run.Nodes {
		if inst, ok := nameOf[name]; ok {
			b.at[inst][stepReadyBench] = run.Ready[i]
		}
	}
	return b, nil
}

var (
	// The agent's slog lines: ... msg="node step" ... step="containerd ready" at=2026-...Z
	agentStep = regexp.MustCompile(`step=("[^"]*"|\S+) at=(\S+)`)
	// klog: I1207 20:01:53.123456   23019 kubelet_node_status.go:78] "Successfully registered node" ...
	klogRegistered = regexp.MustCompile(`^I(\d{4} \d{2}:\d{2}:\d{2}\.\d{6}) .*"Successfully registered node"`)
)

// readAgentLog calls found for each step in a node agent's log.
func readAgentLog(path string, start time.Time, found func(step string, t time.Time)) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if m := agentStep.FindStringSubmatch(line); m != nil && strings.Contains(line, node.StepMessage) {
			if t, err := time.Parse(time.RFC3339Nano, m[2]); err == nil {
				found(strings.Trim(m[1], `"`), t)
			}
		} else if m := klogRegistered.FindStringSubmatch(line); m != nil {
			if t, err := time.ParseInLocation("2006 0102 15:04:05.000000", fmt.Sprintf("%d %s", start.Year(), m[1]), time.Local); err == nil {
				found(stepRegistered, t)
			}
		}
	}
	return sc.Err()
}

// floorBreakdown is the same for the nodes started by hand (the floor),
// from node.Start: their agents' and kubelets' steps and Ready.
func floorBreakdown(nodes []*handNode, start time.Time, ready []time.Duration) (*breakdown, error) {
	b := &breakdown{at: map[string]map[string]time.Duration{}}
	for i, hn := range nodes {
		id := hn.spec.InstanceID
		b.instances = append(b.instances, id)
		b.at[id] = map[string]time.Duration{"agent started": 0, stepReadyBench: ready[i]}
		err := readAgentLog(filepath.Join(node.Paths{Dir: hn.dir}.LogDir(), "agent.log"), start, func(step string, t time.Time) {
			if _, seen := b.at[id][step]; !seen && !t.Before(start) {
				b.at[id][step] = t.Sub(start)
			}
		})
		if err != nil {
			return nil, err
		}
	}
	return b, nil
}

// table is the breakdown as a markdown table: a row per step, a column per
// node, seconds since the CreateNodegroup call (node.Start for the floor:
// run is nil).
func (b *breakdown) table(run *nodegroupRun) string {
	var s strings.Builder
	if run == nil {
		s.WriteString("| step (s since node.Start) |")
	} else {
		s.WriteString("| step (s since CreateNodegroup) |")
	}
	for _, inst := range b.instances {
		s.WriteString(" " + inst + " |")
	}
	s.WriteString("\n|---|" + strings.Repeat("---:|", len(b.instances)) + "\n")
	for _, step := range stepOrder {
		fmt.Fprintf(&s, "| %s |", step)
		for _, inst := range b.instances {
			if d, ok := b.at[inst][step]; ok {
				fmt.Fprintf(&s, " %.3f |", d.Seconds())
			} else {
				s.WriteString(" - |")
			}
		}
		s.WriteString("\n")
	}
	if run == nil {
		return s.String()
	}
	fmt.Fprintf(&s, "| ACTIVE written (kplane) | %.3f |%s\n", b.active.Seconds(), strings.Repeat(" |", len(b.instances)-1))
	fmt.Fprintf(&s, "| ACTIVE seen (bench's 100 ms poll) | %.3f |%s\n", run.Active.Seconds(), strings.Repeat(" |", len(b.instances)-1))
	return s.String()
}
