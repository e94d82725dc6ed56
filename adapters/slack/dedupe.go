package slack

import (
	"time"

	"github.com/portcheck/portcheck/internal/ttl"
)

// seen remembers keys (trigger ids, signatures, envelope ids) for ttl so a
// retried or replayed request is recognised. It lives in memory: replicas
// behind one request URL each see their own retries only, and the bot core
// deduplicates on Command.ID as well.
type seen struct {
	ttl  time.Duration
	keys *ttl.Cache[struct{}]
}

func newSeen(d time.Duration, now func() time.Time) *seen {
	return &seen{ttl: d, keys: ttl.New[struct{}](now, 100_000)}
}

// first records every non-empty key and reports whether none of them had
// been seen within ttl. All keys are recorded either way, so a replay that
// matches on one key is remembered under the others too.
func (s *seen) first(keys ...string) bool {
	fresh := true
	for _, k := range keys {
		if k != "" && s.keys.Has(k) {
			fresh = false
		}
	}
	for _, k := range keys {
		if k != "" {
			s.keys.Set(k, struct{}{}, s.ttl)
		}
	}
	return fresh
}
