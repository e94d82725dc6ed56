package bot

import (
	"context"
	"encoding/json"
	"net/netip"
	"slices"
	"strings"

	"github.com/portcheck/portcheck/checks"
	"github.com/portcheck/portcheck/wire"
)

// This file is the bot's side of the host agent (issue 8): finding the
// target's agent, queueing a host-local job beside the external probes,
// and posting the external verdict explained with the host's facts — or,
// without an agent, what could not be seen from outside and the command to
// see it. The agent package interprets the facts; bot only carries them
// (AgentMerger is implemented in cmd/portcheck), so bot still imports
// nothing of ours but checks.

// AgentInfo is one live host agent.
type AgentInfo struct {
	Vantage string   // the queue it answers: host:<hostname>
	Names   []string // the host names it answers for: its hostname and aliases
}

// Agents lists the live host agents (Redis heartbeats labelled kind=agent).
// Without one, the bot takes every vantage named host:<name> from Others.
type Agents interface {
	Agents(ctx context.Context) ([]AgentInfo, error)
}

// HostFinding is an external verdict explained with a host agent's facts.
type HostFinding struct {
	Summary  string        // the cause as the host sees it
	Evidence []string      // quoted facts: listeners, rules with counters, hosts.deny lines, routes
	Hints    []checks.Hint // what to change, as commands
	Unseen   []string      // what the agent could not see, and why
}

// AgentMerger interprets an agent's facts for the bot. cmd/portcheck
// implements it with agent.Merge and agent.WithoutAgent.
type AgentMerger interface {
	// Merge explains what the probes saw from outside with the facts.
	Merge(external checks.Report, facts json.RawMessage) (HostFinding, error)
	// WithoutAgent lists what the bot could not see from outside for this
	// report, each "what: `command to run on the host`"; nil when open.
	WithoutAgent(external checks.Report) []string
}

// liveAgents lists the agents, from Params.Agents or else from the
// host:<name> vantages Others serves. Errors mean no agents: the check
// still runs from outside.
func (b *Bot) liveAgents(ctx context.Context) []AgentInfo {
	if b.p.Agents != nil {
		as, err := b.p.Agents.Agents(ctx)
		if err != nil {
			b.log.Warn("listing host agents", "err", err)
		}
		return as
	}
	if b.p.Others == nil {
		return nil
	}
	vs, err := b.p.Others.Vantages(ctx)
	if err != nil {
		b.log.Warn("listing host agents", "err", err)
		return nil
	}
	var as []AgentInfo
	for _, v := range vs {
		if name, ok := strings.CutPrefix(v, wire.AgentPrefix); ok && name != "" {
			as = append(as, AgentInfo{Vantage: v, Names: []string{name}})
		}
	}
	return as
}

// agentFor is the vantage of the agent running on host, or "".
func agentFor(agents []AgentInfo, host string) string {
	for _, a := range agents {
		for _, n := range append([]string{strings.TrimPrefix(a.Vantage, wire.AgentPrefix)}, a.Names...) {
			if sameHost(host, n) {
				return a.Vantage
			}
		}
	}
	return ""
}

// sameHost says whether a target host names the agent's host: equal
// (ignoring case and a trailing dot), or one is the other's first label
// when that one is a short name ("web01" and "web01.example.com").
// Addresses only match exactly.
func sameHost(target, name string) bool {
	norm := func(s string) string { return strings.TrimSuffix(strings.ToLower(strings.Trim(s, "[]")), ".") }
	t, n := norm(target), norm(name)
	if t == "" || n == "" {
		return false
	}
	if t == n {
		return true
	}
	if _, err := netip.ParseAddr(t); err == nil {
		return false
	}
	if _, err := netip.ParseAddr(n); err == nil {
		return false
	}
	first := func(s string) string { h, _, _ := strings.Cut(s, "."); return h }
	switch {
	case !strings.Contains(n, "."):
		return first(t) == n
	case !strings.Contains(t, "."):
		return first(n) == t
	}
	return false
}

// isAgentVantage says whether v is served by a host agent: `from all`
// means the external vantages, not every agent answering about itself.
func isAgentVantage(agents []AgentInfo, v string) bool {
	if strings.HasPrefix(v, wire.AgentPrefix) {
		return true
	}
	for _, a := range agents {
		if a.Vantage == v || slices.Contains(a.Names, v) {
			return true
		}
	}
	return false
}

