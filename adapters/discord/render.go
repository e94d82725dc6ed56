package discord

import (
	"fmt"
	"strings"

	"github.com/bwmarrin/discordgo"

	"github.com/portcheck/portcheck/adapters/fit"
	"github.com/portcheck/portcheck/bot"
)

// Discord's limits, counted in UTF-16 units as Discord's own clients count
// them (an emoji outside the BMP costs two).
const (
	maxTitle        = 256
	maxDescription  = 4096
	maxFields       = 25
	maxFieldName    = 256
	maxFieldValue   = 1024
	maxEmbedTotal   = 6000
	maxContent      = 2000
	maxThreadName   = 100
	maxButtonLabel  = 80
	maxCustomID     = 100
	maxButtonsRow   = 5
	maxRows         = 5
	maxReplyPosts   = 5 // one Reply never floods a thread with more posts than this
	inlineFieldMax  = 40
	fence           = "```"
	fenceEscaped    = "`\u200b``" // a zero-width space keeps user text from closing our code block
	ellipsis        = "…"
	emptyFieldValue = "—"
)

// textLen counts like Discord does: UTF-16 units.
func textLen(s string) int { return fit.UTF16(s) }

// statusColour follows Discord's palette so verdicts read at a glance.
func statusColour(s bot.Status) int {
	switch s {
	case bot.StatusRunning, bot.StatusUnknown:
		return 0x95A5A6 // grey
	case bot.StatusOK:
		return 0x57F287 // green
	case bot.StatusProblem:
		return 0xED4245 // red
	case bot.StatusError:
		return 0xFEE75C // yellow: portcheck's failure, not the target's
	default:
		return 0x5865F2 // blurple
	}
}

// renderEmbed turns a Message into one embed within every embed limit: the
// first line of Text is the title, fields stay in order (inline when short),
// blocks make the description.
func renderEmbed(m bot.Message) *discordgo.MessageEmbed {
	head, rest := splitFirstLine(m.Text)
	title := head
	if e := bot.Mark(m.Status); e != "" {
		title = e + " " + head
	}
	e := &discordgo.MessageEmbed{Title: cutWords(title, maxTitle), Color: statusColour(m.Status)}
	used := textLen(e.Title)

	// Fields first: they are the at-a-glance facts, the description can shrink.
	fieldBudget := maxEmbedTotal - used - 512
	for i, f := range m.Fields {
		if i == maxFields-1 && len(m.Fields) > maxFields || i >= maxFields {
			e.Fields = append(e.Fields, moreField(len(m.Fields)-i))
			used += textLen(e.Fields[len(e.Fields)-1].Name) + textLen(e.Fields[len(e.Fields)-1].Value)
			break
		}
		ef := renderField(f)
		n := textLen(ef.Name) + textLen(ef.Value)
		if used+n > fieldBudget {
			e.Fields = append(e.Fields, moreField(len(m.Fields)-i))
			used += textLen(e.Fields[len(e.Fields)-1].Name) + textLen(e.Fields[len(e.Fields)-1].Value)
			break
		}
		e.Fields = append(e.Fields, ef)
		used += n
	}

	budget := min(maxDescription, maxEmbedTotal-used)
	var body []bot.Block
	if rest != "" {
		body = append(body, bot.Block{Kind: bot.BlockText, Text: rest})
	}
	e.Description = renderBlocks(append(body, m.Blocks...), budget)
	return e
}

func moreField(n int) *discordgo.MessageEmbedField {
	return &discordgo.MessageEmbedField{Name: ellipsis, Value: fmt.Sprintf("%d more not shown", n)}
}

func renderField(f bot.Field) *discordgo.MessageEmbedField {
	name, value := strings.TrimSpace(f.Name), strings.TrimSpace(f.Value)
	if name == "" {
		name = "\u200b" // Discord rejects empty field names
	}
	if value == "" {
		value = emptyFieldValue
	}
	value = cutText(value, maxFieldValue)
	return &discordgo.MessageEmbedField{
		Name:   cutWords(name, maxFieldName),
		Value:  value,
		Inline: textLen(value) <= inlineFieldMax && !strings.Contains(value, "\n"),
	}
}

