package app

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/portcheck/portcheck/config"
)

func TestNewLogger(t *testing.T) {
	cases := []struct {
		name     string
		cfg      config.Log
		wantJSON bool
		debug    bool // debug lines are written
	}{
		{"defaults", config.Defaults().Log, false, false},
		{"json debug", config.Log{Format: "json", Level: "debug"}, true, true},
		{"text warn", config.Log{Format: "text", Level: "warn"}, false, false},
		{"unknown level falls back to info", config.Log{Format: "json", Level: "loud"}, true, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var b strings.Builder
			log := newLogger(tc.cfg, &b, "worker")
			log.Debug("job started", "job_id", "j1")
			log.Error("job failed", "job_id", "j2")
			lines := strings.Split(strings.TrimSpace(b.String()), "\n")
			want := 1
			if tc.debug {
				want++
			}
			if len(lines) != want {
				t.Fatalf("%d lines, want %d:\n%s", len(lines), want, b.String())
			}
			last := lines[len(lines)-1]
			if tc.wantJSON {
				var m map[string]any
				if err := json.Unmarshal([]byte(last), &m); err != nil {
					t.Fatalf("not JSON: %q", last)
				}
				if m["cmd"] != "worker" || m["job_id"] != "j2" || m["msg"] != "job failed" {
					t.Errorf("line %v", m)
				}
			} else if !strings.Contains(last, "cmd=worker") || !strings.Contains(last, "job_id=j2") {
				t.Errorf("text line %q", last)
			}
		})
	}
}
