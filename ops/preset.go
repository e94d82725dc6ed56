package ops

// Preset creates the series a process is known to produce, at zero, so
// they exist from the first scrape: an alert on rate(...) or a dashboard
// sees 0 rather than "no data" until the first error or retry ever
// happens. chats are the configured chat names; vantage is the one this
// process serves ("" for none); verdicts are every verdict code a check can
// reach, so each verdict's rate starts at zero where checks run.
func (m *Metrics) Preset(chats []string, vantage string, verdicts []string) {
	for _, c := range chats {
		for _, op := range []string{"start", "reply", "update", "ephemeral"} {
			m.chatErrors.WithLabelValues(c, op)
		}
		m.chatRetries.WithLabelValues(c)
		for _, outcome := range []string{"queued", "denied", "invalid"} {
			m.commands.WithLabelValues(c, outcome)
		}
	}
	if len(chats) > 0 {
		// The limits of ratelimit.Which*: only processes taking commands
		// enforce them.
		for _, l := range []string{"user", "channel", "global", "targets", "inflight", "unavailable"} {
			m.rateLimited.WithLabelValues(l)
		}
	}
	if vantage != "" {
		m.jobsQueued.WithLabelValues(vantage)
		m.jobsRunning.WithLabelValues(vantage)
		m.jobsDone.WithLabelValues(vantage, "ok")
		m.jobsDone.WithLabelValues(vantage, "error")
		m.QueueState(vantage, 0, 0)
		for _, v := range verdicts {
			m.verdicts.WithLabelValues(v)
		}
	}

}
