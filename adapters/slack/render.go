package slack

import (
	"fmt"
	"strings"

	slackgo "github.com/slack-go/slack"

	"github.com/portcheck/portcheck/adapters/fit"
	"github.com/portcheck/portcheck/bot"
)

// Slack's Block Kit limits (https://docs.slack.dev/reference/block-kit).
// Lengths are counted in characters after escaping, like Slack does.
const (
	maxSectionText = 3000
	maxFieldText   = 2000
	maxFields      = 10
	maxBlocks      = 50
	maxFallback    = 3000  // the top-level text: Slack truncates at 40k, notifications show far less
	maxPageText    = 40000 // all section text of one message, to stay well inside the payload limit
	maxButtonLabel = 75
	maxButtonValue = 2000
	cutMarker      = "… (cut)"
)

// rendered is one Slack message: what chat.postMessage / chat.update get.
type rendered struct {
	Text   string          `json:"text"`
	Blocks []slackgo.Block `json:"blocks"`
}

func (r rendered) options() []slackgo.MsgOption {
	return []slackgo.MsgOption{slackgo.MsgOptionText(r.Text, false), slackgo.MsgOptionBlocks(r.Blocks...)}
}

// escape makes text safe for mrkdwn: Slack reads <…> as links and mentions,
// so user-typed text (targets, banners) must not smuggle a <!channel> in.
func escape(s string) string {
	if !strings.ContainsAny(s, "&<>") {
		return s
	}
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}

// escapeCode also defuses a ``` inside preformatted text, which would close
// the code block early.
func escapeCode(s string) string {
	return strings.ReplaceAll(escape(s), "```", "`\u200b``")
}

func escapedLen(s string) int     { return fit.Runes(escape(s)) }
func escapedCodeLen(s string) int { return fit.Runes(escapeCode(s)) }

// cutText returns s if it fits budget, otherwise its head (cut at a line or
// word boundary) followed by the cut marker.
func cutText(s string, budget int, cost fit.Cost) string {
	sep := " "
	if strings.Contains(s, "\n") {
		sep = "\n"
	}
	return fit.Cut(s, budget, cost, sep+cutMarker)
}

func mrkdwn(s string) *slackgo.TextBlockObject {
	return slackgo.NewTextBlockObject(slackgo.MarkdownType, s, false, false)
}

func section(s string) *slackgo.SectionBlock { return slackgo.NewSectionBlock(mrkdwn(s), nil, nil) }

// renderBlocks turns a Message into Block Kit blocks with no limit on their
// number; the callers fit them into one message (parent) or pages (replies).
// Each block's own text limit is respected here.
func renderBlocks(m bot.Message) []slackgo.Block {
	var blocks []slackgo.Block
	if m.Text != "" {
		head := escape(m.Text)
		if e := bot.Mark(m.Status); e != "" {
			head = e + " " + head
		}
		blocks = append(blocks, section(cutText(head, maxSectionText, fit.Runes)))
	}
	for i := 0; i < len(m.Fields); i += maxFields {
		var fields []*slackgo.TextBlockObject
		for _, f := range m.Fields[i:min(i+maxFields, len(m.Fields))] {
			name := "*" + escape(f.Name) + "*\n"
			budget := maxFieldText - fit.Runes(name)
			fields = append(fields, mrkdwn(name+escape(cutText(f.Value, budget, escapedLen))))
		}
		blocks = append(blocks, slackgo.NewSectionBlock(nil, fields, nil))
	}
	for _, b := range m.Blocks {
		blocks = append(blocks, renderBody(b)...)
	}
	if len(m.Buttons) > 0 {
		var elems []slackgo.BlockElement
		for _, b := range m.Buttons {
			label := slackgo.NewTextBlockObject(slackgo.PlainTextType, cutText(b.Label, maxButtonLabel, fit.Runes), false, false)
			// A value cut mid-way would be a wrong value: better none.
			value := b.Value
			if fit.Runes(value) > maxButtonValue {
				value = ""
			}
			elems = append(elems, slackgo.NewButtonBlockElement(b.ID, value, label))
		}
		blocks = append(blocks, slackgo.NewActionBlock("actions", elems...))
	}
	return blocks
}

