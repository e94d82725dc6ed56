package bot

import (
	"testing"

	"github.com/portcheck/portcheck/checks"
)

func TestSameHost(t *testing.T) {
	tests := []struct {
		target, name string
		want         bool
	}{
		{"web01", "web01", true},
		{"WEB01.", "web01", true},
		{"web01.example.com", "web01", true},
		{"web01", "web01.example.com", true},
		{"web01.example.com", "web01.example.com", true},
		{"web01.prod.example", "web01.staging.example", false},
		{"web010", "web01", false},
		{"198.18.0.1", "198.18.0.1", true},
		{"198.18.0.1", "198", false},
		{"[2001:db8::1]", "2001:db8::1", true},
		{"", "web01", false},
	}
	for _, tc := range tests {
		if got := sameHost(tc.target, tc.name); got != tc.want {
			t.Errorf("sameHost(%q, %q) = %v, want %v", tc.target, tc.name, got, tc.want)
		}
	}
	agents := []AgentInfo{{Vantage: "host:pca1", Names: []string{"pca1", "web01"}}}
	if v := agentFor(agents, "web01.example.com"); v != "host:pca1" {
		t.Errorf("agentFor(alias) = %q", v)
	}
	if v := agentFor(agents, "db1"); v != "" {
		t.Errorf("agentFor(db1) = %q", v)
	}
}

func TestNotInHints(t *testing.T) {
	lines := []string{
		"whether anything listens: `sudo ss -tlnp 'sport = :22'` (or `netstat -tuln | grep 22`)",
		"whether the service runs: `systemctl status ssh`",
		"no command here",
	}
	hints := []checks.Hint{{Text: "see", Commands: []string{"sudo ss -tlnp 'sport = :22'", "sudo netstat -tlnp"}}}
	got := notInHints(lines, hints)
	if len(got) != 2 || got[0] != lines[1] || got[1] != lines[2] {
		t.Errorf("notInHints = %q", got)
	}
}
