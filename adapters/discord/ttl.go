package discord

import (
	"sync"
	"time"
)

// ttlMap remembers keys for a while: interaction ids for deduplication (a
// gateway resume or an HTTP retry replays them), placeholders already used,
// thread ids per verdict message. Bounded so a flood cannot grow it forever.
type ttlMap[V any] struct {
	mu    sync.Mutex
	now   func() time.Time
	ttl   time.Duration
	max   int
	items map[string]ttlItem[V]
}

type ttlItem[V any] struct {
	v       V
	expires time.Time
}

func newTTLMap[V any](now func() time.Time, ttl time.Duration, max int) *ttlMap[V] {
	return &ttlMap[V]{now: now, ttl: ttl, max: max, items: map[string]ttlItem[V]{}}
}

// add stores v under k unless k is already present; it reports whether it
// stored (true = first time seen).
func (m *ttlMap[V]) add(k string, v V) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	if it, ok := m.items[k]; ok && now.Before(it.expires) {
		return false
	}
	m.pruneLocked(now)
	m.items[k] = ttlItem[V]{v: v, expires: now.Add(m.ttl)}
	return true
}

func (m *ttlMap[V]) set(k string, v V) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	m.pruneLocked(now)
	m.items[k] = ttlItem[V]{v: v, expires: now.Add(m.ttl)}
}

func (m *ttlMap[V]) get(k string) (V, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	it, ok := m.items[k]
	if !ok || !m.now().Before(it.expires) {
		var zero V
		return zero, false
	}
	return it.v, true
}

func (m *ttlMap[V]) pruneLocked(now time.Time) {
	if len(m.items) < m.max {
		return
	}
	var oldest string
	var oldestAt time.Time
	for k, it := range m.items {
		if !now.Before(it.expires) {
			delete(m.items, k)
			continue
		}
		if oldest == "" || it.expires.Before(oldestAt) {
			oldest, oldestAt = k, it.expires
		}
	}
	if len(m.items) >= m.max {
		delete(m.items, oldest)
	}
}
