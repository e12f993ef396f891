package load

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Run is the outcome of a closed-loop run's measured window.
type Run struct {
	Workers   int
	Window    time.Duration // the measured window, warm-up excluded
	OK        int           // requests answered 200 in the window
	Errors    int           // transport errors and non-200 answers in the window
	ErrorKind map[string]int
	Latency   Summary // of the 200 answers
}

// Throughput is successful requests per second over the measured window.
func (r Run) Throughput() float64 { return float64(r.OK) / r.Window.Seconds() }

// Hooks run at the edges of the measured window (nil ones are skipped); the
// caller uses them to sample CPU time.
type Hooks struct {
	MeasureStart, MeasureEnd func()
}

// Closed runs workers goroutines that each call op back to back, for warmup
// and then for dur. op returns the request's latency and HTTP status. A request
// counts in the window in which it completes. Closed stops early, with what it
// has, if ctx ends.
func Closed(ctx context.Context, workers int, warmup, dur time.Duration, hooks Hooks,
	op func(ctx context.Context) (time.Duration, int, error)) Run {
	const (
		warming = iota
		measuring
		done
	)
	var phase atomic.Int32
	type tally struct {
		lat    []time.Duration
		errors int
		kinds  map[string]int
	}
	tallies := make([]tally, workers)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	var wg sync.WaitGroup
	for w := range workers {
		tallies[w].lat = make([]time.Duration, 0, 1<<16)
		tallies[w].kinds = map[string]int{}
		wg.Go(func() {
			t := &tallies[w]
			for {
				p := phase.Load()
				if p == done || ctx.Err() != nil {
					return
				}
				lat, status, err := op(ctx)
				if phase.Load() != measuring {
					continue
				}
				switch {
				case err != nil:
					if ctx.Err() != nil {
						return
					}
					t.errors++
					t.kinds[errKind(err)]++
				case status != 200:
					t.errors++
					t.kinds[fmt.Sprintf("HTTP %d", status)]++
				default:
					t.lat = append(t.lat, lat)
				}
			}
		})
	}

	wait := func(d time.Duration) {
		select {
		case <-time.After(d):
		case <-ctx.Done():
		}
	}
	wait(warmup)
	if hooks.MeasureStart != nil {
		hooks.MeasureStart()
	}
	start := time.Now()
	phase.Store(measuring)
	wait(dur)
	phase.Store(done)
	window := time.Since(start)
	if hooks.MeasureEnd != nil {
		hooks.MeasureEnd()
	}
	wg.Wait()

	run := Run{Workers: workers, Window: window, ErrorKind: map[string]int{}}
	var all []time.Duration
	for _, t := range tallies {
		all = append(all, t.lat...)
		run.Errors += t.errors
		for k, n := range t.kinds {
			run.ErrorKind[k] += n
		}
	}
	run.OK = len(all)
	run.Latency = Summarize(all)
	return run
}

// errKind shortens an error to something worth counting.
func errKind(err error) string {
	s := err.Error()
	if len(s) > 80 {
		s = s[:80]
	}
	return s
}

// Summary describes a latency sample.
type Summary struct {
	N                        int
	Mean, P50, P90, P99, Max time.Duration
}

// Summarize sorts d (in place) and reads its nearest-rank percentiles.
func Summarize(d []time.Duration) Summary {
	if len(d) == 0 {
		return Summary{}
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	var sum time.Duration
	for _, x := range d {
		sum += x
	}
	q := func(p float64) time.Duration {
		i := int(p*float64(len(d))+0.999999) - 1 // nearest rank
		return d[min(max(i, 0), len(d)-1)]
	}
	return Summary{N: len(d), Mean: sum / time.Duration(len(d)), P50: q(0.50), P90: q(0.90), P99: q(0.99), Max: d[len(d)-1]}
}
