package store

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// A nodegroup written as soon as WatchNodegroups returns is sent, although
// the watch itself is registered later, in its goroutine: a receiver that
// listed the keys before calling it misses nothing.
func TestWatchNodegroupsSendsWritesAfterItsCall(t *testing.T) {
	s := openTestStore(t)
	for i := range 20 {
		ctx, cancel := context.WithCancel(context.Background())
		ch := s.WatchNodegroups(ctx)
		key := fmt.Sprintf("demo/ng-%d", i)
		if _, err := s.client.Put(ctx, nodegroupsPrefix+key, "{}"); err != nil {
			t.Fatal(err)
		}
		select {
		case got := <-ch:
			if got != key {
				t.Fatalf("watch sent %q, want %q", got, key)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("round %d: the write right after WatchNodegroups was never sent", i)
		}
		cancel()
	}
}
