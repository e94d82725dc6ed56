package slack

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	slackgo "github.com/slack-go/slack"

	"github.com/portcheck/portcheck/bot"
	goldenpkg "github.com/portcheck/portcheck/internal/golden"
)

func trace(hops int) string {
	var b strings.Builder
	for i := 1; i <= hops; i++ {
		if i > 6 {
			fmt.Fprintf(&b, "%2d  * * *\n", i)
			continue
		}
		fmt.Fprintf(&b, "%2d  10.%d.0.1  %d.%d ms\n", i, i, i, i*7%10)
	}
	return b.String()
}

func verdictFields() []bot.Field {
	return []bot.Field{
		{Name: "Target", Value: "web01:443"},
		{Name: "Address", Value: "10.20.0.15"},
		{Name: "Vantage", Value: "eu-1"},
		{Name: "Elapsed", Value: "3.2s"},
	}
}

func goldenCases() map[string]any {
	long := trace(400) // ~ 6 kB: must continue over several code blocks
	var many []bot.Block
	for i := range 60 {
		many = append(many, bot.Block{Kind: bot.BlockText, Title: fmt.Sprintf("probe %d", i), Text: "no answer"})
	}
	return map[string]any{
		"parent_running": renderParent(bot.Message{Status: bot.StatusRunning, Text: "checking web01:443 from eu-1…",
			Fields: []bot.Field{{Name: "Target", Value: "web01:443"}, {Name: "Vantage", Value: "eu-1"}}}),
		"parent_verdict": renderParent(bot.Message{Status: bot.StatusProblem, Text: "web01:443 is filtered: SYN unanswered, hop 4 (10.4.0.1) is the last to answer",
			Fields: verdictFields(), Buttons: []bot.Button{{ID: "again", Label: "Re-check", Value: "web01:443"}}}),
		"parent_watch": renderParent(bot.Message{Status: bot.StatusOK, Text: "web01:443 — open · 10.20.0.15 · 12ms · watching every 30s until 15:02",
			Fields: verdictFields(), Buttons: []bot.Button{{ID: "again", Label: "Re-check", Value: "again"}, {ID: "stop", Label: "Stop", Value: "stop"}}}),
		"parent_ok": renderParent(bot.Message{Status: bot.StatusOK, Text: "web01:443 is open (SSH-2.0-OpenSSH_9.6)", Fields: verdictFields(),
			Buttons: []bot.Button{{ID: "again", Label: "Re-check", Value: "web01:443"}}}),
		"reply_evidence": renderPages(bot.Message{Status: bot.StatusInfo, Text: "evidence from eu-1", Blocks: []bot.Block{
			{Kind: bot.BlockText, Title: "TCP", Text: "SYN sent to 10.20.0.15:443 three times, no answer within 3s"},
			{Kind: bot.BlockCode, Title: "Trace to 10.20.0.15:443", Text: trace(8)},
		}}),
		"reply_hints": renderPages(bot.Message{Text: "what to try", Blocks: []bot.Block{
			{Kind: bot.BlockCode, Title: "Is the service listening?", Text: "ss -ltnp 'sport = :443'"},
			{Kind: bot.BlockCode, Title: "Is a firewall dropping it?", Text: "sudo nft list ruleset | grep -n 443\nsudo iptables -S | grep -- '--dport 443'"},
		}}),
		"escaping": renderPages(bot.Message{Status: bot.StatusError, Text: "bad target <!channel> & <@U123|ada>", Blocks: []bot.Block{
			{Kind: bot.BlockCode, Title: "banner <b>", Text: "HTTP/1.1 400 Bad Request\n```injected```\n<html>&nbsp;</html>"},
		}}),
		"reply_long_trace":       renderPages(bot.Message{Text: "trace", Blocks: []bot.Block{{Kind: bot.BlockCode, Title: "Trace", Text: long}}}),
		"parent_too_many_blocks": renderParent(bot.Message{Status: bot.StatusProblem, Text: "many", Blocks: many, Buttons: []bot.Button{{ID: "again", Label: "Re-check"}}}),
	}
}

func TestGoldenBlockKit(t *testing.T) {
	for name, v := range goldenCases() {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			enc := json.NewEncoder(&buf)
			enc.SetEscapeHTML(false) // keep &amp; readable in the goldens
			enc.SetIndent("", "  ")
			if err := enc.Encode(v); err != nil {
				t.Fatal(err)
			}
			goldenpkg.Check(t, name+".golden.json", buf.Bytes())
			// Whatever the golden says, it must be a valid Slack message.
			pages, ok := v.([]rendered)
			if !ok {
				pages = []rendered{v.(rendered)}
			}
			for _, p := range pages {
				checkLimits(t, p)
			}
		})
	}
}

// checkLimits asserts Slack's documented limits on one message.
func checkLimits(t *testing.T, r rendered) {
	t.Helper()
	if r.Text == "" {
		t.Error("no fallback text")
	}
	if n := utf8.RuneCountInString(r.Text); n > maxFallback+20 {
		t.Errorf("fallback text %d chars", n)
	}
	if len(r.Blocks) > maxBlocks {
		t.Errorf("%d blocks", len(r.Blocks))
	}
	total := 0
	for _, b := range r.Blocks {
		total += blockTextLen(b)
		s, ok := b.(*slackgo.SectionBlock)
		if !ok {
			continue
		}
		if s.Text != nil && utf8.RuneCountInString(s.Text.Text) > maxSectionText {
			t.Errorf("section text %d chars", utf8.RuneCountInString(s.Text.Text))
		}
		if len(s.Fields) > maxFields {
			t.Errorf("%d fields", len(s.Fields))
		}
		for _, f := range s.Fields {
			if utf8.RuneCountInString(f.Text) > maxFieldText {
				t.Errorf("field %d chars", utf8.RuneCountInString(f.Text))
			}
		}
		if s.Text != nil && strings.Count(s.Text.Text, "```")%2 != 0 {
			t.Errorf("unbalanced code fence in %q", s.Text.Text)
		}
	}
	if total > maxPageText {
		t.Errorf("message text %d chars", total)
	}
}

func TestCutText(t *testing.T) {
	got := cutText("alpha beta gamma delta", 16, escapedLen)
	if got != "alpha … (cut)" {
		t.Errorf("got %q", got)
	}
	got = cutText("line one\nline two\nline three", 20, escapedLen)
	if got != "line one\n… (cut)" {
		t.Errorf("got %q", got)
	}
	if got := cutText("short", 20, escapedLen); got != "short" {
		t.Errorf("got %q", got)
	}
}
