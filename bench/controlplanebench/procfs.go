package main

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/kplane/kplane/bench/internal/load"
	"github.com/kplane/kplane/internal/supervise"
)

// smapsRollupKB reads a key of /proc/PID/smaps_rollup (false if unreadable).
func smapsRollupKB(pid int, key string) (int64, bool) {
	path := fmt.Sprintf("/proc/%d/smaps_rollup", pid)
	if _, err := os.Stat(path); err != nil {
		return 0, false
	}
	v := keyKB(path, key)
	return v, v > 0
}

func memAvailableKB() int64 { return keyKB("/proc/meminfo", "MemAvailable") }

// procTimes returns ppid and the CPU time (seconds) of pid and of the
// children it has reaped.
func procTimes(pid int) (ppid int, cpu float64, ok bool) {
	st, ok := supervise.ReadStat(pid)
	return st.PPID, (st.CPU + st.ReapedCPU).Seconds(), ok
}

// oursCPU is the CPU time (s) of this process and all its descendants, live
// ones and those reaped (in their parents' cumulative times).
func oursCPU() float64 {
	ents, _ := os.ReadDir("/proc")
	parent := map[int]int{}
	cpu := map[int]float64{}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if pp, c, ok := procTimes(pid); ok {
			parent[pid], cpu[pid] = pp, c
		}
	}
	self := os.Getpid()
	var sum float64
	for pid, c := range cpu {
		for p, hops := pid, 0; p > 1 && hops < 64; p, hops = parent[p], hops+1 {
			if p == self {
				sum += c
				break
			}
		}
	}
	return sum
}

// phaseCPU splits a phase's CPU between us (this process tree: the benchmark,
// etcd for the floor, kplane serve and its control planes) and everything
// else on the machine (other people's work on a shared machine).
type phaseCPU struct {
	wall          time.Duration
	ours, machine float64 // CPU seconds
	loadStart     string
	loadEnd       string
}

func (p phaseCPU) otherCores() float64 {
	if p.wall <= 0 {
		return 0
	}
	return max(p.machine-p.ours, 0) / p.wall.Seconds()
}

func (p phaseCPU) oursCores() float64 {
	if p.wall <= 0 {
		return 0
	}
	return p.ours / p.wall.Seconds()
}

func startPhase() func() phaseCPU {
	t, o := time.Now(), oursCPU()
	m, _ := load.MachineCPU()
	l := loadAvg()
	return func() phaseCPU {
		m2, _ := load.MachineCPU()
		return phaseCPU{wall: time.Since(t), ours: oursCPU() - o, machine: m2 - m, loadStart: l, loadEnd: loadAvg()}
	}
}

// facts describe the machine and what was measured.
type facts struct {
	date, cpu, kernel, goBench string
	nproc                      int
	memTotalKB                 int64
	goBinary, k8s              string
	tree                       string
}

func machineFacts() facts {
	f := facts{
		date:       time.Now().Format("2006-01-02 15:04 MST"),
		nproc:      runtime.NumCPU(),
		cpu:        cpuModel(),
		memTotalKB: keyKB("/proc/meminfo", "MemTotal"),
		goBench:    runtime.Version(),
	}
	b, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	f.kernel = strings.TrimSpace(string(b))
	if out, err := exec.Command("nproc").Output(); err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(out))); err == nil {
			f.nproc = n
		}
	}
	if out, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output(); err == nil {
		f.tree = strings.TrimSpace(string(out))
		if st, err := exec.Command("git", "status", "--porcelain").Output(); err == nil {
			if t := strings.TrimSpace(string(st)); t != "" {
				f.tree += fmt.Sprintf(" + uncommitted changes (%d paths)", len(strings.Split(t, "\n")))
			}
		}
	}
	return f
}

// binary records the Go and Kubernetes versions built into the kplane binary.
func (f *facts) binary(bin string) {
	out, err := exec.Command("go", "version", "-m", bin).Output()
	if err != nil {
		f.k8s = "unknown (go version -m: " + err.Error() + ")"
		return
	}
	lines := strings.Split(string(out), "\n")
	if len(lines) > 0 {
		if _, v, ok := strings.Cut(lines[0], ": "); ok {
			f.goBinary = strings.TrimSpace(v)
		}
	}
	for _, l := range lines {
		fl := strings.Fields(l)
		if len(fl) >= 3 && fl[0] == "dep" && fl[1] == "k8s.io/kubernetes" {
			f.k8s = fl[2]
		}
	}
}

func mib(kb int64) string { return fmt.Sprintf("%.0f MiB", float64(kb)/1024) }

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/1e6) }

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}

// Machine facts, shared by the benchmarks (bench/internal/load).
var (
	loadAvg      = load.LoadAvg
	procStatusKB = load.ProcStatusKB
	keyKB        = load.KeyKB
	cpuModel     = load.CPUModel
)
