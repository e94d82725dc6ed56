// Package ops is what an operator scrapes and probes: Prometheus metrics on
// a private registry (no package globals, so tests and several instances
// never collide), and the /healthz and /readyz handlers.
package ops

import (
	"context"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics records what the bot and workers do. Its methods are the ones the
// bot's small Observer interface asks for; every method is safe for
// concurrent use.
type Metrics struct {
	reg          *prometheus.Registry
	commands     *prometheus.CounterVec
	jobsQueued   *prometheus.CounterVec
	jobsRunning  *prometheus.GaugeVec
	jobsDone     *prometheus.CounterVec
	jobLatency   *prometheus.HistogramVec
	probeLatency *prometheus.HistogramVec
	verdicts     *prometheus.CounterVec
	chatErrors   *prometheus.CounterVec
	chatRetries  *prometheus.CounterVec
	rateLimited  *prometheus.CounterVec
	queueDepth   *prometheus.GaugeVec
	pendingAge   *prometheus.GaugeVec
	buildInfo    *prometheus.GaugeVec
	auditErrors  prometheus.Counter
}

// NewMetrics registers every collector on a new registry, with the Go and
// process collectors an SRE expects next to them.
func NewMetrics() *Metrics {
	reg := prometheus.NewRegistry()
	f := func(c prometheus.Collector) { reg.MustRegister(c) }
	// Latencies span a loopback connect (sub-millisecond) to a filtered
	// verdict waiting out the deadline (seconds).
	buckets := []float64{.001, .005, .01, .025, .05, .1, .25, .5, 1, 1.5, 2.5, 5, 10, 30}
	m := &Metrics{
		reg: reg,
		commands: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portcheck_commands_total", Help: "Commands received, by chat and outcome (queued, denied, invalid, rate_limited, help, ...).",
		}, []string{"chat", "outcome"}),
		jobsQueued: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portcheck_jobs_queued_total", Help: "Jobs enqueued, by vantage.",
		}, []string{"vantage"}),
		jobsRunning: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "portcheck_jobs_running", Help: "Jobs being probed now, by vantage.",
		}, []string{"vantage"}),
		jobsDone: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portcheck_jobs_done_total", Help: "Jobs finished, by vantage and result (ok or error).",
		}, []string{"vantage", "result"}),
		jobLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "portcheck_job_duration_seconds", Help: "Time from dequeue to result, by vantage.", Buckets: buckets,
		}, []string{"vantage"}),
		probeLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "portcheck_probe_duration_seconds", Help: "Time to verdict of one port check, by verdict.", Buckets: buckets,
		}, []string{"verdict"}),
		verdicts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portcheck_verdicts_total", Help: "Verdicts reached, by verdict code.",
		}, []string{"verdict"}),
		chatErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portcheck_chat_api_errors_total", Help: "Chat API calls that failed after retries, by chat and operation.",
		}, []string{"chat", "op"}),
		chatRetries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portcheck_chat_api_retries_total", Help: "Chat API retries (429 Retry-After, 5xx), by chat.",
		}, []string{"chat"}),
		rateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "portcheck_rate_limit_denials_total", Help: "Commands refused by a rate limit or quota, by which limit.",
		}, []string{"limit"}),
		queueDepth: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "portcheck_queue_depth", Help: "Jobs waiting, by vantage.",
		}, []string{"vantage"}),
		pendingAge: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "portcheck_queue_oldest_pending_seconds", Help: "Age of the oldest waiting job, by vantage.",
		}, []string{"vantage"}),
		buildInfo: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "portcheck_build_info", Help: "Always 1; the labels say which build runs (version, VCS revision, Go version).",
		}, []string{"version", "revision", "goversion"}),
		auditErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "portcheck_audit_write_errors_total", Help: "Audit records that could not be written (the command they belong to is refused).",
		}),
	}
	for _, c := range []prometheus.Collector{m.commands, m.jobsQueued, m.jobsRunning, m.jobsDone, m.jobLatency,
		m.probeLatency, m.verdicts, m.chatErrors, m.chatRetries, m.rateLimited, m.queueDepth, m.pendingAge, m.buildInfo, m.auditErrors,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})} {
		f(c)
	}
	return m
}

// Handler serves /metrics.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{Registry: m.reg})
}

// CommandReceived counts a command by chat and what became of it.
func (m *Metrics) CommandReceived(chat, outcome string) {
	m.commands.WithLabelValues(chat, outcome).Inc()
}

// JobQueued counts a job put on the queue.
func (m *Metrics) JobQueued(vantage string) { m.jobsQueued.WithLabelValues(vantage).Inc() }

// JobStarted marks a job as running.
func (m *Metrics) JobStarted(vantage string) { m.jobsRunning.WithLabelValues(vantage).Inc() }

// JobFinished records a job's end; verdict is empty when the job failed.
func (m *Metrics) JobFinished(vantage, verdict string, d time.Duration, failed bool) {
	m.jobsRunning.WithLabelValues(vantage).Dec()
	result := "ok"
	if failed {
		result = "error"
	}
	m.jobsDone.WithLabelValues(vantage, result).Inc()
	m.jobLatency.WithLabelValues(vantage).Observe(d.Seconds())
	if verdict != "" {
		m.verdicts.WithLabelValues(verdict).Inc()
	}
}

// ProbeDone records one port's time to verdict.
func (m *Metrics) ProbeDone(verdict string, d time.Duration) {
	m.probeLatency.WithLabelValues(verdict).Observe(d.Seconds())
}

// ChatError counts a chat API call that failed for good.
func (m *Metrics) ChatError(chat, op string) { m.chatErrors.WithLabelValues(chat, op).Inc() }

// ChatRetry counts a chat API retry.
func (m *Metrics) ChatRetry(chat string) { m.chatRetries.WithLabelValues(chat).Inc() }

// RateLimited counts a command refused by a limit.
func (m *Metrics) RateLimited(limit string) { m.rateLimited.WithLabelValues(limit).Inc() }

// QueueState records the queue's depth and oldest pending job per vantage.
func (m *Metrics) QueueState(vantage string, depth int, oldest time.Duration) {
	m.queueDepth.WithLabelValues(vantage).Set(float64(depth))
	m.pendingAge.WithLabelValues(vantage).Set(oldest.Seconds())
}

// Build records which build this process runs, as portcheck_build_info's
// labels (the value is always 1), so a dashboard can tell a fleet running
// two versions apart.
func (m *Metrics) Build(version, revision, goVersion string) {
	m.buildInfo.WithLabelValues(version, revision, goVersion).Set(1)
}

// AuditWriteError counts an audit record that could not be written.
func (m *Metrics) AuditWriteError() { m.auditErrors.Inc() }

// ChatLink exports whether a chat's link is up (portcheck_chat_connected,
// 1 or 0), asked of ready at every scrape: a Socket Mode websocket or a
// Discord gateway that dropped shows at once, without a sampler. ready
// must be cheap; a chat without a connection of its own (HTTP mode, where
// the chat calls us) reports up.
func (m *Metrics) ChatLink(chat string, ready func(context.Context) error) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "portcheck_chat_connected", Help: "1 when the chat's link (Socket Mode, gateway) is up, 0 when it is down, by chat.",
		ConstLabels: prometheus.Labels{"chat": chat},
	}, func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if ready(ctx) != nil {
			return 0
		}
		return 1
	}))
}

// Watches exports how many watches are running (portcheck_watches_active),
// read from count at every scrape.
func (m *Metrics) Watches(count func() int) {
	m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "portcheck_watches_active", Help: "Watches running in this bot process.",
	}, func() float64 { return float64(count()) }))
}
