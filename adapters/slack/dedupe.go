package slack

import (
	"sync"
	"time"
)

// seen remembers keys (trigger ids, signatures, envelope ids) for ttl so a
// retried or replayed request is recognised. It lives in memory: replicas
// behind one request URL each see their own retries only, and the bot core
// deduplicates on Command.ID as well.
type seen struct {
	mu      sync.Mutex
	ttl     time.Duration
	now     func() time.Time
	keys    map[string]time.Time
	inserts int
}

func newSeen(ttl time.Duration, now func() time.Time) *seen {
	return &seen{ttl: ttl, now: now, keys: make(map[string]time.Time)}
}

// first records every non-empty key and reports whether none of them had
// been seen within ttl. All keys are recorded either way, so a replay that
// matches on one key is remembered under the others too.
func (s *seen) first(keys ...string) bool {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.inserts++
	if s.inserts%1024 == 0 {
		for k, t := range s.keys {
			if now.Sub(t) > s.ttl {
				delete(s.keys, k)
			}
		}
	}
	fresh := true
	for _, k := range keys {
		if k == "" {
			continue
		}
		if t, ok := s.keys[k]; ok && now.Sub(t) <= s.ttl {
			fresh = false
		}
	}
	for _, k := range keys {
		if k != "" {
			s.keys[k] = now
		}
	}
	return fresh
}