// withoutAgentVantages drops the agents' vantages from a `from all` list.
func (b *Bot) withoutAgentVantages(ctx context.Context, vs []string) []string {
	agents := b.liveAgents(ctx)
	out := vs[:0:0]
	for _, v := range vs {
		if v == b.lim.Vantage || !isAgentVantage(agents, v) {
			out = append(out, v)
		}
	}
	return out
}

// hostJobs are the host-local jobs to queue beside a run's external ones
// (ID, thread and times are the caller's): one per port of each target
// whose host runs an agent not already asked by name. Only runs small
// enough to get per-port replies ask (a 1024-port range would keep the
// agent busy for little), and only the first round of a watch, whose
// evidence is the one posted.
func (b *Bot) hostJobs(ctx context.Context, ts *threadState, kind Verb, round int) []wire.Job {
	if b.p.HostFacts == nil || (kind == VerbWatch && round > 0) || ts.req.Ports()*len(ts.vantages) > b.lim.DetailPorts {
		return nil
	}
	agents := b.liveAgents(ctx)
	if len(agents) == 0 {
		return nil
	}
	var out []wire.Job
	for _, t := range ts.req.Targets {
		v := agentFor(agents, t.Host)
		if v == "" || slices.Contains(ts.vantages, v) {
			continue
		}
		for _, p := range t.Ports {
			out = append(out, wire.Job{
				Target: t.Input, Host: t.Host, Port: p, Scheme: t.Scheme, Addrs: ts.addrs[t.Input],
				Vantage: v, HostLocal: true, Timeout: b.lim.JobTimeout,
			})
		}
	}
	return out
}

// armHostWait says, once, when only a run's host-local jobs are still out.
// An agent that died (its heartbeat not yet expired) or hangs must not hold
// back the external verdict. Callers hold b.mu.
func (b *Bot) armHostWait(r *run) bool {
	if r.hostJobs == 0 || r.hostWaiting {
		return false
	}
	for _, j := range r.jobs {
		if _, ok := r.results[j.ID]; !ok && !j.HostLocal {
			return false
		}
	}
	r.hostWaiting = true
	return true
}

// waitForAgents gives the run's agents Limits.AgentWait, then answers the
// host jobs still missing as failures so the run completes; a late answer
// is then ignored as a duplicate. On shutdown interruptPending answers them.
func (b *Bot) waitForAgents(ctx context.Context, r *run) {
	select {
	case <-b.p.After(b.lim.AgentWait):
	case <-b.ctx.Done():
		return
	}
	b.mu.Lock()
	var missing []wire.Job
	if b.runs[r.id] == r {
		for _, j := range r.jobs {
			if _, ok := r.results[j.ID]; !ok && j.HostLocal {
				missing = append(missing, j)
			}
		}
	}
	b.mu.Unlock()
	for _, j := range missing {
		b.handleResult(ctx, wire.Result{Job: j, Error: "no answer within " + shortDuration(b.lim.AgentWait) + " of the external checks", Finished: b.p.Now()})
	}
}

// splitHost separates the external results (the parent's verdict, the
// diff) from the host agents' answers.
func splitHost(rs []wire.Result) (external, host []wire.Result) {
	for _, r := range rs {
		if r.Job.HostLocal {
			host = append(host, r)
		} else {
			external = append(external, r)
		}
	}
	return external, host
}

// hostMessages are the thread replies that explain a run's non-open
// verdicts from the host: one per port with an agent (the merged finding),
// and one for all the ports without one (what the bot could not see).
func (b *Bot) hostMessages(external, host []wire.Result, asked []wire.Job) []Message {
	if b.p.HostFacts == nil {
		return nil
	}
	type key struct {
		host string
		port int
	}
	facts := map[key]wire.Result{}
	for _, h := range host {
		facts[key{h.Job.Host, h.Job.Port}] = h
	}
	hasAgent := map[key]bool{}
	agentHost := map[string]bool{} // an agent answered for it (or was asked by name): never "no agent"
	for _, j := range asked {
		if j.HostLocal {
			hasAgent[key{j.Host, j.Port}] = true
		}
		if j.HostLocal || strings.HasPrefix(j.Vantage, wire.AgentPrefix) {
			agentHost[j.Host] = true
		}
	}
	var out []Message
	var unseen []Block
	var unseenHosts []string
	done := map[key]bool{}
	for _, r := range external {
		k := key{r.Job.Host, r.Job.Port}
		if done[k] || r.Report.Verdict == "" || r.Report.Verdict == checks.VerdictOpen || r.Job.HostLocal ||
			strings.HasPrefix(r.Job.Vantage, wire.AgentPrefix) { // an agent asked by name: its own view, no outside one
			continue
		}
		done[k] = true
		if h, ok := facts[k]; ok && hasAgent[k] {
			out = append(out, b.mergedMessage(r, h))
			continue
		}
		if agentHost[r.Job.Host] {
			continue
		}
		if lines := notInHints(b.p.HostFacts.WithoutAgent(r.Report), r.Report.Hints); len(lines) > 0 {
			unseen = append(unseen, Block{Kind: BlockText, Title: r.Job.HostPort(), Text: bullets(lines)})
			if !slices.Contains(unseenHosts, r.Job.Host) {
				unseenHosts = append(unseenHosts, r.Job.Host)
			}
		}
	}
	if len(unseen) > 0 {
		m := Message{Status: StatusInfo, Blocks: unseen}
		if len(unseen) == 1 {
			m.Text = unseen[0].Title + ": no portcheck agent on " + unseenHosts[0] + ", so the bot could not see this; run on the host:"
			m.Blocks[0].Title = ""
		} else {
			m.Text = "no portcheck agent on " + strings.Join(unseenHosts, ", ") + ", so the bot could not see this; run on the host:"
		}
		out = append(out, m)
	}
	return out
}

