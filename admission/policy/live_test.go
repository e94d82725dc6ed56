package policy_test

import (
	"context"
	"net/netip"
	"testing"

	"github.com/portcheck/portcheck/admission/policy"
)

func TestLiveSwapsThePolicy(t *testing.T) {
	closed, err := policy.New(policy.Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	open, err := policy.New(policy.Config{AllowPrivate: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	l := policy.NewLive(closed)
	a := netip.MustParseAddr("10.1.2.3")
	if ok, _ := l.CheckAddr(a); ok {
		t.Fatal("the first policy allowed a private address")
	}
	l.Store(open)
	if ok, rule := l.CheckAddr(a); !ok {
		t.Errorf("after Store: refused (%s)", rule)
	}
	if d := l.Decide(context.Background(), "10.1.2.3", []int{22}); !d.Allowed {
		t.Errorf("after Store: Decide refused: %+v", d)
	}
}
