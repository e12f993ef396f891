package authn

import (
	"container/list"
	"crypto/sha256"
	"encoding/binary"
	"sync"
	"time"

	"github.com/kplane/kplane/internal/auth"
)

// tokenCache is a small LRU of verified tokens. It holds no token: entries are keyed by
// SHA-256 over the cluster name and the token, and an entry is dropped once its token
// has expired (TokenIdentity.ExpiresAt), so the cache never accepts a token the
// TokenVerifier would refuse for its age. Only the identity is cached, never the
// Mapper's answer.
type tokenCache struct {
	mu      sync.Mutex
	max     int
	order   *list.List // front = most recently used; values are *cacheEntry
	entries map[[sha256.Size]byte]*list.Element
}

type cacheEntry struct {
	key [sha256.Size]byte
	id  auth.TokenIdentity
}

func newTokenCache(max int) *tokenCache {
	if max <= 0 {
		return nil
	}
	return &tokenCache{max: max, order: list.New(), entries: make(map[[sha256.Size]byte]*list.Element, max)}
}

// cacheKey binds the token to the cluster name it was verified for: the same token
// presented to another cluster misses and is verified (and refused) again. The name is
// length-prefixed so no two (name, token) pairs hash the same input.
func cacheKey(clusterName, token string) [sha256.Size]byte {
	h := sha256.New()
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(clusterName)))
	h.Write(n[:])
	h.Write([]byte(clusterName))
	h.Write([]byte(token))
	var k [sha256.Size]byte
	h.Sum(k[:0])
	return k
}

// get returns a copy of the identity cached under key, if it has not expired at now.
func (c *tokenCache) get(key [sha256.Size]byte, now time.Time) (*auth.TokenIdentity, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.entries[key]
	if !ok {
		return nil, false
	}
	e := el.Value.(*cacheEntry)
	if !now.Before(e.id.ExpiresAt) {
		c.order.Remove(el)
		delete(c.entries, key)
		return nil, false
	}
	c.order.MoveToFront(el)
	id := e.id // a copy: the Mapper may not change what later reviews see
	return &id, true
}

func (c *tokenCache) put(key [sha256.Size]byte, id *auth.TokenIdentity) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.entries[key]; ok {
		el.Value.(*cacheEntry).id = *id
		c.order.MoveToFront(el)
		return
	}
	for c.order.Len() >= c.max {
		oldest := c.order.Back()
		c.order.Remove(oldest)
		delete(c.entries, oldest.Value.(*cacheEntry).key)
	}
	c.entries[key] = c.order.PushFront(&cacheEntry{key: key, id: *id})
}

func (c *tokenCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}