// renderBlocks writes blocks as Discord markdown within budget. A block that
// does not fit is cut at a line boundary with a marker, and the sections
// after it are counted, not silently lost.
func renderBlocks(blocks []bot.Block, budget int) string {
	var b strings.Builder
	for i, blk := range blocks {
		sep := ""
		if b.Len() > 0 {
			sep = "\n"
		}
		whole := sep + renderBlock(blk)
		if textLen(b.String())+textLen(whole) <= budget {
			b.WriteString(whole)
			continue
		}
		left := len(blocks) - i - 1
		tail := ""
		if left > 0 {
			tail = fmt.Sprintf("\n%s %d more section%s cut", ellipsis, left, plural(left))
		}
		head := sep + blockHeader(blk)
		over := textLen(head) + textLen(tail)
		if blk.Kind == bot.BlockCode {
			over += textLen(fence+"\n") + textLen("\n"+fence)
		}
		room := budget - textLen(b.String()) - over
		if room >= 24 { // below this a cut block says nothing useful
			b.WriteString(head)
			inner := cutText(escapeFence(blk, strings.TrimRight(blk.Text, "\n")), room)
			if blk.Kind == bot.BlockCode {
				inner = fence + "\n" + inner + "\n" + fence
			}
			b.WriteString(inner)
			b.WriteString(tail)
		} else {
			left++
			marker := fmt.Sprintf("%s%s %d more section%s cut", sep, ellipsis, left, plural(left))
			if textLen(b.String())+textLen(marker) <= budget {
				b.WriteString(marker)
			}
		}
		break
	}
	return b.String()
}

func blockHeader(blk bot.Block) string {
	if blk.Title == "" {
		return ""
	}
	return "**" + blk.Title + "**\n"
}

func renderBlock(blk bot.Block) string {
	text := escapeFence(blk, strings.TrimRight(blk.Text, "\n"))
	if blk.Kind == bot.BlockCode {
		text = fence + "\n" + text + "\n" + fence
	}
	return blockHeader(blk) + text
}

func escapeFence(blk bot.Block, s string) string {
	if blk.Kind != bot.BlockCode {
		return s
	}
	return strings.ReplaceAll(s, fence, fenceEscaped)
}

// renderPosts renders a Message as plain message content for thread replies
// and follow-ups: content needs no Embed Links permission, and a long
// trace is split at line boundaries into several posts, each with its code
// fence closed and reopened, at most maxReplyPosts of them.
func renderPosts(m bot.Message) []string {
	var units []string
	head, rest := splitFirstLine(m.Text)
	if head != "" {
		line := "**" + head + "**"
		if e := bot.Mark(m.Status); e != "" {
			line = e + " " + line
		}
		units = append(units, splitLines(line, unitMax)...)
	}
	if rest != "" {
		units = append(units, splitLines(rest, unitMax)...)
	}
	for _, f := range m.Fields {
		units = append(units, splitLines("**"+strings.TrimSpace(f.Name)+":** "+strings.TrimSpace(f.Value), unitMax)...)
	}
	for _, blk := range m.Blocks {
		units = append(units, blockUnits(blk)...)
	}

	var posts []string
	var cur strings.Builder
	for i, u := range units {
		sep := ""
		if cur.Len() > 0 {
			sep = "\n"
		}
		last := len(posts) == maxReplyPosts-1
		limit := maxContent
		if last && i < len(units)-1 {
			limit = unitMax // keep room for the marker
		}
		if textLen(cur.String())+textLen(sep+u) <= limit {
			cur.WriteString(sep + u)
			continue
		}
		if last {
			// Say how much is missing instead of posting more.
			lines := 0
			for _, rest := range units[i:] {
				lines += strings.Count(rest, "\n") + 1
			}
			cur.WriteString(fmt.Sprintf("\n%s %d more line%s cut", ellipsis, lines, plural(lines)))
			return append(posts, cur.String())
		}
		posts = append(posts, cur.String())
		cur.Reset()
		cur.WriteString(u)
	}
	if cur.Len() > 0 {
		posts = append(posts, cur.String())
	}
	if len(posts) == 0 {
		posts = []string{ellipsis}
	}
	return posts
}

