package suggest

import "testing"

func TestDistance(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		want int
	}{
		{"check", "check", 0}, {"chek", "check", 1}, {"chekc", "check", 1}, {"histroy", "history", 1},
		{"", "abc", 3}, {"vantage", "vantages", 1}, {"stop", "again", 5},
	} {
		if got := Distance(tt.a, tt.b); got != tt.want {
			t.Errorf("Distance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}
