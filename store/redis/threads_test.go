package redis_test

import (
	"testing"
	"time"

	"github.com/portcheck/portcheck/internal/redistest"
	rstore "github.com/portcheck/portcheck/store/redis"
	"github.com/portcheck/portcheck/wire"
)

func TestThreadsKeepTheRefsForTheirTTL(t *testing.T) {
	srv := redistest.Start(t)
	st := open(t, srv, rstore.Options{Prefix: "threads"})
	ctx := ctxFor(t, 5*time.Second)
	th := wire.Thread{Channel: wire.Channel{Chat: "slack", Team: "T1", ID: "C1", Name: "ops", Ref: "https://hooks.slack.com/commands/T1/1/x"}, ID: "1700000000.000100", Ref: "r"}
	if err := st.PutThread(ctx, "run1", th, 300*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	got, ok, err := st.Thread(ctx, "run1")
	if err != nil || !ok || got != th {
		t.Fatalf("Thread = %+v %v %v, want %+v", got, ok, err, th)
	}
	if _, ok, _ := st.Thread(ctx, "other"); ok {
		t.Error("an unknown run has a thread")
	}
	time.Sleep(400 * time.Millisecond)
	if _, ok, err := st.Thread(ctx, "run1"); ok || err != nil {
		t.Errorf("after its ttl: ok %v err %v", ok, err)
	}
}
