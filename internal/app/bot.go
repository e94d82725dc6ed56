package app

import (
	"context"
	"errors"
	"log/slog"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/portcheck/portcheck/admission"
	"github.com/portcheck/portcheck/admission/policy"
	"github.com/portcheck/portcheck/audit"
	"github.com/portcheck/portcheck/bot"
	"github.com/portcheck/portcheck/checks"
	"github.com/portcheck/portcheck/config"
	"github.com/portcheck/portcheck/ops"
	"github.com/portcheck/portcheck/store/memory"
	rstore "github.com/portcheck/portcheck/store/redis"
	"github.com/portcheck/portcheck/wire"
	"github.com/portcheck/portcheck/worker"
)

// botSpec is what serve and shell choose differently about their bot; the
// rest of its wiring is the same for both (newBot).
type botSpec struct {
	cfg    config.Config
	getenv func(string) string
	log    *slog.Logger
	trail  audit.Trail
	policy targetPolicy
	// gate builds the admission gate; rdb is the Redis client when the
	// queue is in Redis (rate limits shared by every replica), else nil.
	gate    func(rdb goredis.UniversalClient) (*admission.Gate, error)
	perPort time.Duration // the prober's per-port timeout
	workers int           // the local pool's size
	grace   time.Duration // how long SIGTERM lets the local jobs finish
	limits  bot.Limits    // Vantage and JobTimeout are filled in
	observe *ops.Metrics  // nil: no metrics
	version string        // this build, in the local worker's heartbeat
}

// targetPolicy is the target policy with every use the bot side makes of
// it: deciding a command's targets, the worker's second look at each
// address, and which trace hops to hide (*policy.Policy, *policy.Live).
type targetPolicy interface {
	admission.Decider
	worker.AddrChecker
	bot.HopRedactor
}

var (
	_ targetPolicy = (*policy.Policy)(nil)
	_ targetPolicy = (*policy.Live)(nil)
)

// botParts is a bot's dependencies and what to close after it.
type botParts struct {
	params    bot.Params
	store     *rstore.Store     // nil: the embedded queue
	stats     wire.QueueStatser // the queue's backlog, for the metrics
	gate      *admission.Gate
	readiness map[string]ops.Check
	closers   []func()
}

func (p *botParts) close() {
	for i := len(p.closers) - 1; i >= 0; i-- {
		p.closers[i]()
	}
}

// botLimits are the conversation's limits from the configuration (watch.*,
// limits.*, policy.max_ports), the same in serve and the shell.
func botLimits(cfg config.Config) bot.Limits {
	return bot.Limits{
		WatchesPerChannel: cfg.Watch.MaxPerChannel,
		Grammar: bot.GrammarLimits{
			MaxText: cfg.Limits.MaxCommandLength, MaxTargets: cfg.Limits.MaxTargets, MaxPorts: cfg.Policy.MaxPorts,
			Every: cfg.Watch.DefaultEvery.Std(), MinEvery: cfg.Watch.MinEvery.Std(), MaxFor: cfg.Watch.MaxFor.Std(),
		},
	}
}

// newBot wires a chat bot: the embedded queue or Redis, the admission
// guard, the host agents and, unless worker.local_worker is off, a local
// worker pool at cfg.Vantage that re-checks every address it probes.
func newBot(ctx context.Context, s botSpec) (*botParts, error) {
	cfg := s.cfg
	lim := s.limits
	lim.Vantage, lim.JobTimeout = cfg.Vantage, jobTimeout(s.perPort)
	parts := &botParts{readiness: map[string]ops.Check{"audit": func(ctx context.Context) error {
		_, err := s.trail.Query(ctx, audit.Query{Limit: 1})
		return err
	}}}
	p := bot.Params{
		Audit:     s.trail,
		Policy:    admission.Policy{P: s.policy},
		Redact:    s.policy, // private hops of public traces stay out of the chat
		Limits:    lim,
		Log:       s.log,
		HostFacts: agentMerger{}, // merged host findings, or what could not be seen without an agent
	}
	if s.observe != nil {
		p.Observe = s.observe
	}
	local := cfg.Worker.LocalWorker == nil || *cfg.Worker.LocalWorker
	var rdb goredis.UniversalClient
	if redisConfigured(cfg) {
		st, err := openRedis(ctx, cfg, s.getenv, s.log)
		if err != nil {
			return nil, err
		}
		parts.store = st
		parts.closers = append(parts.closers, func() { _ = st.Close() })
		parts.readiness["redis"] = st.Ping
		rdb = st.Client()
		p.Queue, p.Results, p.Claims, p.Others, p.Workers = st.Queue(), st.Results(), st, st, st
		p.Threads = st // the chat refs, kept by run on the bot side, for whichever bot process posts
		p.Outbox = st  // posts the chat refused for now, for whichever bot process is up when they are due
		parts.stats = st.Queue()
		p.Instance = st.Results().Instance() // the results of this process's runs come back to it
		p.Agents = redisAgents{st}           // host agents (portcheck agent --serve) answer host-local jobs
		p.KeepPendingOnShutdown = true       // Redis keeps them for the next process
		if local {
			parts.closers = append(parts.closers, startHeartbeat(ctx, st, rstore.VantageInfo{Name: cfg.Vantage, Version: s.version}, s.log))
		}
	} else {
		if !local {
			return nil, configErr(errors.New("the local worker is off (PORTCHECK_LOCAL_WORKER=false) and there is no REDIS_URL: nobody would run the checks"))
		}
		q := memory.NewQueue()
		p.Queue, p.Results, p.Claims, parts.stats = q, memory.NewResults(), memory.NewClaims(), q
	}
	gate, err := s.gate(rdb)
	if err != nil {
		parts.close()
		return nil, err
	}
	parts.gate = gate
	p.Gate, p.AuditAccess, p.ChargeTrace = gate, gate, gate // who may, how much; history all; traces charged after the fact
	if local {
		wp := worker.Params{
			Queue: p.Queue, Results: p.Results, Checker: prober(cfg, s.perPort), Vantage: cfg.Vantage,
			Concurrency: s.workers, Vet: s.policy, Log: s.log,
			KeepInterrupted: p.KeepPendingOnShutdown, // Redis hands an interrupted job to another worker
			DrainGrace:      s.grace,
		}
		if s.observe != nil {
			wp.Observe = s.observe
		}
		w, err := worker.New(wp)
		if err != nil {
			parts.close()
			return nil, err
		}
		p.Local = w
	}
	parts.params = p
	return parts, nil
}

// prober is the checker a worker runs at its vantage, with the egress
// self-check when a control target is configured (control_target /
// PORTCHECK_CONTROL_TARGET): a filtered port is then re-tried against a
// host known to be open, so the differential can tell "this vantage's own
// network blocks outbound PORT" from "the target filters it".
func prober(cfg config.Config, perPort time.Duration) worker.Checker {
	// Identical jobs arriving together (a thousand users asking about one
	// port in an incident) share one probe.
	var c worker.Checker = checks.NewProber(checks.Config{Timeout: perPort, Vantage: cfg.Vantage, CoalesceWithin: checks.WorkerCoalesce})
	if cfg.ControlTarget != "" {
		c = worker.EgressChecker{Checker: c, Control: cfg.ControlTarget}
	}
	return c
}
