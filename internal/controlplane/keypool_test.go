package controlplane

import (
	"crypto/rsa"
	"testing"
	"time"
)

// The pool hands out its spare, makes a key itself when it has none, and
// tops itself up in the background after refillAfter.
func TestKeyPool(t *testing.T) {
	p := &keyPool{keys: make(chan *rsa.PrivateKey, 1), refillAfter: 50 * time.Millisecond}
	p.refill(0)
	waitSpare := func() {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for len(p.keys) == 0 {
			if time.Now().After(deadline) {
				t.Fatal("no spare key after 10s")
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitSpare()
	spare := <-p.keys
	p.keys <- spare
	got, err := p.take()
	if err != nil || got != spare {
		t.Fatalf("take: %v, spare handed out: %v", err, got == spare)
	}
	if len(p.keys) != 0 {
		t.Fatal("refilled at once, want after refillAfter")
	}
	made, err := p.take() // empty: makes one
	if err != nil || made == nil || made == spare || made.N.BitLen() != 2048 {
		t.Fatalf("take from an empty pool: %v", err)
	}
	waitSpare()
}
