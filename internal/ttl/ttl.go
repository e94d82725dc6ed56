// Package ttl is the one in-memory cache of keys that expire: interaction
// ids and signatures seen (a chat's retries and replays), placeholders
// claimed, claims of commands and posts, threads remembered by run. It is
// bounded, so a flood of new keys cannot grow it without end.
package ttl

import (
	"sync"
	"time"
)

// Cache maps keys to values for a while each. Safe for concurrent use.
type Cache[V any] struct {
	mu    sync.Mutex
	now   func() time.Time
	max   int
	items map[string]item[V]
}

type item[V any] struct {
	v       V
	expires time.Time
}

// New returns an empty cache of at most max keys (past it, expired keys go
// first, then the one closest to expiring). now is time.Now unless a test
// passes its own clock.
func New[V any](now func() time.Time, max int) *Cache[V] {
	if now == nil {
		now = time.Now
	}
	return &Cache[V]{now: now, max: max, items: map[string]item[V]{}}
}

// Add stores v under k for ttl unless k is there and unexpired; it reports
// whether it stored (true: the first time k is seen within its ttl).
func (c *Cache[V]) Add(k string, v V, ttl time.Duration) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if it, ok := c.items[k]; ok && now.Before(it.expires) {
		return false
	}
	c.putLocked(now, k, v, ttl)
	return true
}

// Set stores v under k for ttl, replacing what was there.
func (c *Cache[V]) Set(k string, v V, ttl time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.putLocked(c.now(), k, v, ttl)
}

// Delete forgets k (a claim given back).
func (c *Cache[V]) Delete(k string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.items, k)
}

// Get returns the value under k, if it has not expired.
func (c *Cache[V]) Get(k string) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	it, ok := c.items[k]
	if !ok || !c.now().Before(it.expires) {
		var zero V
		return zero, false
	}
	return it.v, true
}

// Has says whether k is there and unexpired.
func (c *Cache[V]) Has(k string) bool {
	_, ok := c.Get(k)
	return ok
}

func (c *Cache[V]) putLocked(now time.Time, k string, v V, ttl time.Duration) {
	if _, ok := c.items[k]; !ok && len(c.items) >= c.max {
		c.pruneLocked(now)
	}
	c.items[k] = item[V]{v: v, expires: now.Add(ttl)}
}

// pruneLocked drops the expired keys and, if the cache is still full, the
// one closest to expiring.
func (c *Cache[V]) pruneLocked(now time.Time) {
	var oldest string
	var oldestAt time.Time
	for k, it := range c.items {
		if !now.Before(it.expires) {
			delete(c.items, k)
			continue
		}
		if oldest == "" || it.expires.Before(oldestAt) {
			oldest, oldestAt = k, it.expires
		}
	}
	if len(c.items) >= c.max {
		delete(c.items, oldest)
	}
}
