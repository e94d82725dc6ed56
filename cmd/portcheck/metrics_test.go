package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/portcheck/portcheck/internal/app"
	"github.com/portcheck/portcheck/internal/redistest"
	"github.com/portcheck/portcheck/internal/testkit"
)

// startFakeServe runs serve in-process with the fake chat and returns its
// base URL, the chat, and a stop function that checks the exit code.
func startFakeServe(t *testing.T, env map[string]string, args ...string) (string, *fakeFrontend, *testkit.Buffer, func()) {
	t.Helper()
	addr := freePort(t)
	env["PORTCHECK_LISTEN"] = addr
	if env["HOME"] == "" {
		env["HOME"] = t.TempDir()
	}
	ff := &fakeFrontend{got: make(chan string, 100)}
	factory := func(d app.FrontendDeps) (app.Frontend, bool, error) {
		ff.h = d.Handler
		return ff, true, nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	var logs testkit.Buffer
	done := make(chan int, 1)
	go func() {
		done <- serve(ctx, args, stdio{strings.NewReader(""), io.Discard, &logs}, func(k string) string { return env[k] }, []app.FrontendFactory{factory})
	}()
	base := "http://" + addr
	waitHTTP(t, base+"/healthz")
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case code := <-done:
			if code != 0 {
				t.Errorf("serve exit %d: %s", code, logs.String())
			}
		case <-time.After(40 * time.Second):
			t.Error("serve did not stop")
		}
	}
	t.Cleanup(stop)
	return base, ff, &logs, stop
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	r, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	return r.StatusCode, string(b)
}

