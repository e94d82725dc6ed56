package bot

import (
	"context"
	"fmt"
	"strings"

	"github.com/portcheck/portcheck/checks"
)

// AuditGate is implemented by a Gate that can say who may read the whole
// audit trail (`history all`): admins only. Without one, nobody may.
type AuditGate interface {
	AdmitAudit(ctx context.Context, cmd Command) (allowed bool, why string)
}

// historyAll lists recent results of every channel, for admins: the
// authorization is checked on the server side and a refusal is audited.
func (b *Bot) historyAll(ctx context.Context, chat Chat, cmd Command, req Request) error {
	why := "not authorized: only admins may query the whole audit trail (authz.admins is empty)"
	allowed := false
	if ag, ok := b.p.Gate.(AuditGate); ok {
		allowed, why = ag.AdmitAudit(ctx, cmd)
	}
	if !allowed {
		if err := b.auditCommand(ctx, cmd, nil, DecisionDenied, why); err != nil {
			return err
		}
		return b.ephemeral(ctx, chat, cmd, Message{Status: StatusInfo, Text: why})
	}
	if err := b.auditCommand(ctx, cmd, nil, DecisionAnswer, "history all"); err != nil {
		return err
	}
	recs, err := b.p.Audit.Query(ctx, AuditQuery{Kind: KindResult, Target: req.Query, Limit: b.lim.HistoryLimit})
	if err != nil {
		b.log.Error("history query failed", "err", err)
		return b.ephemeral(ctx, chat, cmd, Message{Status: StatusError, Text: "cannot read the audit trail right now"})
	}
	return b.ephemeral(ctx, chat, cmd, historyAllMessage(recs, req.Query))
}

// historyAllMessage is HistoryMessage with the chat and channel of each row.
func historyAllMessage(records []Record, query string) Message {
	title := "Recent checks in every channel"
	if query != "" {
		title += " for " + query
	}
	if len(records) == 0 {
		return Message{Status: StatusInfo, Text: title + ": none yet"}
	}
	var b strings.Builder
	for i := len(records) - 1; i >= 0; i-- {
		r := records[i]
		v := VerdictWords(checks.Verdict(r.Verdict))
		if r.Verdict == "" && r.Why != "" {
			v = "failed: " + firstLine(r.Why)
		}
		fmt.Fprintf(&b, "%s  %-20s %-12s %-24s %s\n", r.At.Format("01-02 15:04"), r.Chat+"/"+r.Channel, r.User, r.Target, v)
	}
	return Message{Status: StatusInfo, Text: title, Blocks: []Block{{Kind: BlockCode, Text: strings.TrimRight(b.String(), "\n")}}}
}
