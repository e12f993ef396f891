package node

import (
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"
)

// Memory is what a node holds in memory: every process in its cgroups
// (the agent with kubelet and kube-proxy, containerd, shims, pods). RSS
// counts pages shared with other processes (the kplane binary's text in
// every node's agent) in full; PSS divides them among their users.
type Memory struct {
	RSSKiB, PSSKiB int64
	RSSByName      map[string]int64 // KiB by process name
}

// MemoryOf reads the memory of the running node at dir.
func MemoryOf(dir string) (Memory, error) {
	st := readCgroupState(Paths{Dir: dir})
	if st.Root == "" {
		return Memory{}, fmt.Errorf("node %s: no cgroup root recorded", dir)
	}
	m := Memory{RSSByName: map[string]int64{}}
	for pid := range cgroupPIDs(st.Root) {
		status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil {
			continue // gone meanwhile
		}
		name := procField(status, "Name")
		rss, _ := strconv.ParseInt(strings.TrimSuffix(procField(status, "VmRSS"), " kB"), 10, 64)
		m.RSSKiB += rss
		m.RSSByName[name] += rss
		if rollup, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid)); err == nil {
			pss, _ := strconv.ParseInt(strings.TrimSuffix(procField(rollup, "Pss"), " kB"), 10, 64)
			m.PSSKiB += pss
		}
	}
	if len(m.RSSByName) == 0 {
		return m, fmt.Errorf("node %s: no process in its cgroups", dir)
	}
	return m, nil
}

// procField is the value of a "Key:   value" line of a /proc file.
func procField(b []byte, key string) string {
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, key+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

func (m Memory) String() string {
	var parts []string
	for n, kib := range m.RSSByName {
		parts = append(parts, fmt.Sprintf("%s %d", n, kib/1024))
	}
	sort.Strings(parts)
	return fmt.Sprintf("RSS %d MiB (%s), PSS %d MiB", m.RSSKiB/1024, strings.Join(parts, ", "), m.PSSKiB/1024)
}
