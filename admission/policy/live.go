package policy

import (
	"context"
	"net/netip"
	"sync/atomic"
)

// Live is a Policy that can be replaced while it is in use (serve and
// worker reload their policy on SIGHUP). Each call reads the current
// policy once, so a decision is wholly the old policy's or the new one's.
type Live struct {
	cur atomic.Pointer[Policy]
}

// NewLive starts with p.
func NewLive(p *Policy) *Live {
	l := &Live{}
	l.cur.Store(p)
	return l
}

// Store replaces the policy for every call from now on.
func (l *Live) Store(p *Policy) { l.cur.Store(p) }

// Decide is the current policy's Decide.
func (l *Live) Decide(ctx context.Context, host string, ports []int) Decision {
	return l.cur.Load().Decide(ctx, host, ports)
}

// CheckAddr is the current policy's CheckAddr.
func (l *Live) CheckAddr(a netip.Addr) (allowed bool, rule string) { return l.cur.Load().CheckAddr(a) }

// RedactHop is the current policy's RedactHop.
func (l *Live) RedactHop(target, hop netip.Addr) bool { return l.cur.Load().RedactHop(target, hop) }
