package shell

import (
	"bytes"
	"context"
	"testing"

	"github.com/portcheck/portcheck/bot"
	"github.com/portcheck/portcheck/internal/leaktest"
)

// No internal router address of a public target's evidence in what the
// shell prints, for every hint template (issue 17).
func FuzzNoRouterAddress(f *testing.F) {
	leaktest.Fuzz(f, func(t *testing.T, m bot.Message) []string {
		var out bytes.Buffer
		s := New(Options{Out: &out})
		th, err := s.Start(context.Background(), s.channel, m)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Reply(context.Background(), th, m); err != nil {
			t.Fatal(err)
		}
		return []string{out.String()}
	})
}
