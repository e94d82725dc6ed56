// Package admission is the guard in front of every check: the target
// policy (policy/), who may ask (authz/) and how much (ratelimit/), wired
// into the bot's Policy and Gate. Everything the bot runs is admitted here
// first; every refusal is audited by the bot with the reason given here.
package admission

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/portcheck/portcheck/admission/authz"
	"github.com/portcheck/portcheck/admission/policy"
	"github.com/portcheck/portcheck/admission/ratelimit"
	"github.com/portcheck/portcheck/bot"
	"github.com/portcheck/portcheck/config"
)

// TargetPolicy builds the chat bot's target policy from the configuration
// (serve, and the workers that re-check the addresses of the jobs they take).
func TargetPolicy(cfg config.Config, r policy.Resolver) (*policy.Policy, error) {
	p, err := policy.New(cfg.Policy, r)
	if err != nil {
		return nil, fmt.Errorf("target policy: %w", err)
	}
	return p, nil
}

// Gate is the bot's Gate: who may run the command (authz), then how
// many of their jobs may run at once, then the rate limits and the
// distinct-targets budget. It runs on the server side for every check,
// watch and again; the bot audits every refusal with the text returned.
type Gate struct {
	authz    *authz.Authorizer
	rate     ratelimit.Meter
	inflight *ratelimit.Inflight // nil: no cap
	maxJobs  int
	log      *slog.Logger
	// Limited, when set, is told which limit refused a command (metrics).
	Limited func(which string)
}

// New builds the gate from the configuration. rdb, when not nil
// (REDIS_URL), keeps the rate limits in Redis, shared by every replica;
// otherwise they live in this process.
func New(cfg config.Config, rdb goredis.UniversalClient, now func() time.Time, log *slog.Logger) (*Gate, error) {
	az, err := authz.New(cfg.Authz)
	if err != nil {
		return nil, fmt.Errorf("authorization: %w", err)
	}
	lim := ratelimit.Limits{
		User:    ratelimit.PerMinute(cfg.Limits.PerUserPerMinute),
		Channel: ratelimit.PerMinute(cfg.Limits.PerChannelPerMinute),
		Global:  ratelimit.PerMinute(cfg.Limits.GlobalPerMinute),
	}
	budget := ratelimit.TargetBudget{Max: cfg.Limits.DistinctTargetsPerHour, Window: time.Hour}
	g := &Gate{authz: az, log: log, maxJobs: cfg.Limits.ConcurrentPerUser}
	if rdb != nil {
		g.rate = ratelimit.Meter{
			Limiter: ratelimit.NewRedis(rdb, lim, "portcheck:rl:"),
			Targets: ratelimit.NewRedisTargets(rdb, budget, "portcheck:rl:", now),
		}
	} else {
		g.rate = ratelimit.Meter{Limiter: ratelimit.NewMemory(lim, now), Targets: ratelimit.NewMemoryTargets(budget, now)}
	}
	if g.maxJobs > 0 {
		g.inflight = ratelimit.NewInflight(g.maxJobs)
	}
	return g, nil
}

// Unlimited is the gate of `portcheck shell`: your own terminal, so no
// authorization lists and no rate limits, but the same code path.
func Unlimited(log *slog.Logger) *Gate {
	az, _ := authz.New(authz.Config{}) // the zero Config cannot fail
	return &Gate{authz: az, log: log}
}

