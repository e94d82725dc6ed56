package discord

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/bwmarrin/discordgo"

	"github.com/portcheck/portcheck/bot"
	goldenpkg "github.com/portcheck/portcheck/internal/golden"
)

func golden(t *testing.T, name string, got []byte) { t.Helper(); goldenpkg.Check(t, name, got) }

func traceLines(n int) string {
	var b strings.Builder
	for i := 1; i <= n; i++ {
		if i > 1 {
			b.WriteByte('\n')
		}
		fmt.Fprintf(&b, "%2d  10.%d.0.1  %d.%03d ms  (SYN sent, no answer from the next hop)", i, i, i, i*7)
	}
	return b.String()
}

var renderCases = []struct {
	name string
	msg  bot.Message
}{
	{"running", running},
	{"refused", refused},
	{"ok", bot.Message{Status: bot.StatusOK, Text: "db01:5432 open from eu-1 (PostgreSQL)",
		Fields: []bot.Field{{Name: "target", Value: "db01:5432"}, {Name: "address", Value: "2001:db8::5"}, {Name: "vantage", Value: "eu-1"}, {Name: "elapsed", Value: "3ms"}}}},
	{"error", bot.Message{Status: bot.StatusError, Text: "portcheck failed: worker deadline exceeded\nThe job was retried twice."}},
	{"evidence", bot.Message{Status: bot.StatusInfo, Text: "Evidence from eu-1",
		Blocks: []bot.Block{
			{Kind: bot.BlockText, Title: "What the probes saw", Text: "TCP: no answer within 3s (filtered)\nICMP: host answers ping"},
			{Kind: bot.BlockCode, Title: "trace to :443", Text: traceLines(6)},
			{Kind: bot.BlockCode, Title: "try", Text: "nc -vz web01 443\necho '```' is escaped"},
		}}},
	{"long-trace", bot.Message{Status: bot.StatusProblem, Text: "web01:443 filtered: packets stop after hop 7",
		Blocks: []bot.Block{
			{Kind: bot.BlockCode, Title: "trace", Text: traceLines(120)},
			{Kind: bot.BlockText, Title: "hints", Text: "Ask the firewall owner of 10.7.0.1."},
		}}},
	{"many-fields", bot.Message{Status: bot.StatusOK, Text: strings.Repeat("very long headline ", 20), Fields: manyFields(30)}},
	// A watch's parent: Re-check, and Stop for that watch only.
	{"watch", bot.Message{Status: bot.StatusOK, Text: "web01:443 — open · 198.18.3.10 · 12ms · watching every 30s until 15:02",
		Fields:  []bot.Field{{Name: "target", Value: "web01:443"}, {Name: "vantage", Value: "local"}},
		Buttons: []bot.Button{{ID: "again", Label: "Re-check", Value: "again"}, {ID: "stop", Label: "Stop", Value: "stop"}}}},
}

func manyFields(n int) []bot.Field {
	var f []bot.Field
	for i := range n {
		f = append(f, bot.Field{Name: fmt.Sprintf("port %d", 8000+i), Value: "open"})
	}
	f[3].Value = strings.Repeat("long value line\n", 100)
	return f
}

func TestEmbedGolden(t *testing.T) {
	for _, tc := range renderCases {
		t.Run(tc.name, func(t *testing.T) {
			e := renderEmbed(tc.msg)
			checkEmbedLimits(t, e)
			got, err := json.MarshalIndent(struct {
				Embeds     []*discordgo.MessageEmbed    `json:"embeds"`
				Components []discordgo.MessageComponent `json:"components,omitempty"`
			}{[]*discordgo.MessageEmbed{e}, renderComponents(tc.msg.Buttons)}, "", "  ")
			if err != nil {
				t.Fatal(err)
			}
			golden(t, "embed_"+tc.name+".json", append(got, '\n'))
		})
	}
}

