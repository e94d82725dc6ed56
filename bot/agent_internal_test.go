package bot

import "testing"

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
