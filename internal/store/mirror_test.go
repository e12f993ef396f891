package store

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// A mirror whose watch cannot start (its revision is compacted away) reads
// everything again and follows on from there; waitFor sees a write once it
// is in, and fails fast once the mirror stopped.
func TestMirrorRelistsAndFollows(t *testing.T) {
	s := openTestStore(t)
	ctx := context.Background()
	const prefix = "/test/mirror/"
	var last int64
	for i := range 3 {
		resp, err := s.client.Put(ctx, fmt.Sprintf("%sk%d", prefix, i), "v")
		if err != nil {
			t.Fatal(err)
		}
		last = resp.Header.Revision
	}
	if _, err := s.client.Compact(ctx, last); err != nil {
		t.Fatal(err)
	}

	m := newMirror()
	var content sync.Map
	relists := 0
	relist := func(ctx context.Context) (int64, error) {
		resp, err := s.client.Get(ctx, prefix, clientv3.WithPrefix())
		if err != nil {
			return 0, err
		}
		m.mu.Lock()
		defer m.mu.Unlock()
		relists++
		for _, kv := range resp.Kvs {
			content.Store(strings.TrimPrefix(string(kv.Key), prefix), true)
		}
		m.advanceLocked(resp.Header.Revision)
		return resp.Header.Revision, nil
	}
	apply := func(resp clientv3.WatchResponse) {
		m.mu.Lock()
		defer m.mu.Unlock()
		for _, ev := range resp.Events {
			content.Store(strings.TrimPrefix(string(ev.Kv.Key), prefix), true)
		}
		m.advanceLocked(resp.Header.Revision)
	}
	fctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go m.follow(fctx, s.client, prefix, 1, apply, relist, s.log, "test mirror") // revision 1 is compacted

	if err := m.waitFor(ctx, last); err != nil {
		t.Fatalf("waitFor after the relist: %v", err)
	}
	if _, ok := content.Load("k2"); !ok {
		t.Fatal("relist did not read the existing keys")
	}
	resp, err := s.client.Put(ctx, prefix+"new", "v")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.waitFor(ctx, resp.Header.Revision); err != nil {
		t.Fatalf("waitFor a new write: %v", err)
	}
	if _, ok := content.Load("new"); !ok {
		t.Fatal("the write after the relist was not followed")
	}
	m.mu.RLock()
	n := relists
	m.mu.RUnlock()
	if n != 1 {
		t.Errorf("%d relists, want 1", n)
	}

	cancel()
	<-m.done
	start := time.Now()
	if err := m.waitFor(ctx, resp.Header.Revision+100); err == nil || time.Since(start) > time.Second {
		t.Errorf("waitFor on a stopped mirror: %v after %s", err, time.Since(start))
	}
}
