// Package ratelimit keeps the chat bot from becoming a scanner or a
// denial-of-service amplifier: per-user, per-channel and global rate limits
// where each job has a cost (a trace costs more than a connect), and a
// budget of distinct targets per user per hour so nobody sweeps a subnet
// through the bot.
//
// Two implementations share the interfaces: in-memory for the embedded
// single-process mode, Redis for distributed mode. The Redis ones fail
// closed: when Redis cannot be reached the answer is "denied" with an error
// that says why.
package ratelimit

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// Costs of one job. A trace sends up to ~30 TTLs' worth of probes (plus a
// control trace), so it is charged as several connects.
const (
	CostConnect = 1
	CostTrace   = 5
)

// Cost is the charge for a command: one unit per port connected, more per
// port traced, times the vantages it runs from.
func Cost(ports, vantages int, trace bool) int {
	if ports < 1 {
		ports = 1
	}
	if vantages < 1 {
		vantages = 1
	}
	per := CostConnect
	if trace {
		per = CostTrace
	}
	return ports * vantages * per
}

// Key identifies who is asking and where. Team scopes ids that are only
// unique per workspace/guild.
type Key struct {
	Chat    string // "slack", "discord", "shell"
	Team    string
	Channel string
	User    string
}

// Which limit decided a Result.
const (
	WhichUser        = "user"
	WhichChannel     = "channel"
	WhichGlobal      = "global"
	WhichTargets     = "targets"
	WhichInflight    = "inflight"    // too many jobs running for this user
	WhichUnavailable = "unavailable" // the limiter's backend failed: fail closed
)

// Result is a limiter's answer.
type Result struct {
	Allowed    bool
	RetryAfter time.Duration // when denied: how long until the same request would pass; -1 never
	Which      string        // the limit that denied (empty when allowed)
	Limit      string        // that limit in words, e.g. "20 per 1m0s"
}

// Message is the sentence to show the user when denied.
func (r Result) Message() string {
	switch {
	case r.Allowed:
		return ""
	case r.Which == WhichUnavailable:
		return "rate limiting is unavailable right now (its Redis cannot be reached), so nothing was run; please try again shortly"
	case r.RetryAfter < 0 && r.Which == WhichTargets:
		return fmt.Sprintf("this command names more distinct targets than the whole budget (%s)", r.Limit)
	case r.Which == WhichTargets:
		return fmt.Sprintf("distinct-target budget reached (%s); retry in %s", r.Limit, roundUp(r.RetryAfter))
	case r.Which == WhichInflight:
		return fmt.Sprintf("you already have the most jobs running (%s); wait for them to finish", r.Limit)
	}
	return fmt.Sprintf("rate limit per %s reached (%s); retry in %s", r.Which, r.Limit, roundUp(r.RetryAfter))
}

// roundUp shows whole seconds, never "0s" for a wait that is not over.
func roundUp(d time.Duration) time.Duration {
	r := d.Round(time.Second)
	if r < d {
		r += time.Second
	}
	return r
}

// Limiter charges cost units against every limit that applies to k, all or
// nothing: a denied request consumes nothing (best effort in Redis, see
// Redis.Allow). A command costing more than a limit's burst (64 ports
// against 20 per minute) is not refused forever: it needs that limit's
// whole allowance and empties it. A non-nil error always comes with Allowed
// false.
//
// Consume is the after-the-fact charge for work a job turned out to need
// (the prober traces on its own when the verdict calls for it): it never
// refuses, it only spends allowance, so the user's next command waits
// sooner. Each limit takes what it can of cost independently, down to one
// whole allowance of debt below empty (see debtAllowances): enough that a
// traced command is felt, bounded so one unlucky filtered range cannot
// lock a user out for long. Less than one unit of room left takes nothing,
// as redis_rate's AllowAtMost does. An error means some limit could not be
// charged (Redis down); there is nothing to undo.
type Limiter interface {
	Allow(ctx context.Context, k Key, cost int) (Result, error)
	Consume(ctx context.Context, k Key, cost int) error
}

// debtAllowances is how far below empty Consume may push a limit, in whole
// allowances (bursts): at most one extra Per of waiting.
const debtAllowances = 1

// Targets tracks distinct targets per user over a sliding window. Track
// admits all of targets or none; targets already seen in the window are
// free. A non-nil error always comes with Allowed false.
type Targets interface {
	Track(ctx context.Context, k Key, targets []string) (Result, error)
}

// Rate is Events per Per, with bursts up to Burst (0 = Events). The zero
// Rate means no limit.
type Rate struct {
	Events int
	Per    time.Duration
	Burst  int
}

// PerMinute is n events per minute, burst n.
func PerMinute(n int) Rate { return Rate{Events: n, Per: time.Minute} }

func (r Rate) enabled() bool { return r.Events > 0 && r.Per > 0 }

func (r Rate) burst() int {
	if r.Burst > 0 {
		return r.Burst
	}
	return r.Events
}

func (r Rate) String() string {
	s := fmt.Sprintf("%d per %s", r.Events, r.Per)
	if r.Burst > 0 && r.Burst != r.Events {
		s += fmt.Sprintf(", burst %d", r.Burst)
	}
	return s
}

// Limits are the three rate limits; a zero Rate disables that one.
type Limits struct {
	User    Rate
	Channel Rate
	Global  Rate
}

// limit is one applicable limit with its storage key.
type limit struct {
	which string
	key   string
	rate  Rate
}

// applicable lists the enabled limits for k, most specific first.
func (l Limits) applicable(k Key) []limit {
	var out []limit
	if l.User.enabled() {
		out = append(out, limit{WhichUser, "user:" + join(k.Chat, k.Team, k.User), l.User})
	}
	if l.Channel.enabled() {
		out = append(out, limit{WhichChannel, "channel:" + join(k.Chat, k.Team, k.Channel), l.Channel})
	}
	if l.Global.enabled() {
		out = append(out, limit{WhichGlobal, "global", l.Global})
	}
	return out
}

// join builds a key from ids, escaping so "a:b"+"c" and "a"+"b:c" differ.
func join(parts ...string) string {
	for i, p := range parts {
		parts[i] = url.QueryEscape(p)
	}
	return strings.Join(parts, ":")
}

// TargetBudget is the distinct-targets budget: Max per Window (default 1h).
type TargetBudget struct {
	Max    int
	Window time.Duration
}

func (b TargetBudget) window() time.Duration {
	if b.Window > 0 {
		return b.Window
	}
	return time.Hour
}

func (b TargetBudget) String() string {
	return fmt.Sprintf("%d distinct targets per %s", b.Max, b.window())
}

func targetKey(k Key) string { return "targets:" + join(k.Chat, k.Team, k.User) }

// normalizeTargets lower-cases and de-duplicates, so "Web01" and "web01"
// are one target.
func normalizeTargets(in []string) []string {
	out := make([]string, 0, len(in))
	seen := make(map[string]bool, len(in))
	for _, t := range in {
		t = strings.ToLower(strings.TrimSuffix(strings.TrimSpace(t), "."))
		if t == "" || seen[t] {
			continue
		}
		seen[t] = true
		out = append(out, t)
	}
	return out
}
