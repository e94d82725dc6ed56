package app

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/portcheck/portcheck/agent"
	"github.com/portcheck/portcheck/bot"
	"github.com/portcheck/portcheck/checks"
	rstore "github.com/portcheck/portcheck/store/redis"
	"github.com/portcheck/portcheck/wire"
)

// agentMerger is bot.AgentMerger on the agent package: the bot carries an
// agent's facts as JSON and this reads them, so bot never imports agent.
type agentMerger struct{}

var _ bot.AgentMerger = agentMerger{}

// Merge decodes facts (agent.Facts) and explains external with them.
func (agentMerger) Merge(external checks.Report, facts json.RawMessage) (bot.HostFinding, error) {
	var f agent.Facts
	if err := json.Unmarshal(facts, &f); err != nil {
		return bot.HostFinding{}, fmt.Errorf("agent facts: %w", err)
	}
	fd := agent.Merge(external, f)
	return bot.HostFinding{Summary: fd.Summary, Evidence: fd.Evidence, Hints: fd.Hints, Unseen: fd.Unseen}, nil
}

// WithoutAgent is agent.WithoutAgent.
func (agentMerger) WithoutAgent(external checks.Report) []string { return agent.WithoutAgent(external) }

// workerLister is the part of the Redis store the agent registry reads.
type workerLister interface {
	Workers(ctx context.Context) ([]rstore.VantageInfo, error)
}

// redisAgents is bot.Agents on the Redis heartbeats: registrations
// labelled kind=agent, grouped by the host label `portcheck agent --serve`
// sets, so an alias (web01) leads to the agent's host:<hostname> queue.
type redisAgents struct{ st workerLister }

func (a redisAgents) Agents(ctx context.Context) ([]bot.AgentInfo, error) {
	ws, err := a.st.Workers(ctx)
	if err != nil {
		return nil, fmt.Errorf("listing agents: %w", err)
	}
	var out []bot.AgentInfo
	idx := map[string]int{}
	for _, w := range ws {
		if w.Labels["kind"] != "agent" {
			continue
		}
		host, vantage := w.Labels["host"], wire.AgentPrefix+w.Labels["host"]
		if host == "" { // an agent from before the host label: each name stands alone
			host, vantage = strings.TrimPrefix(w.Name, wire.AgentPrefix), w.Name
		}
		i, ok := idx[vantage]
		if !ok {
			i = len(out)
			idx[vantage] = i
			out = append(out, bot.AgentInfo{Vantage: vantage, Names: []string{host}})
		}
		if w.Name != vantage && !slices.Contains(out[i].Names, w.Name) {
			out[i].Names = append(out[i].Names, w.Name)
		}
	}
	return out, nil
}
