package bot_test

import (
	"strings"
	"testing"
	"time"

	"github.com/portcheck/portcheck/bot"
	"github.com/portcheck/portcheck/wire"
)

func TestVantagesMessage(t *testing.T) {
	now := time.Date(2026, 11, 24, 14, 0, 0, 0, time.UTC)
	ws := []wire.WorkerInfo{
		{Vantage: "office", Worker: "ber-1", Version: "v1.2.0", Labels: map[string]string{"site": "ber", "net": "corp"}, LastSeen: now.Add(-4 * time.Second)},
		{Vantage: "internet", Worker: "fra-7", Version: "v1.2.0", LastSeen: now.Add(-12 * time.Second)},
	}
	tests := []struct {
		name  string
		local bool
		ws    []wire.WorkerInfo
		want  string
	}{
		{"local only", true, nil, "info: only the local vantage is available: local\n" +
			"  Run `portcheck worker --vantage NAME` elsewhere (with Redis) to check from other places."},
		{"nobody", false, nil, "info: no vantage is being served: no worker is running\n" +
			"  Run `portcheck worker --vantage NAME` (with REDIS_URL) where you want to check from."},
		{"workers and the local one", true, ws, "info: 3 vantages: local, internet, office\n" +
			"  ┌ Workers\n" +
			"  │ local     this process  -       -                  now\n" +
			"  │ internet  fra-7         v1.2.0  -                  seen 12s ago\n" +
			"  │ office    ber-1         v1.2.0  net=corp,site=ber  seen 4s ago\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := bot.VantagesMessage("local", tt.local, tt.ws, now)
			got := string(m.Status) + ": " + m.Text
			for _, b := range m.Blocks {
				if b.Title != "" {
					got += "\n  ┌ " + b.Title
				}
				for _, l := range strings.Split(b.Text, "\n") {
					if b.Kind == bot.BlockCode {
						got += "\n  │ " + l
					} else {
						got += "\n  " + l
					}
				}
			}
			if !strings.HasPrefix(got, tt.want) {
				t.Errorf("got\n%s\nwant prefix\n%s", got, tt.want)
			}
		})
	}
}
