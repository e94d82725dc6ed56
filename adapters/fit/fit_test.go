package fit_test

import (
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/portcheck/portcheck/adapters/fit"
)

// escaped counts like Slack: characters after &, < and > are escaped.
func escaped(s string) int {
	return fit.Runes(strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s))
}

func TestSplitText(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		budget int
		want   []string
	}{
		{"fits", "a b\nc", 10, []string{"a b\nc"}},
		{"at lines", "aaa\nbbb\nccc", 7, []string{"aaa\nbbb", "ccc"}},
		{"long line at spaces", "one two three four", 9, []string{"one two ", "three ", "four"}},
		{"word longer than budget", "abcdefghij", 4, []string{"abcd", "efgh", "ij"}},
		{"multibyte not cut mid-rune", "ééééé", 2, []string{"éé", "éé", "é"}},
		{"escaping counts", "a&b", 6, []string{"a&", "b"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := fit.Split(tt.in, tt.budget, escaped)
			if fmt.Sprintf("%q", got) != fmt.Sprintf("%q", tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// Splitting loses nothing, respects the budget, and only cuts inside a word
// when the word alone exceeds the budget.
func TestSplitTextProperties(t *testing.T) {
	words := []string{"reset", "from", "10.0.0.1", "ICMP", "admin-prohibited", "<filtered>", "&", "hop", "é"}
	for budget := 5; budget < 200; budget += 7 {
		var b strings.Builder
		for i := range 500 {
			b.WriteString(words[(i*7+budget)%len(words)])
			switch {
			case i%11 == 0:
				b.WriteString("\n")
			default:
				b.WriteString(" ")
			}
		}
		in := b.String()
		chunks := fit.Split(in, budget, escaped)
		var joined strings.Builder
		for i, c := range chunks {
			if escaped(c) > budget {
				t.Fatalf("budget %d: chunk %d costs %d", budget, i, escaped(c))
			}
			if i > 0 && !strings.HasSuffix(chunks[i-1], " ") {
				joined.WriteString("\n") // split at a line boundary: the newline was the separator
			}
			joined.WriteString(c)
			if i < len(chunks)-1 && !utf8.ValidString(c) {
				t.Fatalf("invalid utf-8 chunk")
			}
		}
		// Below the longest word's cost words may be cut, and the rebuild
		// rule above (space = same line) no longer tells the cuts apart.
		if budget >= 20 && joined.String() != in {
			t.Fatalf("budget %d: chunks do not rebuild the input", budget)
		}
	}
}

func TestCut(t *testing.T) {
	for _, tc := range []struct {
		in     string
		budget int
		cost   fit.Cost
		marker string
		want   string
	}{
		{"short", 10, fit.Runes, "…", "short"},
		{"alpha beta gamma delta", 16, escaped, " … (cut)", "alpha … (cut)"},
		{"a single line that is far too long for the limit", 20, fit.UTF16, "…", "a single line that…"},
		{"héllo wörld ünïcode", 12, fit.UTF16, "…", "héllo wörld…"},
		{"🔴🔴🔴🔴", 5, fit.UTF16, "…", "🔴🔴…"},
		{"anything", 1, fit.Runes, "…", "…"},
	} {
		if got := fit.Cut(tc.in, tc.budget, tc.cost, tc.marker); got != tc.want || tc.cost(got) > tc.budget {
			t.Errorf("Cut(%q, %d) = %q, want %q", tc.in, tc.budget, got, tc.want)
		}
	}
}

func TestLinesDropTheSpacesAtACut(t *testing.T) {
	got := fit.Lines("one two three\nfour", 9, fit.Runes)
	if fmt.Sprintf("%q", got) != `["one two" "three" "four"]` {
		t.Errorf("got %q", got)
	}
}

// Splitting never breaks a rune, and every chunk is within the budget.
func FuzzSplit(f *testing.F) {
	f.Add("one two three\nfour 🔴 é", 3)
	f.Fuzz(func(t *testing.T, s string, budget int) {
		if budget < 1 || budget > 1000 || !utf8.ValidString(s) {
			return
		}
		chunks := fit.Split(s, budget, fit.UTF16)
		for _, c := range chunks {
			if !utf8.ValidString(c) {
				t.Fatalf("chunk %q is not valid UTF-8", c)
			}
			if fit.UTF16(c) > budget && utf8.RuneCountInString(c) > 1 {
				t.Fatalf("chunk %q costs %d > %d", c, fit.UTF16(c), budget)
			}
		}
	})
}
