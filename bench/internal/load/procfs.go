package load

import (
	"context"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/kplane/kplane/internal/supervise"
)

// clockTicks is USER_HZ, which is 100 on every Linux architecture Go supports.
const clockTicks = 100

// CPUSeconds is the user+system CPU time a process has used.
func CPUSeconds(pid int) float64 {
	st, _ := supervise.ReadStat(pid)
	return st.CPU.Seconds()
}

// MachineCPU is the CPU time all processes on the machine have used (every
// CPU's jiffies except idle, iowait and steal) and the time the hypervisor
// stole from this VM, from /proc/stat.
func MachineCPU() (busy, steal float64) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line) // cpu user nice system idle iowait irq softirq steal guest guest_nice
	for i, v := range f[1:] {
		n, _ := strconv.ParseFloat(v, 64)
		switch {
		case i == 7:
			steal += n
		case i == 3 || i == 4 || i >= 8: // idle, iowait; guest time is already in user
		default:
			busy += n
		}
	}
	return busy / clockTicks, steal / clockTicks
}

// OtherCPU is how many cores processes other than this one and pids used
// over d.
func OtherCPU(ctx context.Context, d time.Duration, pids ...int) (float64, error) {
	ours := func() float64 {
		t := CPUSeconds(os.Getpid())
		for _, p := range pids {
			t += CPUSeconds(p)
		}
		return t
	}
	b0, _ := MachineCPU()
	o0, t0 := ours(), time.Now()
	select {
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-time.After(d):
	}
	b1, _ := MachineCPU()
	o1 := ours()
	w := time.Since(t0).Seconds()
	return max((b1-b0-(o1-o0))/w, 0), nil
}

// WaitQuiet waits until processes other than this one and pids use fewer
// than limit cores (measured over 3 s), or maxWait has passed. It returns the
// last reading and how long it waited; logf, if not nil, hears about the wait.
func WaitQuiet(ctx context.Context, limit float64, maxWait time.Duration, logf func(string, ...any), pids ...int) (float64, time.Duration, error) {
	start := time.Now()
	for {
		other, err := OtherCPU(ctx, 3*time.Second, pids...)
		if err != nil {
			return 0, 0, err
		}
		waited := time.Since(start)
		switch {
		case other < limit:
			return other, waited, nil
		case waited >= maxWait:
			if logf != nil {
				logf("machine still busy after %s: other processes use %.2f cores; measuring anyway", waited.Round(time.Second), other)
			}
			return other, waited, nil
		case waited < 4*time.Second && logf != nil:
			logf("waiting for the machine to quieten: other processes use %.2f cores (want < %.2f, for at most %s)", other, limit, maxWait)
		}
	}
}
