package reconcile

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func noKeys(context.Context) ([]string, error) { return nil, nil }

// Run must not return while a pass is in flight: what the caller does after
// Run (stop every process) would race that pass.
func TestRunReturnsAfterWorkersStop(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan struct{})
	var finished atomic.Bool
	l := &Loop{Name: "t", Log: quiet(),
		Keys: func(context.Context) ([]string, error) { return []string{"a"}, nil },
		Reconcile: func(ctx context.Context, key string) (time.Duration, error) {
			close(started)
			<-ctx.Done()
			time.Sleep(100 * time.Millisecond) // a pass winding down
			finished.Store(true)
			return 0, nil
		}}
	done := make(chan struct{})
	go func() { l.Run(ctx); close(done) }()
	<-started
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after ctx ended")
	}
	if !finished.Load() {
		t.Fatal("Run returned while a worker was still in its pass")
	}
}

// One key is never with two workers at once, however often it changes.
func TestOneKeyNeverInTwoWorkers(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	changes := make(chan string)
	var inFlight, maxInFlight, passes atomic.Int32
	l := &Loop{Name: "t", Log: quiet(), Workers: 4, Keys: noKeys, Changes: []<-chan string{changes},
		Reconcile: func(ctx context.Context, key string) (time.Duration, error) {
			n := inFlight.Add(1)
			for {
				m := maxInFlight.Load()
				if n <= m || maxInFlight.CompareAndSwap(m, n) {
					break
				}
			}
			time.Sleep(5 * time.Millisecond)
			inFlight.Add(-1)
			passes.Add(1)
			return 0, nil
		}}
	done := make(chan struct{})
	go func() { l.Run(ctx); close(done) }()
	for range 200 {
		changes <- "same"
	}
	waitFor(t, func() bool { return passes.Load() > 0 && inFlight.Load() == 0 })
	cancel()
	<-done
	if got := maxInFlight.Load(); got != 1 {
		t.Fatalf("key reconciled by %d workers at once", got)
	}
}

// again > 0 looks again after that long; an error retries with backoff until
// the pass succeeds; a key from Changes is looked at without waiting for Resync.
func TestRequeueAndRetry(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	changes := make(chan string, 2)
	var mu sync.Mutex
	calls := map[string]int{}
	l := &Loop{Name: "t", Log: quiet(), Keys: noKeys, Resync: time.Hour, BackoffBase: time.Millisecond,
		Changes: []<-chan string{changes},
		Reconcile: func(ctx context.Context, key string) (time.Duration, error) {
			mu.Lock()
			calls[key]++
			n := calls[key]
			mu.Unlock()
			switch {
			case key == "requeue" && n < 3:
				return 10 * time.Millisecond, nil
			case key == "failing" && n < 4:
				return 0, errors.New("not yet")
			}
			return 0, nil
		}}
	go l.Run(ctx)
	changes <- "requeue"
	changes <- "failing"
	waitFor(t, func() bool {
		mu.Lock()
		defer mu.Unlock()
		return calls["requeue"] == 3 && calls["failing"] == 4
	})
	time.Sleep(50 * time.Millisecond)
	mu.Lock()
	defer mu.Unlock()
	if calls["requeue"] != 3 || calls["failing"] != 4 {
		t.Fatalf("looked again after the last pass said done: %v", calls)
	}
}

// Every key Keys lists is looked at on start and again each Resync.
func TestResyncListsEveryKey(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var a, b atomic.Int32
	l := &Loop{Name: "t", Log: quiet(), Resync: 20 * time.Millisecond,
		Keys: func(context.Context) ([]string, error) { return []string{"a", "b"}, nil },
		Reconcile: func(ctx context.Context, key string) (time.Duration, error) {
			map[string]*atomic.Int32{"a": &a, "b": &b}[key].Add(1)
			return 0, nil
		}}
	go l.Run(ctx)
	waitFor(t, func() bool { return a.Load() >= 3 && b.Load() >= 3 })
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 10 s")
		}
		time.Sleep(time.Millisecond)
	}
}