// unitMax leaves room in a post for the "N more lines cut" marker.
const unitMax = maxContent - 40

// blockUnits splits one block into postable pieces, each a complete code
// block when the block is code.
func blockUnits(blk bot.Block) []string {
	text := escapeFence(blk, strings.TrimRight(blk.Text, "\n"))
	if blk.Kind != bot.BlockCode {
		return splitLines(blockHeader(blk)+text, unitMax)
	}
	header := blockHeader(blk)
	overhead := textLen(fence+"\n") + textLen("\n"+fence)
	var units []string
	for i, piece := range splitLines(text, unitMax-overhead-textLen(header)) {
		u := fence + "\n" + piece + "\n" + fence
		if i == 0 {
			u = header + u
		}
		units = append(units, u)
	}
	return units
}

// splitLines cuts s into pieces of at most max units at line boundaries; a
// single line longer than max is split at spaces.
func splitLines(s string, max int) []string { return fit.Lines(s, max, fit.UTF16) }

// cutText shortens s to max units, keeping whole lines and ending with a
// marker that says how many lines were cut.
func cutText(s string, max int) string {
	if textLen(s) <= max {
		return s
	}
	lines := strings.Split(s, "\n")
	marker := func(n int) string { return fmt.Sprintf("%s %d more line%s cut", ellipsis, n, plural(n)) }
	var b strings.Builder
	kept := 0
	for kept < len(lines) {
		sep := ""
		if kept > 0 {
			sep = "\n"
		}
		next := textLen(b.String()) + textLen(sep+lines[kept])
		if next+1+textLen(marker(len(lines)-kept-1)) > max {
			break
		}
		b.WriteString(sep + lines[kept])
		kept++
	}
	if kept == 0 {
		// Even the first line is too long: cut it at a word.
		m := ""
		if len(lines) > 1 {
			m = "\n" + marker(len(lines)-1)
		}
		if len(lines) > 1 && max-textLen(m) < 8 {
			m = "\n" + ellipsis // no room to count, but never cut silently
		}
		return cutWords(lines[0], max-textLen(m)) + m
	}
	return b.String() + "\n" + marker(len(lines)-kept)
}

// cutWords shortens one line to max units, at a word when it can, and
// marks the cut with an ellipsis.
func cutWords(s string, max int) string { return fit.Cut(s, max, fit.UTF16, ellipsis) }

func splitFirstLine(s string) (string, string) {
	s = strings.TrimSpace(s)
	head, rest, _ := strings.Cut(s, "\n")
	return strings.TrimSpace(head), strings.TrimSpace(rest)
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// renderComponents turns buttons into action rows (5 per row, 5 rows).
func renderComponents(buttons []bot.Button) []discordgo.MessageComponent {
	var rows []discordgo.MessageComponent
	var row discordgo.ActionsRow
	for _, b := range buttons {
		if len(rows) == maxRows {
			break
		}
		row.Components = append(row.Components, discordgo.Button{
			Label:    cutWords(b.Label, maxButtonLabel),
			Style:    discordgo.SecondaryButton,
			CustomID: encodeCustomID(b),
		})
		if len(row.Components) == maxButtonsRow {
			rows = append(rows, row)
			row = discordgo.ActionsRow{}
		}
	}
	if len(row.Components) > 0 && len(rows) < maxRows {
		rows = append(rows, row)
	}
	return rows
}

// encodeCustomID packs a button as "id" or "id:value"; decodeCustomID turns a
// click back into the command text ("again", or "id value").
func encodeCustomID(b bot.Button) string {
	id := b.ID
	if b.Value != "" && b.Value != b.ID {
		id += ":" + b.Value
	}
	return fit.Head(id, maxCustomID, fit.UTF16)
}

func decodeCustomID(s string) string {
	id, value, _ := strings.Cut(s, ":")
	return strings.TrimSpace(id + " " + value)
}

// noMentions keeps user-typed text ("@everyone", role mentions) echoed in a
// verdict from pinging anyone.
func noMentions() *discordgo.MessageAllowedMentions {
	return &discordgo.MessageAllowedMentions{Parse: []discordgo.AllowedMentionType{}}
}
