package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/portcheck/portcheck/agent"
	"github.com/portcheck/portcheck/checks"
	"github.com/portcheck/portcheck/config"
	rstore "github.com/portcheck/portcheck/store/redis"
	"github.com/portcheck/portcheck/wire"
	"github.com/portcheck/portcheck/worker"
)

// agentChecker answers a job with the host's facts instead of probes
// (worker.FactsChecker), so the ordinary worker loop serves agent vantages.
type agentChecker struct {
	opts    agent.Options
	vantage string
}

// CheckFacts gathers the facts for the job's port and reports them as the
// host's prediction (agent.HostReport), with the facts themselves, which
// the worker publishes in Result.Facts for the bot to merge with the
// external probes of the same port.
func (c agentChecker) CheckFacts(ctx context.Context, req checks.Request) (checks.Report, json.RawMessage) {
	f := agent.Gather(ctx, agent.Query{Port: req.Port, Proto: "tcp"}, c.opts)
	rep := agent.HostReport(f, req.Target, req.Host, c.vantage)
	b, err := json.Marshal(f)
	if err != nil { // Facts is plain data; this cannot happen, and the report still helps
		return rep, nil
	}
	return rep, b
}

// agentServeParams is what serve mode needs, parsed by runAgent.
type agentServeParams struct {
	configPath string
	vantages   []string // host:<hostname> first, then aliases
	hostname   string   // the host label of every registration (bot: alias -> host:<hostname>)
	opts       agent.Options
	timeout    time.Duration
}

// runAgentServe joins Redis like a worker and answers the jobs of each
// vantage name until ctx is done. It registers every name with a heartbeat
// so /portcheck vantages lists the agent.
func runAgentServe(ctx context.Context, p agentServeParams, io stdio) int {
	cfg, err := config.Load(p.configPath, os.Getenv)
	if err != nil {
		fmt.Fprintln(io.err, err)
		return 2
	}
	if cfg.Redis.URL == "" {
		fmt.Fprintln(io.err, "portcheck agent --serve: REDIS_URL is not set (the agent takes host-local jobs from Redis; see docs/agent.md)")
		return 2
	}
	log := newLogger(cfg.Log, io.err, "agent")
	st, code := openWorkerStore(ctx, cfg, "agent", log, io)
	if st == nil {
		return code
	}
	defer st.Close()

	// The agent has no policy to reload, but the systemd unit's
	// ExecReload (and operators' habits) send SIGHUP: it must not kill the
	// process (the default action), so it is taken and logged.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				log.Info("SIGHUP: the agent has nothing to reload; restart it to change its flags")
			}
		}
	}()

	var wg sync.WaitGroup
	failed := make(chan error, 2*len(p.vantages))
	for _, v := range p.vantages {
		w, err := worker.New(worker.Params{
			Queue:           st.Queue(),
			Results:         st.Results(),
			Facts:           agentChecker{opts: p.opts, vantage: v},
			Vantage:         v,
			Concurrency:     1, // facts are cheap; one at a time keeps the host quiet
			Timeout:         p.timeout,
			Log:             log.With("vantage", v),
			KeepInterrupted: true,
			DrainGrace:      cfg.Worker.DrainGrace.Std(), // SIGTERM: finish or hand back, like a worker
		})
		if err != nil {
			fmt.Fprintf(io.err, "portcheck agent: %v\n", err)
			return 2
		}
		wg.Add(2)
		go func() { defer wg.Done(); w.Run(ctx) }()
		go func(v string) {
			defer wg.Done()
			info := rstore.VantageInfo{Name: v, Version: workerVersion(), Labels: map[string]string{"kind": "agent", "host": p.hostname}}
			if err := st.Heartbeat(ctx, info); err != nil && !errors.Is(err, context.Canceled) {
				failed <- fmt.Errorf("heartbeat %s: %w", v, err)
			}
		}(v)
	}
	log.Info("agent serving", "vantages", p.vantages, "privacy_cmdline", p.opts.Privacy.Cmdline, "privacy_logs", p.opts.Privacy.Logs)
	wg.Wait()
	close(failed)
	code = 0
	for err := range failed {
		log.Error("agent", "err", err)
		code = 1
	}
	return code
}

// agentVantages is host:<hostname> plus the aliases, without duplicates,
// lower-cased: the chat grammar lower-cases the names typed after "from".
func agentVantages(hostname string, aliases []string) []string {
	out := []string{wire.AgentPrefix + strings.ToLower(hostname)}
	seen := map[string]bool{out[0]: true}
	for _, a := range aliases {
		a = strings.ToLower(strings.TrimSpace(a))
		if a != "" && !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	return out
}
