package supervise

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Files of a process directory and what /proc says of a process.

// PIDPath is DIR/pid: the pid of the process running from DIR, while it runs.
func PIDPath(dir string) string { return filepath.Join(dir, "pid") }

// LogPath is DIR/logs/process.log: the child's own stdout/stderr (start-up
// errors, panics), whatever else it logs elsewhere.
func LogPath(dir string) string { return filepath.Join(dir, "logs", "process.log") }

// logMax: a process log larger than this is emptied when the next process starts.
const logMax = 8 << 20

// openLog opens the process log for appending and returns its size.
func openLog(path string) (*os.File, int64, error) {
	if fi, err := os.Stat(path); err == nil && fi.Size() > logMax {
		_ = os.Truncate(path, 0)
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, 0, err
	}
	off, _ := f.Seek(0, io.SeekEnd)
	return f, off, nil
}

// KillStale kills a process left over from a previous kplane run in dir:
// the pid in DIR/pid, if its command line holds args (so a pid reused by
// another program is left alone). It waits until the process is gone.
func KillStale(dir string, args []string) (killed bool, err error) {
	b, err := os.ReadFile(PIDPath(dir))
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	} else if err != nil {
		return false, err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 1 {
		return false, nil
	}
	if !CommandLineHas(pid, args) {
		return false, nil
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return false, err
	}
	deadline := time.Now().Add(10 * time.Second)
	for Alive(pid) {
		if time.Now().After(deadline) {
			return true, fmt.Errorf("stale process %d still alive", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true, nil
}

// CommandLine is pid's argv, from /proc/PID/cmdline (nil if it is gone).
func CommandLine(pid int) []string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || len(b) == 0 {
		return nil
	}
	return strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
}

// CommandLineHas reports whether pid's arguments (after the program) hold
// args in order, one after another; a flag "--f v" in args also matches
// "--f=v".
func CommandLineHas(pid int, args []string) bool {
	argv := CommandLine(pid)
	if len(argv) < 2 || len(args) == 0 {
		return false
	}
	return containsRun(joinFlags(argv[1:]), joinFlags(args))
}

// joinFlags writes "--f v" as "--f=v", so both spellings compare equal.
func joinFlags(args []string) []string {
	out := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		a := args[i]
		if strings.HasPrefix(a, "--") && !strings.Contains(a, "=") && i+1 < len(args) && !strings.HasPrefix(args[i+1], "-") {
			a += "=" + args[i+1]
			i++
		}
		out = append(out, a)
	}
	return out
}

// containsRun reports whether run occurs in s as consecutive elements.
func containsRun(s, run []string) bool {
	for i := 0; i+len(run) <= len(s); i++ {
		if slices.Equal(s[i:i+len(run)], run) {
			return true
		}
	}
	return false
}

// Stat is a few fields of /proc/PID/stat.
type Stat struct {
	State byte // R, S, D, Z, X, ...
	PPID  int
	// CPU is the process's user+system time (utime+stime); ReapedCPU that of
	// the children it has waited for (cutime+cstime).
	CPU, ReapedCPU time.Duration
}

// ReadStat reads /proc/PID/stat.
func ReadStat(pid int) (Stat, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return Stat{}, false
	}
	// The fields after "(comm)"; comm itself may hold spaces and parentheses.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return Stat{}, false
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 15 {
		return Stat{}, false
	}
	st := Stat{State: f[0][0]}
	st.PPID, _ = strconv.Atoi(f[1])
	ticks := func(fields ...int) (d time.Duration) {
		for _, j := range fields {
			v, _ := strconv.ParseInt(f[j], 10, 64)
			d += time.Duration(v) * time.Second / userHZ
		}
		return d
	}
	st.CPU, st.ReapedCPU = ticks(11, 12), ticks(13, 14)
	return st, true
}

// userHZ is the unit of /proc's CPU times (USER_HZ, 100 on Linux).
const userHZ = 100

// Alive reports whether the process exists and is not a zombie.
func Alive(pid int) bool {
	st, ok := ReadStat(pid)
	return ok && st.State != 'Z' && st.State != 'X'
}

// LogTail returns the last n non-empty lines written to file after offset
// (at most its last 4 KiB), joined by " | ", without kplane's "--- " markers.
func LogTail(file string, offset int64, n int) string {
	f, err := os.Open(file)
	if err != nil {
		return ""
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return ""
	}
	const maxTail = 4096
	start := max(offset, fi.Size()-maxTail)
	b := make([]byte, max(fi.Size()-start, 0))
	if _, err := f.ReadAt(b, start); err != nil && !errors.Is(err, io.EOF) {
		return ""
	}
	var lines []string
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "--- ") {
			lines = append(lines, l)
		}
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}
