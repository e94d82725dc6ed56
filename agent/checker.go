package agent

import (
	"context"
	"encoding/json"

	"github.com/portcheck/portcheck/checks"
)

// Checker answers a host-local job with the host's facts instead of probes
// (a worker.FactsChecker), so the ordinary worker loop serves an agent's
// vantages (`portcheck agent --serve`).
type Checker struct {
	Options Options
	Vantage string // host:<hostname>, or an alias
}

// CheckFacts gathers the facts for the job's port and reports them as the
// host's prediction (HostReport), with the facts themselves, which the
// worker publishes in Result.Facts for the bot to merge with the external
// probes of the same port.
func (c Checker) CheckFacts(ctx context.Context, req checks.Request) (checks.Report, json.RawMessage) {
	f := Gather(ctx, Query{Port: req.Port, Proto: "tcp"}, c.Options)
	rep := HostReport(f, req.Target, req.Host, c.Vantage)
	b, err := json.Marshal(f)
	if err != nil { // Facts is plain data; this cannot happen, and the report still helps
		return rep, nil
	}
	return rep, b
}
