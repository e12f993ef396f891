package load

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
)

// Facts of the machine every benchmark prints beside its figures.

// LoadAvg is /proc/loadavg's three load averages.
func LoadAvg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// CPUModel is the first "model name" of /proc/cpuinfo.
func CPUModel() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

// KernelRelease is the running kernel's release.
func KernelRelease() string {
	b, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	return strings.TrimSpace(string(b))
}

// KeyKB reads a "Key:   123 kB" line of a /proc file such as
// /proc/meminfo or /proc/PID/status (0 if absent).
func KeyKB(path, key string) int64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, key+":"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return 0
}

// ProcStatusKB reads a "Key:   123 kB" line of /proc/PID/status.
func ProcStatusKB(pid int, key string) int64 {
	return KeyKB(fmt.Sprintf("/proc/%d/status", pid), key)
}

// GitCommit names the kplane tree being benchmarked: the short HEAD, and
// whether files outside bench/ and docs/ differ from it.
func GitCommit() string {
	out, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return "unknown"
	}
	c := strings.TrimSpace(string(out))
	if st, err := exec.Command("git", "status", "--porcelain", "--", ".", ":!bench", ":!docs").Output(); err == nil && len(st) > 0 {
		c += " + uncommitted changes"
	}
	return c
}
