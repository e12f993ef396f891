package node

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/kplane/kplane/internal/fileutil"
)

// CgroupMount is where the host mounts its cgroup hierarchies.
var CgroupMount = "/sys/fs/cgroup"

// cgroupState is DIR/cgroups.json: the node's cgroup root and the
// directories kplane made for it (parents included), so teardown removes
// exactly those, also after a crash.
type cgroupState struct {
	Root    string   `json:"root"`
	Created []string `json:"created"` // absolute directories, parents first
}

// cgroupV1Hierarchies lists the mounted cgroup v1 hierarchies (their
// directories under CgroupMount). An empty list means a cgroup v2 host.
//
// cgroup v2 hosts (not testable on this machine): the node's root is one
// directory in the unified tree, <own cgroup>/kplane/<name>, with the
// controllers enabled in each parent's cgroup.subtree_control; the agent
// moves itself into <root>/agent (no process may sit in an inner node), and
// the kubelet gets cgroupRoot=<root>. Nothing else changes.
func cgroupV1Hierarchies() ([]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		i := indexOf(fields, "-")
		if i < 0 || i+1 >= len(fields) || len(fields) < 5 {
			continue
		}
		if fields[i+1] == "cgroup" && strings.HasPrefix(fields[4], CgroupMount+"/") && fields[3] == "/" {
			out = append(out, fields[4])
		}
	}
	sort.Strings(out)
	return out, sc.Err()
}

func indexOf(s []string, v string) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}

// allHierarchies is every mounted cgroup hierarchy: the v1 ones and, on a
// hybrid host, the cgroup2 one (/sys/fs/cgroup/unified), where runc makes
// the containers' cgroups under the same path too.
func allHierarchies() []string {
	hier, _ := cgroupV1Hierarchies()
	b, _ := os.ReadFile("/proc/self/mountinfo")
	for _, line := range strings.Split(string(b), "\n") {
		fields := strings.Fields(line)
		i := indexOf(fields, "-")
		if i < 0 || i+1 >= len(fields) || len(fields) < 5 {
			continue
		}
		if fields[i+1] == "cgroup2" && strings.HasPrefix(fields[4], CgroupMount) && fields[3] == "/" {
			hier = append(hier, fields[4])
		}
	}
	return hier
}

// ownCgroups maps each v1 hierarchy's directory name (cpu, memory, systemd
// for name=systemd, ...) to this process's cgroup in it.
func ownCgroups() map[string]string {
	own := map[string]string{}
	b, _ := os.ReadFile("/proc/self/cgroup")
	for _, line := range strings.Split(string(b), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) == 3 && parts[1] != "" {
			own[strings.TrimPrefix(parts[1], "name=")] = parts[2]
		}
	}
	return own
}

// ownCgroup is this process's path in the memory hierarchy ("/" if none).
func ownCgroup() string {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return "/"
	}
	for _, line := range strings.Split(string(b), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) == 3 && strings.Contains(","+parts[1]+",", ",memory,") {
			return parts[2]
		}
	}
	return "/"
}

// DefaultCgroupRoot is the node's cgroup root when its spec names none.
func DefaultCgroupRoot(name string) string {
	return filepath.Join(ownCgroup(), "kplane", name)
}

// setupCgroups makes root (and its agent child) in every v1 hierarchy,
// copying cpuset.cpus/mems from each parent (a new cpuset is empty and takes
// no task), and records what it made in DIR/cgroups.json.
func setupCgroups(p Paths, root string) error {
	hier, err := cgroupV1Hierarchies()
	if err != nil {
		return err
	}
	if len(hier) == 0 {
		return errors.New("no cgroup v1 hierarchy mounted: cgroup v2 hosts are not supported yet (see cgroupV1Hierarchies)")
	}
	st := readCgroupState(p)
	st.Root = root
	save := func() error {
		b, _ := json.MarshalIndent(st, "", "  ")
		return fileutil.WriteFile(p.CgroupsFile(), b, 0o600)
	}
	own := ownCgroups()
	for _, h := range hier {
		base := filepath.Join(h, own[filepath.Base(h)])
		for _, rel := range []string{root, filepath.Join(root, "agent")} {
			// Every directory below this process's own cgroup is kplane's:
			// recorded whether this node or another made it, so the last
			// node removed takes the shared parents with it.
			var chain []string
			for d := filepath.Join(h, rel); d != base && d != h && strings.HasPrefix(d, base+"/"); d = filepath.Dir(d) {
				chain = append([]string{d}, chain...)
			}
			for _, d := range chain {
				err := os.Mkdir(d, 0o755)
				if err != nil && !os.IsExist(err) {
					return err
				}
				if !slices.Contains(st.Created, d) {
					st.Created = append(st.Created, d)
					if err := save(); err != nil {
						return err
					}
				}
				if strings.Contains(filepath.Base(h), "cpuset") && cpusetEmpty(d) {
					for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
						b, err := os.ReadFile(filepath.Join(filepath.Dir(d), f))
						if err != nil {
							return err
						}
						if err := os.WriteFile(filepath.Join(d, f), b, 0o644); err != nil {
							return fmt.Errorf("%s: %w", filepath.Join(d, f), err)
						}
					}
				}
			}
		}
	}
	return save()
}