// mergedMessage is the external verdict of r explained by the agent's
// answer h: the summary, the facts quoted, the commands.
func (b *Bot) mergedMessage(r, h wire.Result) Message {
	m := Message{Status: resultStatus(r), Text: r.Job.HostPort() + " on the host, as its agent " + h.Job.Vantage + " sees it"}
	if h.Error != "" && h.Report.Verdict == "" || len(h.Facts) == 0 {
		why := "it sent no facts (an older agent?)"
		if h.Error != "" {
			why = firstLine(h.Error)
		}
		m.Text = r.Job.HostPort() + " — the agent " + h.Job.Vantage + " did not answer"
		m.Blocks = append(m.Blocks, Block{Kind: BlockText, Text: "The agent could not help: " + why + "."})
		if h.Report.Summary != "" && h.Error == "" {
			m.Blocks = append(m.Blocks, Block{Kind: BlockText, Title: "The host's own view", Text: h.Report.Summary})
		}
		if lines := b.p.HostFacts.WithoutAgent(r.Report); len(lines) > 0 {
			m.Blocks = append(m.Blocks, Block{Kind: BlockText, Title: "Run these on the host", Text: bullets(lines)})
		}
		return m
	}
	f, err := b.p.HostFacts.Merge(r.Report, h.Facts)
	if err != nil {
		b.log.Error("reading agent facts", "job_id", h.Job.ID, "err", err)
		m.Text = r.Job.HostPort() + " — the answer of " + h.Job.Vantage + " could not be read"
		m.Blocks = append(m.Blocks, Block{Kind: BlockCode, Title: "Error", Text: err.Error()})
		return m
	}
	if f.Summary != "" {
		m.Blocks = append(m.Blocks, Block{Kind: BlockText, Text: f.Summary})
	}
	if len(f.Evidence) > 0 {
		m.Blocks = append(m.Blocks, Block{Kind: BlockCode, Title: "On the host", Text: strings.Join(f.Evidence, "\n")})
	}
	// The external hints were in the evidence reply already.
	var hints []checks.Hint
	for _, hint := range f.Hints {
		if !hasHint(r.Report.Hints, hint) {
			hints = append(hints, hint)
		}
	}
	m.Blocks = append(m.Blocks, hintBlocks(hints)...)
	if len(f.Unseen) > 0 {
		m.Blocks = append(m.Blocks, Block{Kind: BlockText, Title: "The agent could not see", Text: bullets(f.Unseen)})
	}
	return m
}

func hasHint(hs []checks.Hint, h checks.Hint) bool {
	for _, x := range hs {
		if x.Text == h.Text {
			return true
		}
	}
	return false
}

// notInHints drops the lines whose command (the first `quoted` part) the
// report's own hints already give: the evidence reply has them.
func notInHints(lines []string, hints []checks.Hint) []string {
	var out []string
	for _, l := range lines {
		_, rest, ok := strings.Cut(l, "`")
		cmd, _, ok2 := strings.Cut(rest, "`")
		dup := false
		for _, h := range hints {
			for _, c := range h.Commands {
				if ok && ok2 && cmd != "" && strings.Contains(c, cmd) {
					dup = true
				}
			}
		}
		if !dup {
			out = append(out, l)
		}
	}
	return out
}

func bullets(lines []string) string {
	return "• " + strings.Join(lines, "\n• ")
}
