package bot

import (
	"github.com/portcheck/portcheck/audit"

	"context"
)

// AuditGate says who may read the whole audit trail (`history all`):
// admins only (Params.AuditAccess). Without one, nobody may.
type AuditGate interface {
	AdmitAudit(ctx context.Context, cmd Command) (allowed bool, why string)
}

// historyAll lists recent results of every channel, for admins: the
// authorization is checked on the server side and a refusal is audited.
func (b *Bot) historyAll(ctx context.Context, chat Chat, cmd Command, req Request) error {
	why := "not authorized: only admins may query the whole audit trail (authz.admins is empty)"
	allowed := false
	if b.p.AuditAccess != nil {
		allowed, why = b.p.AuditAccess.AdmitAudit(ctx, cmd)
	}
	if !allowed {
		if err := b.auditCommand(ctx, cmd, nil, audit.DecisionDenied, why); err != nil {
			return err
		}
		return b.ephemeral(ctx, chat, cmd, Message{Status: StatusInfo, Text: why})
	}
	if err := b.auditCommand(ctx, cmd, nil, audit.DecisionAnswer, "history all"); err != nil {
		return err
	}
	recs, err := b.p.Audit.Query(ctx, audit.Query{Kind: audit.KindResult, Target: req.Query, Limit: b.lim.HistoryLimit})
	if err != nil {
		b.log.Error("history query failed", "err", err)
		return b.ephemeral(ctx, chat, cmd, Message{Status: StatusError, Text: "cannot read the audit trail right now"})
	}
	return b.ephemeral(ctx, chat, cmd, historyAllMessage(recs, req.Query))
}

// historyAllMessage is HistoryMessage with the chat and channel of each row.
func historyAllMessage(records []audit.Record, query string) Message {
	return historyMessage(records, "Recent checks in every channel", query, true)
}
