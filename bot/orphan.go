package bot

import (
	"context"
	"strings"

	"github.com/portcheck/portcheck/audit"
	"github.com/portcheck/portcheck/checks"
	"github.com/portcheck/portcheck/wire"
)

// postOrphan posts a result of a run this process does not hold: the bot
// process that opened it died (or restarted) and a shared results store
// handed its results to this one. The evidence goes in the thread at once;
// the parent is updated when the run's last answer is in, from the results
// this process recorded in its audit trail for the run, so a run checked
// from several vantages still ends with the merged verdict instead of
// whichever vantage answered last.
func (b *Bot) postOrphan(ctx context.Context, chat Chat, res wire.Result, by wire.User) {
	j := res.Job
	b.reply(ctx, chat, j.Thread, by, j, EvidenceMessage(res))
	if j.HostLocal { // an agent's own prediction is no external verdict for the parent
		return
	}
	rs := []wire.Result{res}
	if j.RunJobs > 1 {
		rs = b.recordedRun(ctx, j)
		if len(rs) < j.RunJobs {
			return // the run's last answer updates the parent
		}
	}
	var ext []wire.Result
	for _, r := range rs {
		if !r.Job.HostLocal {
			ext = append(ext, r)
		}
	}
	parent, compared := b.mergeVantages(ext, ParentMessage(ext))
	b.update(ctx, chat, j.Thread, by, j, parent)
	if compared != nil {
		b.reply(ctx, chat, j.Thread, by, j, *compared)
	}
}

// recordedRun rebuilds a run's results (verdict, reason, address, time,
// failure) from the result records of its thread, one per job.
func (b *Bot) recordedRun(ctx context.Context, j wire.Job) []wire.Result {
	recs, err := b.p.Audit.Query(ctx, audit.Query{
		Chat: j.Thread.Channel.Chat, Channel: j.Thread.Channel.ID, Thread: j.Thread.ID, Kind: audit.KindResult, Limit: 4096,
	})
	if err != nil {
		b.log.Error("reading the run back from the audit trail", "job_id", j.ID, "err", err)
		return nil
	}
	seen := map[string]bool{}
	var rs []wire.Result
	for _, rec := range recs {
		if rec.CommandID != j.CommandID || seen[rec.JobID] {
			continue
		}
		seen[rec.JobID] = true
		host, port, ok := splitTargetPort(rec.Target)
		if !ok {
			continue
		}
		rs = append(rs, wire.Result{
			Job: wire.Job{ID: rec.JobID, CommandID: rec.CommandID, Host: host, Port: port, Vantage: rec.Vantage, Thread: j.Thread,
				HostLocal: strings.HasPrefix(rec.Vantage, "host:")},
			Report: checks.Report{Host: host, Port: port, Verdict: checks.Verdict(rec.Verdict), Reason: checks.Reason(rec.Reason),
				Address: firstAddress(rec.Address), ElapsedMS: rec.ElapsedMS, Vantage: rec.Vantage},
			Error: rec.Why, Finished: rec.At,
		})
	}
	return rs
}

// firstAddress undoes probedAddresses: the address the verdict is about.
func firstAddress(s string) string {
	first, _, _ := strings.Cut(s, ",")
	return first
}
