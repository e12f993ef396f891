// Package reconcile is the work loop kplane's reconcilers share (clusters'
// control planes, managed nodegroups): keys come from the store's watches, a
// periodic resync and the reconcilers' own requeues into one client-go
// workqueue; a fixed number of workers take them, never one key in two
// workers at once, and each pass says when to look at its key again, as
// controller-runtime's Result does.
package reconcile

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"k8s.io/client-go/util/workqueue"
)

// Func takes one step for key. A positive again asks for another look after
// that long; an error asks again with exponential backoff.
type Func func(ctx context.Context, key string) (again time.Duration, err error)

// Loop runs a Func over the keys of one kind of resource.
type Loop struct {
	// Name names the queue and the log lines ("clusters", "nodegroups").
	Name      string
	Reconcile Func
	// Keys lists every key, looked at on start and every Resync.
	Keys func(ctx context.Context) ([]string, error)
	// Changes send keys to look at now (store watches, process events).
	Changes []<-chan string
	// Workers is how many keys are reconciled at once (default 4).
	Workers int
	// Resync is how often every key is looked at without a change (default 5 s).
	Resync time.Duration
	// Backoff bounds the retries after an error (defaults 100 ms to 30 s).
	BackoffBase, BackoffMax time.Duration
	Log                     *slog.Logger
}

// Run works until ctx ends and returns once every worker has stopped, so
// that whatever runs after it (stopping the processes the Func started)
// never races a pass in flight.
func (l *Loop) Run(ctx context.Context) {
	l.defaults()
	q := workqueue.NewTypedRateLimitingQueueWithConfig(
		workqueue.NewTypedItemExponentialFailureRateLimiter[string](l.BackoffBase, l.BackoffMax),
		workqueue.TypedRateLimitingQueueConfig[string]{Name: l.Name})
	var workers sync.WaitGroup
	defer workers.Wait()
	defer q.ShutDown()

	for _, ch := range l.Changes {
		workers.Go(func() { forward(ctx, ch, q) })
	}
	l.resync(ctx, q)
	for range l.Workers {
		workers.Go(func() { l.work(ctx, q) })
	}
	tick := time.NewTicker(l.Resync)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			l.resync(ctx, q)
		}
	}
}

func (l *Loop) defaults() {
	if l.Log == nil {
		l.Log = slog.Default()
	}
	if l.Workers <= 0 {
		l.Workers = 4
	}
	if l.Resync <= 0 {
		l.Resync = 5 * time.Second
	}
	if l.BackoffBase <= 0 {
		l.BackoffBase = 100 * time.Millisecond
	}
	if l.BackoffMax <= 0 {
		l.BackoffMax = 30 * time.Second
	}
}

func forward(ctx context.Context, ch <-chan string, q workqueue.TypedInterface[string]) {
	for {
		select {
		case <-ctx.Done():
			return
		case key, ok := <-ch:
			if !ok {
				return
			}
			q.Add(key)
		}
	}
}

func (l *Loop) resync(ctx context.Context, q workqueue.TypedInterface[string]) {
	keys, err := l.Keys(ctx)
	if err != nil {
		if ctx.Err() == nil {
			l.Log.Warn("listing for resync", "queue", l.Name, "err", err)
		}
		return
	}
	for _, key := range keys {
		q.Add(key)
	}
}

func (l *Loop) work(ctx context.Context, q workqueue.TypedRateLimitingInterface[string]) {
	for {
		key, quit := q.Get()
		if quit {
			return
		}
		again, err := l.Reconcile(ctx, key)
		switch {
		case ctx.Err() != nil:
			q.Forget(key)
		case err != nil:
			l.Log.Warn("reconcile failed", "queue", l.Name, "key", key, "err", err)
			q.AddRateLimited(key)
		case again > 0:
			q.Forget(key)
			q.AddAfter(key, again)
		default:
			q.Forget(key)
		}
		q.Done(key)
	}
}
