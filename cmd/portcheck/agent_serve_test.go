package main

import (
	"bytes"
	"context"
	"net"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/portcheck/portcheck/checks"
	"github.com/portcheck/portcheck/internal/redistest"
	"github.com/portcheck/portcheck/wire"
)

// `portcheck agent --serve` registers host:<hostname> and its alias, takes
// a job for each from Redis and answers with the host's facts.
func TestAgentServesJobsFromRedis(t *testing.T) {
	srv := redistest.Start(t)
	t.Setenv("REDIS_URL", srv.URL(0))
	t.Setenv("PORTCHECK_CONFIG", "")
	ln, err := net.Listen("tcp4", "127.0.0.1:0") // loopback only: the agent must say so
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port

	a := startInProcess(t, "agent", "--serve", "--hostname", "pcatest", "--alias", "web01")
	st := openTestStore(t, srv)
	a.waitFor("registration of both vantages", 30*time.Second, func(ctx context.Context) bool {
		ws, err := st.Workers(ctx)
		return err == nil && len(ws) == 2
	})
	tctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	target := "web01:" + strconv.Itoa(port)
	for i, v := range []string{"host:pcatest", "web01"} {
		j := wire.Job{ID: "j" + strconv.Itoa(i), CommandID: "c1", Target: target, Host: "web01", Port: port, Vantage: v, Timeout: 10 * time.Second}
		if err := st.Queue().Enqueue(tctx, j); err != nil {
			t.Fatal(err)
		}
	}
	got := map[string]checks.Report{}
	for len(got) < 2 {
		d, err := st.Results().Next(tctx)
		if err != nil {
			t.Fatalf("no result: %v; stderr:\n%s", err, a.stderr.String())
		}
		res := d.Result()
		if res.Error != "" {
			t.Fatalf("job error %q", res.Error)
		}
		if res.Report.Summary == "" {
			continue // a progress line, not the answer
		}
		got[res.Job.Vantage] = res.Report
		_ = d.Ack(tctx)
	}
	for _, v := range []string{"host:pcatest", "web01"} {
		r := got[v]
		if r.Vantage != v || r.Verdict != checks.VerdictClosed || r.Port != port || r.Target != target {
			t.Errorf("%s report = %+v", v, r)
		}
		if !strings.Contains(r.Summary, "listens on 127.0.0.1:"+strconv.Itoa(port)+" only") {
			t.Errorf("%s summary = %q", v, r.Summary)
		}
	}
	a.stop(20 * time.Second)
}

func TestAgentServeUsage(t *testing.T) {
	t.Setenv("REDIS_URL", "")
	t.Setenv("PORTCHECK_CONFIG", "")
	for _, args := range [][]string{{"--serve", "--port", "22"}, {"--serve", "--json"}, {"--serve", "--hostname", "x"},
		{"--serve", "--hostname", "web 01"}, {"--serve", "--alias", "host:web01"}, {"--serve", "--hostname", "a:b"}} {
		var errb bytes.Buffer
		if code := runAgent(context.Background(), args, stdio{strings.NewReader(""), &bytes.Buffer{}, &errb}); code != 2 {
			t.Errorf("runAgent(%q) = %d, want 2; stderr %q", args, code, errb.String())
		}
	}
	if got := agentVantages("Web01", []string{"web01", "", "host:web01", "WWW"}); !reflect.DeepEqual(got, []string{"host:web01", "web01", "www"}) {
		t.Errorf("agentVantages = %q", got)
	}
}
