package ops

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func get(t *testing.T, h http.Handler, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	b, _ := io.ReadAll(rec.Body)
	return rec.Code, string(b)
}

func TestMetricsMoveAfterAJob(t *testing.T) {
	m := NewMetrics()
	m.CommandReceived("slack", "queued")
	m.JobQueued("office")
	m.JobStarted("office")
	m.JobFinished("office", "filtered_at_host", 1200*time.Millisecond, false)
	m.ProbeDone("filtered_at_host", 1200*time.Millisecond)
	m.ChatRetry("slack")
	m.ChatError("slack", "update")
	m.RateLimited("user")
	m.QueueState("office", 3, 2*time.Second)

	code, body := get(t, m.Handler(), "/metrics")
	if code != 200 {
		t.Fatalf("status %d", code)
	}
	for _, want := range []string{
		`portcheck_commands_total{chat="slack",outcome="queued"} 1`,
		`portcheck_jobs_queued_total{vantage="office"} 1`,
		`portcheck_jobs_running{vantage="office"} 0`,
		`portcheck_jobs_done_total{result="ok",vantage="office"} 1`,
		`portcheck_job_duration_seconds_count{vantage="office"} 1`,
		`portcheck_probe_duration_seconds_bucket{verdict="filtered_at_host",le="1.5"} 1`,
		`portcheck_verdicts_total{verdict="filtered_at_host"} 1`,
		`portcheck_chat_api_retries_total{chat="slack"} 1`,
		`portcheck_chat_api_errors_total{chat="slack",op="update"} 1`,
		`portcheck_rate_limit_denials_total{limit="user"} 1`,
		`portcheck_queue_depth{vantage="office"} 3`,
		`portcheck_queue_oldest_pending_seconds{vantage="office"} 2`,
		`go_goroutines`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

func TestTwoMetricsDoNotCollide(t *testing.T) {
	// No package globals: two instances register independently.
	a, b := NewMetrics(), NewMetrics()
	a.JobQueued("x")
	_, body := get(t, b.Handler(), "/metrics")
	if strings.Contains(body, `portcheck_jobs_queued_total{vantage="x"}`) {
		t.Error("metrics leaked between instances")
	}
}

func TestReadinessFlips(t *testing.T) {
	h := NewHealth(100 * time.Millisecond)
	var redisErr error
	h.Add("redis", func(ctx context.Context) error { return redisErr })
	mux := http.NewServeMux()
	h.Routes(mux)

	if code, _ := get(t, mux, "/healthz"); code != 200 {
		t.Errorf("healthz = %d", code)
	}
	if code, body := get(t, mux, "/readyz"); code != 200 || !strings.Contains(body, `"redis":"ok"`) {
		t.Errorf("readyz = %d %s", code, body)
	}
	redisErr = errors.New("dial tcp 127.0.0.1:6379: connection refused")
	if code, body := get(t, mux, "/readyz"); code != 503 || !strings.Contains(body, "connection refused") {
		t.Errorf("readyz with redis down = %d %s", code, body)
	}
	// Liveness does not depend on Redis.
	if code, _ := get(t, mux, "/healthz"); code != 200 {
		t.Errorf("healthz with redis down = %d", code)
	}
	redisErr = nil
	h.Drain()
	if code, body := get(t, mux, "/readyz"); code != 503 || !strings.Contains(body, "draining") {
		t.Errorf("readyz while draining = %d %s", code, body)
	}
}

func TestSlowCheckTimesOut(t *testing.T) {
	h := NewHealth(50 * time.Millisecond)
	h.Add("slow", func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() })
	mux := http.NewServeMux()
	h.Routes(mux)
	start := time.Now()
	code, _ := get(t, mux, "/readyz")
	if code != 503 {
		t.Errorf("code %d", code)
	}
	if time.Since(start) > 2*time.Second {
		t.Error("readiness check did not honour its timeout")
	}
}
