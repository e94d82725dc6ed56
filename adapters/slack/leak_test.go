package slack

import (
	"encoding/json"
	"testing"

	"github.com/portcheck/portcheck/bot"
	"github.com/portcheck/portcheck/internal/leaktest"
)

// No internal router address of a public target's evidence in the Block
// Kit of a parent or a threaded reply, for every hint template (issue 17).
func FuzzNoRouterAddress(f *testing.F) {
	leaktest.Fuzz(f, func(t *testing.T, m bot.Message) []string {
		var out []string
		for _, r := range append([]rendered{renderParent(m)}, renderPages(m)...) {
			b, err := json.Marshal(r)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, string(b))
		}
		return out
	})
}