func TestPostsGolden(t *testing.T) {
	for _, tc := range renderCases {
		t.Run(tc.name, func(t *testing.T) {
			posts := renderPosts(tc.msg)
			var b strings.Builder
			for i, p := range posts {
				if n := textLen(p); n > maxContent {
					t.Errorf("post %d is %d long", i, n)
				}
				if strings.Count(p, fence)%2 != 0 {
					t.Errorf("post %d leaves a code block open:\n%s", i, p)
				}
				fmt.Fprintf(&b, "----- post %d (%d chars)\n%s\n", i+1, textLen(p), p)
			}
			golden(t, "posts_"+tc.name+".txt", []byte(b.String()))
		})
	}
}

func checkEmbedLimits(t *testing.T, e *discordgo.MessageEmbed) {
	t.Helper()
	total := textLen(e.Title) + textLen(e.Description)
	if textLen(e.Title) > maxTitle {
		t.Errorf("title %d > %d", textLen(e.Title), maxTitle)
	}
	if textLen(e.Description) > maxDescription {
		t.Errorf("description %d > %d", textLen(e.Description), maxDescription)
	}
	if strings.Count(e.Description, fence)%2 != 0 {
		t.Errorf("description leaves a code block open")
	}
	if len(e.Fields) > maxFields {
		t.Errorf("%d fields > %d", len(e.Fields), maxFields)
	}
	for _, f := range e.Fields {
		if textLen(f.Name) > maxFieldName || textLen(f.Value) > maxFieldValue || f.Name == "" || f.Value == "" {
			t.Errorf("field %q: name %d value %d", f.Name, textLen(f.Name), textLen(f.Value))
		}
		total += textLen(f.Name) + textLen(f.Value)
	}
	if total > maxEmbedTotal {
		t.Errorf("embed total %d > %d", total, maxEmbedTotal)
	}
}

func TestEmbedLimitsUnderPressure(t *testing.T) {
	huge := strings.Repeat("🔥 word ", 3000)
	m := bot.Message{Status: bot.StatusProblem, Text: huge, Fields: manyFields(60)}
	for i := range 10 {
		m.Blocks = append(m.Blocks, bot.Block{Kind: bot.BlockCode, Title: fmt.Sprint("block ", i), Text: traceLines(80)})
	}
	for i := range m.Fields {
		m.Fields[i].Value = strings.Repeat("x", 2000)
	}
	checkEmbedLimits(t, renderEmbed(m))
	posts := renderPosts(m)
	if len(posts) != maxReplyPosts {
		t.Errorf("%d posts, want the cap %d", len(posts), maxReplyPosts)
	}
	if !strings.Contains(posts[len(posts)-1], "more lines cut") {
		t.Errorf("last post does not say what was cut:\n%s", posts[len(posts)-1])
	}
	for i, p := range posts {
		if textLen(p) > maxContent || strings.Count(p, fence)%2 != 0 {
			t.Errorf("post %d: %d chars, fences balanced=%v", i, textLen(p), strings.Count(p, fence)%2 == 0)
		}
	}
}

func TestCutText(t *testing.T) {
	for _, tc := range []struct {
		in   string
		max  int
		want string
	}{
		{"short", 10, "short"},
		{"line one\nline two\nline three\nline four", 30, "line one\n… 3 more lines cut"},
		{"line one\nline two\nline three", 27, "line one\n… 2 more lines cut"},
		{"line one\nline two\nline three", 25, "line one\n…"},
		{"a single line that is far too long for the limit", 20, "a single line that…"},
		{"héllo wörld ünïcode", 12, "héllo wörld…"},
	} {
		if got := cutText(tc.in, tc.max); got != tc.want || textLen(got) > tc.max {
			t.Errorf("cutText(%q, %d) = %q, want %q", tc.in, tc.max, got, tc.want)
		}
	}
}

func TestCustomIDRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		b    bot.Button
		id   string
		text string
	}{
		{bot.Button{ID: "again", Label: "Re-check"}, "again", "again"},
		{bot.Button{ID: "again", Value: "again"}, "again", "again"},
		{bot.Button{ID: "watch", Value: "web01:443"}, "watch:web01:443", "watch web01:443"},
	} {
		id := encodeCustomID(tc.b)
		if id != tc.id || decodeCustomID(id) != tc.text {
			t.Errorf("%+v -> %q -> %q, want %q -> %q", tc.b, id, decodeCustomID(id), tc.id, tc.text)
		}
	}
}
