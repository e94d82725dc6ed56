package checks

import (
	"net/netip"
	"testing"
)

func TestBuildTrace(t *testing.T) {
	target := netip.MustParseAddr("198.18.3.10")
	r1, r2 := netip.MustParseAddr("198.18.1.1"), netip.MustParseAddr("198.18.2.2")
	te := func(a netip.Addr) hopResult { return hopResult{addr: a, kind: "time-exceeded", answered: true} }
	term := func(a netip.Addr, kind string) hopResult {
		return hopResult{addr: a, kind: kind, answered: true, terminal: true}
	}
	silent := hopResult{}
	tests := []struct {
		name     string
		rs       []hopResult
		hops     int
		reached  bool
		complete bool
	}{
		{"reached at 3, later TTLs ignored", []hopResult{te(r1), te(r2), term(target, "syn-ack"), term(target, "syn-ack"), silent}, 3, true, true},
		{"silent after hop 2: one silent hop shown", []hopResult{te(r1), te(r2), silent, silent, silent}, 3, false, false},
		{"router refuses at 3", []hopResult{te(r1), te(r2), term(r2, "admin-prohibited"), silent}, 3, false, true},
		{"nothing answers", []hopResult{silent, silent, silent}, 1, false, false},
		{"gap then answer", []hopResult{te(r1), silent, term(target, "reset")}, 3, true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := buildTrace("tcp", 80, target, tt.rs)
			if len(tr.Hops) != tt.hops || tr.Reached != tt.reached {
				t.Errorf("hops %+v reached %v, want %d hops reached %v", tr.Hops, tr.Reached, tt.hops, tt.reached)
			}
			if got := traceComplete(tt.rs); got != tt.complete {
				t.Errorf("complete %v, want %v", got, tt.complete)
			}
		})
	}
}
