package controlplane

import "testing"

// Poke hands the cluster to the reconciler's change feed, and never blocks:
// not before the feed exists, not when it is full.
func TestPokeSendsWithoutBlocking(t *testing.T) {
	p := &LocalProvisioner{}
	p.Poke("early") // no feed yet: nothing happens
	p.changes = make(chan string, 1)
	p.Poke("a")
	p.Poke("b") // full: dropped, the next resync looks anyway
	if got := <-p.changes; got != "a" {
		t.Fatalf("change feed got %q, want a", got)
	}
	select {
	case got := <-p.changes:
		t.Fatalf("change feed got %q after a full feed", got)
	default:
	}
}
