package discord

import (
	"encoding/json"
	"testing"

	"github.com/portcheck/portcheck/bot"
	"github.com/portcheck/portcheck/internal/leaktest"
)

// No internal router address of a public target's evidence in an embed
// (the parent) or in the thread's posts, for every hint template (issue 17).
func FuzzNoRouterAddress(f *testing.F) {
	leaktest.Fuzz(f, func(t *testing.T, m bot.Message) []string {
		b, err := json.Marshal(renderEmbed(m))
		if err != nil {
			t.Fatal(err)
		}
		return append(renderPosts(m), string(b))
	})
}
