package checks

import "testing"

func TestHopsFromTTL(t *testing.T) {
	tests := []struct{ ttl, want int }{
		{64, 1}, {62, 3}, {128, 1}, {117, 12}, {255, 1}, {250, 6}, {0, 0}, {-1, 0}, {300, 0},
	}
	for _, tt := range tests {
		if got := hopsFromTTL(tt.ttl); got != tt.want {
			t.Errorf("hopsFromTTL(%d) = %d, want %d", tt.ttl, got, tt.want)
		}
	}
}