// renderBody renders one titled block as one or more sections: long text
// continues in further sections (and code in further code blocks) rather than
// being cut, so the thread keeps the whole trace.
func renderBody(b bot.Block) []slackgo.Block {
	title := ""
	if b.Title != "" {
		title = "*" + escape(b.Title) + "*\n"
	}
	titleLen := fit.Runes(title)
	text := strings.TrimRight(b.Text, "\n")
	var out []slackgo.Block
	switch b.Kind {
	case bot.BlockCode:
		const fences = len("```\n") + len("\n```")
		for i, chunk := range fit.Split(text, maxSectionText-titleLen-fences, escapedCodeLen) {
			prefix := ""
			if i == 0 {
				prefix = title
			}
			out = append(out, section(prefix+"```\n"+escapeCode(chunk)+"\n```"))
		}
	default:
		for i, chunk := range fit.Split(text, maxSectionText-titleLen, escapedLen) {
			prefix := ""
			if i == 0 {
				prefix = title
			}
			out = append(out, section(prefix+escape(chunk)))
		}
	}
	return out
}

func fallback(m bot.Message) string {
	t := m.Text
	if t == "" && len(m.Blocks) > 0 {
		t = m.Blocks[0].Title
	}
	if t == "" {
		t = "portcheck"
	}
	return escape(cutText(t, maxFallback, escapedLen))
}

func blockTextLen(b slackgo.Block) int {
	s, ok := b.(*slackgo.SectionBlock)
	if !ok {
		return 0
	}
	n := 0
	if s.Text != nil {
		n += fit.Runes(s.Text.Text)
	}
	for _, f := range s.Fields {
		n += fit.Runes(f.Text)
	}
	return n
}

// renderParent renders a message that must stay one Slack message (the
// thread parent, which is posted then edited): blocks beyond the limit are
// dropped with a visible marker, keeping the buttons.
func renderParent(m bot.Message) rendered {
	blocks := renderBlocks(m)
	var actions []slackgo.Block
	if n := len(blocks); n > 0 && blocks[n-1].BlockType() == slackgo.MBTAction {
		actions, blocks = blocks[n-1:], blocks[:n-1]
	}
	room := maxBlocks - len(actions)
	total, kept := 0, 0
	for _, b := range blocks {
		total += blockTextLen(b)
		if kept == room || total > maxPageText {
			break
		}
		kept++
	}
	if kept < len(blocks) {
		kept = min(kept, room-1)
		blocks = append(blocks[:kept:kept], cutBlock(len(blocks)-kept))
	}
	return rendered{Text: fallback(m), Blocks: append(blocks, actions...)}
}

func cutBlock(n int) slackgo.Block {
	return slackgo.NewContextBlock("cut", mrkdwn(fmt.Sprintf("%s: %d more block(s) not shown", cutMarker, n)))
}

// renderPages renders a threaded reply, split into as many messages as the
// limits need; each page after the first says where it belongs.
func renderPages(m bot.Message) []rendered {
	blocks := renderBlocks(m)
	var pages [][]slackgo.Block
	var cur []slackgo.Block
	total := 0
	for _, b := range blocks {
		n := blockTextLen(b)
		if len(cur) == maxBlocks || (len(cur) > 0 && total+n > maxPageText) {
			pages = append(pages, cur)
			cur, total = nil, 0
		}
		cur = append(cur, b)
		total += n
	}
	if len(cur) > 0 || len(pages) == 0 {
		pages = append(pages, cur)
	}
	text := fallback(m)
	out := make([]rendered, len(pages))
	for i, p := range pages {
		t := text
		if len(pages) > 1 {
			t = fmt.Sprintf("%s (%d/%d)", text, i+1, len(pages))
		}
		out[i] = rendered{Text: t, Blocks: p}
	}
	return out
}
