package bot

import (
	"fmt"
	"strings"
)

// RenderText lays a Message out as plain text (the shell, logs, tests): the
// headline with its status mark, then fields, blocks and buttons indented
// under it. Code blocks keep their lines exactly, behind a "│ " gutter, so
// commands stay copy-pasteable.
func RenderText(m Message) string {
	var b strings.Builder
	if mark := Mark(m.Status); mark != "" {
		b.WriteString(mark + " ")
	}
	b.WriteString(m.Text)
	b.WriteByte('\n')
	if len(m.Fields) > 0 {
		parts := make([]string, 0, len(m.Fields))
		for _, f := range m.Fields {
			parts = append(parts, f.Name+" "+f.Value)
		}
		b.WriteString("  " + strings.Join(parts, " · ") + "\n")
	}
	for _, bl := range m.Blocks {
		switch bl.Kind {
		case BlockCode:
			if bl.Title != "" {
				b.WriteString("  ┌ " + bl.Title + "\n")
			}
			for _, l := range strings.Split(bl.Text, "\n") {
				b.WriteString(strings.TrimRight("  │ "+l, " ") + "\n")
			}
		default:
			text := bl.Text
			if bl.Title != "" {
				text = bl.Title + ": " + text
			}
			for _, l := range strings.Split(text, "\n") {
				b.WriteString(strings.TrimRight("  "+l, " ") + "\n")
			}
		}
	}
	if len(m.Buttons) > 0 {
		parts := make([]string, 0, len(m.Buttons))
		for _, bt := range m.Buttons {
			parts = append(parts, "[ "+bt.Label+" ]")
		}
		b.WriteString("  " + strings.Join(parts, " ") + "\n")
	}
	return b.String()
}

// count says n things with the right noun: "1 watch", "2 watches".
func count(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}
