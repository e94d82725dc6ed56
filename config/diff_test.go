package config

import (
	"strings"
	"testing"

	"github.com/portcheck/portcheck/admission/policy"
)

// Changes is what a reload logs: every YAML key whose value differs.
func TestChanges(t *testing.T) {
	yes, no := true, false
	cases := []struct {
		name string
		a, b policy.Config
		want []string
	}{
		{"same", policy.Config{Allow: []string{"10.0.0.0/8"}}, policy.Config{Allow: []string{"10.0.0.0/8"}}, nil},
		{"list", policy.Config{}, policy.Config{Deny: []string{"10.9.0.0/16"}}, []string{"policy.deny: [] -> [10.9.0.0/16]"}},
		{"scalars", policy.Config{MaxPorts: 64}, policy.Config{MaxPorts: 16, AllowPrivate: true},
			[]string{"policy.max_ports: 64 -> 16", "policy.allow_private: false -> true"}},
		{"pointer", policy.Config{RedactHops: &yes}, policy.Config{RedactHops: &no}, []string{"policy.redact_hops: true -> false"}},
		{"pointer to default", policy.Config{RedactHops: &yes}, policy.Config{}, []string{"policy.redact_hops: true -> (default)"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := Changes("policy", tc.a, tc.b)
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}
