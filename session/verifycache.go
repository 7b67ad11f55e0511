package session

import (
	"crypto/sha256"
	"sync"
	"time"
)

// verifyCache remembers access tokens whose signature and claims were
// checked, keyed by SHA-256 of the token, so a client that sends the same
// token many times pays for one signature check. An entry never outlives the
// token's exp, and a hit is still checked against the revoked set.
type verifyCache struct {
	mu      sync.RWMutex
	max     int
	entries map[[sha256.Size]byte]*Identity
}

func newVerifyCache(max int) *verifyCache {
	return &verifyCache{max: max, entries: make(map[[sha256.Size]byte]*Identity)}
}

func (c *verifyCache) get(k [sha256.Size]byte, now time.Time) (*Identity, bool) {
	c.mu.RLock()
	id, ok := c.entries[k]
	c.mu.RUnlock()
	if !ok || !now.Before(id.ExpiresAt) {
		return nil, false
	}
	return id, true
}

func (c *verifyCache) put(k [sha256.Size]byte, id *Identity, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= c.max {
		c.pruneLocked(now)
		// Still full: drop an arbitrary eighth. Cheaper than LRU
		// bookkeeping on every hit, and a miss only costs a signature check.
		for k := range c.entries {
			if len(c.entries) < c.max-c.max/8 {
				break
			}
			delete(c.entries, k)
		}
	}
	c.entries[k] = id
}

func (c *verifyCache) prune(now time.Time) {
	c.mu.Lock()
	c.pruneLocked(now)
	c.mu.Unlock()
}

func (c *verifyCache) pruneLocked(now time.Time) {
	for k, id := range c.entries {
		if !now.Before(id.ExpiresAt) {
			delete(c.entries, k)
		}
	}
}

func (c *verifyCache) flush() {
	c.mu.Lock()
	clear(c.entries)
	c.mu.Unlock()
}