// joinAgentCgroup moves this process into ROOT/agent in every hierarchy.
func joinAgentCgroup(root string) error {
	hier, err := cgroupV1Hierarchies()
	if err != nil {
		return err
	}
	pid := []byte(strconv.Itoa(os.Getpid()))
	for _, h := range hier {
		if err := os.WriteFile(filepath.Join(h, root, "agent", "cgroup.procs"), pid, 0o644); err != nil {
			return fmt.Errorf("joining %s: %w", filepath.Join(h, root, "agent"), err)
		}
	}
	return nil
}

func readCgroupState(p Paths) cgroupState {
	var st cgroupState
	if b, err := os.ReadFile(p.CgroupsFile()); err == nil {
		_ = json.Unmarshal(b, &st)
	}
	return st
}

// cgroupPIDs lists every process in the node's cgroups (all hierarchies).
func cgroupPIDs(root string) map[int]bool {
	pids := map[int]bool{}
	hier := allHierarchies()
	for _, h := range hier {
		_ = filepath.WalkDir(filepath.Join(h, root), func(path string, d os.DirEntry, err error) error {
			if err != nil || !d.IsDir() {
				return nil
			}
			b, err := os.ReadFile(filepath.Join(path, "cgroup.procs"))
			if err != nil {
				return nil
			}
			for _, f := range strings.Fields(string(b)) {
				if pid, err := strconv.Atoi(f); err == nil {
					pids[pid] = true
				}
			}
			return nil
		})
	}
	return pids
}

// killCgroups SIGKILLs every process in the node's cgroups but this one, and
// waits until they are gone (or timeout). The freezer hierarchy stops them
// forking meanwhile.
func killCgroups(root string, timeout time.Duration) error {
	if root == "" || root == "/" {
		return nil
	}
	self := os.Getpid()
	deadline := time.Now().Add(timeout)
	for {
		pids := cgroupPIDs(root)
		delete(pids, self)
		if len(pids) == 0 {
			return nil
		}
		for pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("processes still in cgroup %s after %v: %v", root, timeout, pids)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// removeCgroups removes the node's cgroups bottom-up: everything under root
// (what the kubelet and runc made) and the directories kplane made for it.
// Parents still used by other nodes stay (rmdir says EBUSY).
func removeCgroups(p Paths) error {
	st := readCgroupState(p)
	if st.Root == "" {
		return nil
	}
	var errs []error
	for _, h := range allHierarchies() {
		var dirs []string
		_ = filepath.WalkDir(filepath.Join(h, st.Root), func(path string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, path)
			}
			return nil
		})
		for i := len(dirs) - 1; i >= 0; i-- {
			if err := rmdirRetry(dirs[i]); err != nil {
				errs = append(errs, err)
			}
		}
		// The default root's parent, <own>/kplane, goes with its last node
		// (runc made it in the cgroup2 hierarchy, unrecorded).
		if parent := filepath.Join(h, filepath.Dir(st.Root)); filepath.Base(parent) == "kplane" {
			_ = syscall.Rmdir(parent)
		}
	}
	for i := len(st.Created) - 1; i >= 0; i-- {
		d := st.Created[i]
		if err := syscall.Rmdir(d); err != nil && err != syscall.ENOENT && err != syscall.EBUSY && err != syscall.ENOTEMPTY {
			errs = append(errs, fmt.Errorf("rmdir %s: %w", d, err))
		}
	}
	if len(errs) == 0 {
		_ = os.Remove(p.CgroupsFile())
	}
	return errors.Join(errs...)
}

// rmdirRetry removes a cgroup directory; a cgroup whose last task just died
// may answer EBUSY for a moment.
func rmdirRetry(d string) error {
	var err error
	for i := 0; i < 50; i++ {
		err = syscall.Rmdir(d)
		if err == nil || err == syscall.ENOENT {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("rmdir %s: %w", d, err)
}

// cpusetEmpty says whether cgroup d has no CPUs yet (a new cpuset).
func cpusetEmpty(d string) bool {
	b, err := os.ReadFile(filepath.Join(d, "cpuset.cpus"))
	return err == nil && strings.TrimSpace(string(b)) == ""
}