// Admit implements bot.Gate.
func (g *Gate) Admit(ctx context.Context, cmd bot.Command, req bot.Request, jobs int) bot.GateDecision {
	subj := authz.Subject{Chat: cmd.Channel.Chat, Team: cmd.Channel.Team, Channel: cmd.Channel.ID,
		User: cmd.User.ID, Groups: cmd.User.Groups}
	actions := []authz.Action{authz.Check}
	if req.Verb == bot.VerbWatch {
		actions = append(actions, authz.Watch)
	}
	if req.AllVantages {
		actions = append(actions, authz.FromAll)
	}
	for _, act := range actions {
		if d := g.authz.Authorize(subj, act); !d.Allowed {
			return bot.GateDecision{Why: "not authorized: " + d.Rule}
		}
	}

	key := rateKey(cmd)
	release := func() {}
	if g.inflight != nil {
		// A command bigger than the cap (a 64-port range against 16 at
		// once) takes all of the user's slots rather than being refused
		// forever, as a big command empties a rate limit.
		rel, r := g.inflight.Acquire(key, min(max(jobs, 1), g.maxJobs))
		if !r.Allowed {
			g.denied(r.Which)
			return bot.GateDecision{Why: r.Message()}
		}
		release = rel
	}
	ports := max(req.Ports(), 1)
	vantages := max(jobs/ports, 1)
	hosts := make([]string, 0, len(req.Targets))
	for _, t := range req.Targets {
		hosts = append(hosts, t.Host)
	}
	// The prober decides on its own when to trace, so a command is
	// admitted at the price of its connects; the extra of each trace it
	// turns out to run is charged when its result arrives (ChargeTrace).
	r, err := g.rate.Charge(ctx, key, ratelimit.Cost(ports, vantages, false), hosts)
	if err != nil {
		g.log.Error("rate limiting unavailable: command refused", "command_id", cmd.ID, "err", err)
	}
	if err != nil || !r.Allowed {
		release()
		why := r.Message()
		if why == "" { // an error with an allowed result would be a limiter bug: still refuse
			why = ratelimit.Result{Which: ratelimit.WhichUnavailable}.Message()
		}
		g.denied(cmp.Or(r.Which, ratelimit.WhichUnavailable))
		return bot.GateDecision{Why: why}
	}
	return bot.GateDecision{Allowed: true, Done: release}
}

// ChargeTrace implements bot.TraceCharger: each traced job costs
// CostTrace-CostConnect more than it was admitted at, spent after the fact
// on the same user, channel and global limits (memory or Redis, like
// Admit). The job is done, so nothing is refused: the debt only makes the
// user's next command wait sooner. A limiter error is logged, not
// returned: the trace goes uncharged, which errs towards the user, and
// Admit fails closed on the next command anyway if Redis is really down.
func (g *Gate) ChargeTrace(ctx context.Context, cmd bot.Command, traced int) {
	if traced < 1 {
		return
	}
	extra := traced * (ratelimit.CostTrace - ratelimit.CostConnect)
	if err := g.rate.ChargeAfter(ctx, rateKey(cmd), extra); err != nil {
		g.log.Warn("trace not charged to the rate limits", "command_id", cmd.ID, "traced", traced, "err", err)
	}
}

// rateKey is who and where a command is charged to.
func rateKey(cmd bot.Command) ratelimit.Key {
	return ratelimit.Key{Chat: cmd.Channel.Chat, Team: cmd.Channel.Team, Channel: cmd.Channel.ID, User: cmd.User.ID}
}

// AdmitAudit lets admins (authz.admins) read the whole audit trail with
// `history all` (bot.AuditGate).
func (g *Gate) AdmitAudit(_ context.Context, cmd bot.Command) (bool, string) {
	d := g.authz.Authorize(authz.Subject{Chat: cmd.Channel.Chat, Team: cmd.Channel.Team, Channel: cmd.Channel.ID,
		User: cmd.User.ID, Groups: cmd.User.Groups}, authz.Audit)
	if !d.Allowed {
		return false, "not authorized: " + d.Rule
	}
	return true, ""
}

var (
	_ bot.Gate         = (*Gate)(nil)
	_ bot.AuditGate    = (*Gate)(nil)
	_ bot.TraceCharger = (*Gate)(nil)
)

// denied tells the metrics which rate limit refused a command.
func (g *Gate) denied(which string) {
	if g.Limited != nil {
		g.Limited(which)
	}
}
