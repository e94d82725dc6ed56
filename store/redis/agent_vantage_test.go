package redis_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/portcheck/portcheck/internal/redistest"
	rstore "github.com/portcheck/portcheck/store/redis"
	"github.com/portcheck/portcheck/wire"
)

// Host agents serve vantages named host:<hostname>: the colon must not
// confuse the stream, the registration member (name:worker) or the results,
// which carry the agent's facts through untouched.
func TestAgentVantageWithColon(t *testing.T) {
	srv := redistest.Start(t)
	s := open(t, srv, rstore.Options{Consumer: "agent-1"})
	ctx := ctxFor(t, 10*time.Second)
	const v = "host:web01"
	if err := s.Register(ctx, rstore.VantageInfo{Name: v, Labels: map[string]string{"kind": "agent", "host": "web01"}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Register(ctx, rstore.VantageInfo{Name: "host", Worker: "w:2"}); err != nil { // a prefix of it, to tell apart
		t.Fatal(err)
	}
	ws, err := s.Workers(ctx)
	if err != nil || len(ws) != 2 || ws[1].Name != v || ws[1].Worker != "agent-1" || ws[1].Labels["host"] != "web01" {
		t.Fatalf("Workers = %+v, %v", ws, err)
	}

	j := job("a1", v)
	j.HostLocal = true
	if err := s.Queue().Enqueue(ctx, j); err != nil {
		t.Fatal(err)
	}
	if err := s.Queue().Enqueue(ctx, job("h1", "host")); err != nil {
		t.Fatal(err)
	}
	d := mustNext(t, s.Queue(), v, 5*time.Second)
	if got := d.Job(); got.ID != "a1" || !got.HostLocal || got.Vantage != v {
		t.Fatalf("job = %+v", got)
	}
	facts := json.RawMessage(`{"host":"web01","listeners":[]}`)
	if err := s.Results().Publish(ctx, wire.Result{Job: d.Job(), Facts: facts, Finished: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := d.Ack(ctx); err != nil {
		t.Fatal(err)
	}
	rd, err := s.Results().Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if got := rd.Result(); got.Job.ID != "a1" || string(got.Facts) != string(facts) {
		t.Fatalf("result = %+v facts %s", got, got.Facts)
	}
	if d := mustNext(t, s.Queue(), "host", 5*time.Second); d.Job().ID != "h1" {
		t.Fatalf("vantage host got %+v", d.Job())
	}
	if err := s.Unregister(ctx, v, ""); err != nil {
		t.Fatal(err)
	}
	if vs, err := s.Vantages(ctx); err != nil || len(vs) != 1 || vs[0] != "host" {
		t.Fatalf("after unregister: %q, %v", vs, err)
	}
}
