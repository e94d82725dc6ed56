package redis_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/portcheck/portcheck/internal/redistest"
	rstore "github.com/portcheck/portcheck/store/redis"
)

func names(vs []rstore.VantageInfo) []string {
	var out []string
	for _, v := range vs {
		out = append(out, v.Name+"/"+v.Worker)
	}
	return out
}

func TestRegisterListsAndExpires(t *testing.T) {
	srv := redistest.Start(t)
	now := time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC)
	s := open(t, srv, rstore.Options{Prefix: "hb", HeartbeatTTL: time.Second, Now: func() time.Time { return now }})
	ctx := ctxFor(t, 5*time.Second)

	for _, v := range []rstore.VantageInfo{
		{Name: "office", Worker: "w2", Version: "1.2.0", Labels: map[string]string{"site": "ber"}},
		{Name: "internet", Worker: "w1"},
		{Name: "office", Worker: "w1"},
	} {
		if err := s.Register(ctx, v); err != nil {
			t.Fatal(err)
		}
	}
	vs, err := s.Workers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := names(vs), []string{"internet/w1", "office/w1", "office/w2"}; !equal(got, want) {
		t.Fatalf("Workers = %v, want %v", got, want)
	}
	if got, err := s.Vantages(ctx); err != nil || !equal(got, []string{"internet", "office"}) {
		t.Fatalf("Vantages = %v, %v, want [internet office]", got, err)
	}
	if v := vs[2]; v.Version != "1.2.0" || v.Labels["site"] != "ber" || !v.LastSeen.Equal(now) {
		t.Errorf("office/w2 = %+v", v)
	}

	// w1 of office keeps beating, the others stop.
	// Margins of 400 ms either way: the box is shared and slow at times.
	time.Sleep(600 * time.Millisecond)
	if err := s.Register(ctx, rstore.VantageInfo{Name: "office", Worker: "w1"}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(600 * time.Millisecond)
	vs, err = s.Workers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := names(vs), []string{"office/w1"}; !equal(got, want) {
		t.Fatalf("after expiry Vantages = %v, want %v", got, want)
	}
	if n := s.Client().SCard(ctx, "hb:vantages").Val(); n != 1 {
		t.Errorf("index holds %d members after pruning, want 1", n)
	}
	if err := s.Unregister(ctx, "office", "w1"); err != nil {
		t.Fatal(err)
	}
	if vs, _ := s.Workers(ctx); len(vs) != 0 {
		t.Errorf("after Unregister Vantages = %v", names(vs))
	}
	if err := s.Register(ctx, rstore.VantageInfo{}); err == nil {
		t.Error("Register without a name must fail")
	}
}

func TestHeartbeatKeepsAliveThenUnregisters(t *testing.T) {
	srv := redistest.Start(t)
	s := open(t, srv, rstore.Options{Prefix: "hb2", Consumer: "me", HeartbeatTTL: 900 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Heartbeat(ctx, rstore.VantageInfo{Name: "office", Version: "dev"}) }()

	time.Sleep(2 * time.Second) // more than two TTLs: only refreshes keep it
	vs, err := s.Workers(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got := names(vs); !equal(got, []string{"office/me"}) {
		t.Errorf("while beating Vantages = %v", got)
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("Heartbeat returned %v, want context.Canceled", err)
	}
	if vs, _ := s.Workers(context.Background()); len(vs) != 0 {
		t.Errorf("after stop Vantages = %v, want none", names(vs))
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
