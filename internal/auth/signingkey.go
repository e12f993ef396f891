package auth

import (
	"crypto/hmac"
	"crypto/sha256"
	"strings"
	"sync"
)

// signingKeyCacheSize bounds the cache. An entry lives for one (secret, day, region,
// service), so even a busy server needs a handful per active key; 1024 is plenty and
// costs well under 200 KiB.
const signingKeyCacheSize = 1024

type signingKeyID struct{ secret, date, region, service string }

// signingKeys caches derived SigV4 signing keys. Deriving one costs four HMACs, twice the
// work of checking the signature itself, and the inputs repeat all day.
// The zero value is ready to use.
type signingKeys struct {
	mu sync.RWMutex
	m  map[signingKeyID][sha256.Size]byte
}

func (c *signingKeys) get(secret, date, region, service string) [sha256.Size]byte {
	id := signingKeyID{secret, date, region, service}
	c.mu.RLock()
	key, ok := c.m[id]
	c.mu.RUnlock()
	if ok {
		return key
	}

	key = deriveSigningKey(secret, date, region, service)
	// The id's strings point into the request headers; copy them so the cache does not
	// keep whole requests alive.
	id = signingKeyID{secret, strings.Clone(date), strings.Clone(region), strings.Clone(service)}
	c.mu.Lock()
	if c.m == nil {
		c.m = make(map[signingKeyID][sha256.Size]byte)
	}
	if len(c.m) >= signingKeyCacheSize {
		for old := range c.m { // map order is random: this evicts an arbitrary entry
			delete(c.m, old)
			break
		}
	}
	c.m[id] = key
	c.mu.Unlock()
	return key
}

// deriveSigningKey is the SigV4 key chain:
// HMAC(HMAC(HMAC(HMAC("AWS4"+secret, date), region), service), "aws4_request").
func deriveSigningKey(secret, date, region, service string) [sha256.Size]byte {
	k := hmacSHA256([]byte("AWS4"+secret), date)
	k = hmacSHA256(k[:], region)
	k = hmacSHA256(k[:], service)
	return hmacSHA256(k[:], scopeTerminator)
}

func hmacSHA256(key []byte, data string) [sha256.Size]byte {
	var out [sha256.Size]byte
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(data))
	mac.Sum(out[:0])
	return out
}
