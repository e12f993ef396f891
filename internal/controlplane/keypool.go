package controlplane

import (
	"crypto/rand"
	"crypto/rsa"
	"sync/atomic"
	"time"
)

// serviceAccountKeys hands out the RSA keys of new clusters' service-account
// signers, made ahead of need: a 2048-bit key takes 40-150 ms of CPU (it
// varies with the primes found), which would otherwise sit on every
// create's path before its apiserver can start. The spare is only ever in
// memory; a cluster's key is written (0600) when it is taken.
var serviceAccountKeys = &keyPool{keys: make(chan *rsa.PrivateKey, 1), refillAfter: 10 * time.Second}

// FillSpareKeys makes the spare key in the background now, so that the
// first create finds one (kplane serve calls it at start).
func FillSpareKeys() { serviceAccountKeys.refill(0) }

type keyPool struct {
	keys chan *rsa.PrivateKey
	// refillAfter: a key taken is replaced this much later, not at once,
	// so that making it does not take CPU from the cluster starting.
	refillAfter time.Duration
	refilling   atomic.Bool
}

// take returns a spare key, or a new one when there is none.
func (p *keyPool) take() (*rsa.PrivateKey, error) {
	defer p.refill(p.refillAfter)
	select {
	case k := <-p.keys:
		return k, nil
	default:
		return rsa.GenerateKey(rand.Reader, 2048)
	}
}

// refill tops the pool up after delay, in the background, once at a time.
func (p *keyPool) refill(delay time.Duration) {
	if !p.refilling.CompareAndSwap(false, true) {
		return
	}
	go func() {
		defer p.refilling.Store(false)
		time.Sleep(delay)
		for len(p.keys) < cap(p.keys) {
			k, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				return // take makes its own then
			}
			select {
			case p.keys <- k:
			default:
				return
			}
		}
	}()
}
