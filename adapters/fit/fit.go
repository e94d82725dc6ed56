// Package fit cuts text to a chat's limits, the one engine every renderer
// uses (Slack, Discord, the terminal). A platform differs only in how it
// counts (Cost: Slack counts characters after escaping, Discord UTF-16
// units, a terminal runes) and in the marker it leaves where text was cut.
// Text is cut at line boundaries when it can, then at spaces, and inside a
// word only when one word alone is over the budget: never inside a rune.
package fit

import (
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// Cost is how a platform counts a string against its limits. It must be
// additive over concatenation (escaping and UTF-16 are per character).
type Cost func(string) int

// Runes counts characters (a terminal, Slack before escaping).
func Runes(s string) int { return utf8.RuneCountInString(s) }

// UTF16 counts UTF-16 units, as Discord does (an emoji outside the BMP
// costs two).
func UTF16(s string) int {
	n := 0
	for _, r := range s {
		n += utf16.RuneLen(r)
	}
	return n
}

// Split cuts s into chunks whose cost is at most budget: at line
// boundaries when it can, then at spaces (a chunk keeps its trailing
// space), and inside a word only when the word alone is over the budget.
func Split(s string, budget int, cost Cost) []string {
	if budget < 1 {
		budget = 1
	}
	if cost(s) <= budget {
		return []string{s}
	}
	return pack(strings.Split(s, "\n"), "\n", budget, cost, func(line string) []string {
		return pack(strings.SplitAfter(line, " "), "", budget, cost, func(word string) []string {
			return splitRunes(word, budget, cost)
		})
	})
}

// Head is the first chunk Split would cut: the longest head of s within
// budget that ends at a line, else a word, boundary.
func Head(s string, budget int, cost Cost) string { return Split(s, budget, cost)[0] }

// Cut returns s when it fits budget, otherwise its head followed by
// marker, within budget: as many whole lines as fit, else as many whole
// words of the first line, else its first runes. Blanks at the cut are
// dropped, so they cost nothing.
func Cut(s string, budget int, cost Cost, marker string) string {
	if cost(s) <= budget {
		return s
	}
	b := budget - cost(marker)
	if b <= 0 {
		return Head(marker, budget, cost)
	}
	return head(s, b, cost) + marker
}

// head is the longest prefix of s within b ending at a line boundary, else
// at a word boundary of the first line, else inside the first word.
func head(s string, b int, cost Cost) string {
	// Costs only grow with the prefix, so the scan stops at the first
	// boundary over b.
	upTo := func(text string, sep byte) string {
		best := ""
		for i := 0; i < len(text); i++ {
			if text[i] != sep {
				continue
			}
			p := strings.TrimRight(text[:i], " \n")
			if cost(p) > b {
				break
			}
			best = p
		}
		return best
	}
	if h := upTo(s, '\n'); h != "" {
		return h
	}
	line, _, _ := strings.Cut(s, "\n")
	if h := upTo(line+" ", ' '); h != "" {
		return h
	}
	return strings.TrimRight(splitRunes(line, b, cost)[0], " ")
}

// Lines cuts s into pieces of at most budget at line boundaries, joining
// short lines; a line over the budget is split at spaces (the spaces at
// the cut are dropped).
func Lines(s string, budget int, cost Cost) []string {
	var out []string
	for _, chunk := range Split(s, budget, cost) {
		out = append(out, strings.TrimRight(chunk, " "))
	}
	return out
}

// pack joins parts with sep into chunks of at most budget; a part larger
// than budget is broken by smaller.
func pack(parts []string, sep string, budget int, cost Cost, smaller func(string) []string) []string {
	var chunks []string
	var cur strings.Builder
	curCost, started := 0, false
	flush := func() {
		if started {
			chunks = append(chunks, cur.String())
		}
		cur.Reset()
		curCost, started = 0, false
	}
	add := func(p string, c int) {
		if started {
			cur.WriteString(sep)
			curCost += cost(sep)
		}
		cur.WriteString(p)
		curCost += c
		started = true
	}
	for _, p := range parts {
		c := cost(p)
		if c > budget {
			flush()
			pieces := smaller(p)
			chunks = append(chunks, pieces[:len(pieces)-1]...)
			last := pieces[len(pieces)-1]
			add(last, cost(last))
			continue
		}
		extra := c
		if started {
			extra += cost(sep)
		}
		if curCost+extra > budget {
			flush()
		}
		add(p, c)
	}
	flush()
	return chunks
}

func splitRunes(s string, budget int, cost Cost) []string {
	var chunks []string
	start, c := 0, 0
	for i, r := range s {
		rc := cost(string(r))
		if c+rc > budget && i > start {
			chunks = append(chunks, s[start:i])
			start, c = i, 0
		}
		c += rc
	}
	return append(chunks, s[start:])
}