// After one check and one command refused by a rate limit, /metrics of a
// running serve has every series issue 9 asks for, and the ones the job
// touched have moved.
func TestServeMetricsMoveAfterAJob(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "portcheck.yaml")
	if err := os.WriteFile(cfgPath, []byte("policy:\n  allow: [127.0.0.2/32]\nlimits:\n  per_user_per_minute: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ln := greeter(t, "127.0.0.2:0")
	base, ff, logs, _ := startFakeServe(t, map[string]string{"HOME": dir, "PORTCHECK_TIMEOUT": "2s", "PORTCHECK_LOG_LEVEL": "error"}, "--config", cfgPath)
	post := func(text string) {
		r, err := http.Post(base+"/fake?text="+text, "text/plain", nil)
		if err != nil || r.StatusCode != 200 {
			t.Fatalf("POST /fake: %v %v", r, err)
		}
		r.Body.Close()
	}
	next := func() string {
		select {
		case s := <-ff.got:
			return s
		case <-time.After(10 * time.Second):
			t.Fatalf("no post from the bot:\n%s", logs.String())
			return ""
		}
	}
	post(ln.Addr().String())
	for s := next(); !strings.HasPrefix(s, "update "); s = next() {
	}
	post(ln.Addr().String()) // the second within a minute: per_user_per_minute is 1
	if s := next(); !strings.HasPrefix(s, "ephemeral ") {
		t.Errorf("second command: %q", s)
	}

	_, body := get(t, base+"/metrics")
	for _, want := range []string{
		`portcheck_commands_total{chat="fake",outcome="queued"} 1`,
		`portcheck_commands_total{chat="fake",outcome="denied"} 1`,
		`portcheck_jobs_queued_total{vantage="local"} 1`,
		`portcheck_jobs_running{vantage="local"} 0`,
		`portcheck_jobs_done_total{result="ok",vantage="local"} 1`,
		`portcheck_job_duration_seconds_count{vantage="local"} 1`,
		`portcheck_probe_duration_seconds_count{verdict="open"} 1`,
		`portcheck_verdicts_total{verdict="open"} 1`,
		`portcheck_rate_limit_denials_total{limit="user"} 1`,
		// Present at zero from the start, so alerts see 0, not no data.
		`portcheck_chat_api_errors_total{chat="fake",op="reply"} 0`,
		`portcheck_chat_api_retries_total{chat="fake"} 0`,
		`portcheck_queue_depth{vantage="local"} 0`,
		`portcheck_queue_oldest_pending_seconds{vantage="local"} 0`,
		`go_goroutines `,
		`process_resident_memory_bytes `,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if t.Failed() {
		t.Logf("/metrics:\n%s", grepLines(body, "portcheck_"))
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) && !strings.HasPrefix(l, "#") {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// /readyz of a serve using Redis answers 503 while Redis is down and 200
// again once it is back, without a restart of portcheck.
func TestServeReadinessFollowsRedis(t *testing.T) {
	srv := redistest.Start(t)
	base, _, logs, stop := startFakeServe(t, map[string]string{"REDIS_URL": srv.URL(0), "PORTCHECK_LOG_LEVEL": "error"})
	wantReady := func(code int, why string) {
		t.Helper()
		var got int
		var body string
		for i := 0; i < 100; i++ {
			if got, body = get(t, base+"/readyz"); got == code {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Fatalf("%s: /readyz %d, want %d: %s\n%s", why, got, code, body, logs.String())
	}
	wantReady(200, "redis up")
	srv.Stop()
	wantReady(503, "redis stopped")
	if code, body := get(t, base+"/healthz"); code != 200 {
		t.Errorf("/healthz %d while redis is down (liveness must ignore dependencies): %s", code, body)
	}
	srv.Restart()
	wantReady(200, "redis restarted")
	stop()
}

// Issue 15's series: the build, each chat's link, audit write errors and
// the active watches, and every verdict at zero before any check ran.
func TestServeMetricsBuildLinksWatches(t *testing.T) {
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "portcheck.yaml")
	if err := os.WriteFile(cfgPath, []byte("policy:\n  allow: [127.0.0.2/32]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ln := greeter(t, "127.0.0.2:0")
	base, ff, logs, _ := startFakeServe(t, map[string]string{"HOME": dir, "PORTCHECK_TIMEOUT": "2s", "PORTCHECK_LOG_LEVEL": "error"}, "--config", cfgPath)
	scrape := func() string {
		_, body := get(t, base+"/metrics")
		return body
	}
	want := func(body string, lines ...string) {
		t.Helper()
		for _, l := range lines {
			if !strings.Contains(body, l+"\n") {
				t.Errorf("/metrics lacks %s", l)
			}
		}
		if t.Failed() {
			t.Logf("/metrics:\n%s\nlogs:\n%s", grepLines(body, "portcheck_"), logs.String())
		}
	}
	body := scrape()
	b := readBuildInfo()
	want(body,
		fmt.Sprintf(`portcheck_build_info{goversion=%q,revision=%q,version=%q} 1`, runtime.Version(), b.Commit, b.Version),
		`portcheck_chat_connected{chat="fake"} 1`,
		`portcheck_audit_write_errors_total 0`,
		`portcheck_watches_active 0`,
		`portcheck_verdicts_total{verdict="inconclusive"} 0`,
	)
	for _, v := range []string{"open", "service_refused", "closed", "rejected_by_host", "rejected_in_path", "filtered_at_host",
		"filtered_in_path", "host_unreachable", "network_unreachable", "dns_error"} {
		want(body, fmt.Sprintf(`portcheck_verdicts_total{verdict=%q} 0`, v))
	}

	post := func(text string) {
		r, err := http.Post(base+"/fake?text="+url.QueryEscape(text), "text/plain", nil)
		if err != nil || r.StatusCode != 200 {
			t.Fatalf("POST /fake: %v %v", r, err)
		}
		r.Body.Close()
	}
	next := func() string {
		select {
		case s := <-ff.got:
			return s
		case <-time.After(10 * time.Second):
			t.Fatalf("no post from the bot:\n%s", logs.String())
			return ""
		}
	}
	post("watch " + ln.Addr().String() + " every 10m for 1h")
	for s := next(); !strings.HasPrefix(s, "update "); s = next() {
	}
	ff.down.Store(true) // the chat's link drops
	want(scrape(), `portcheck_watches_active 1`, `portcheck_chat_connected{chat="fake"} 0`)
	ff.down.Store(false)
	post("stop")
	for s := next(); !strings.HasPrefix(s, "ephemeral stopped"); s = next() {
	}
	want(scrape(), `portcheck_watches_active 0`, `portcheck_chat_connected{chat="fake"} 1`)
}
