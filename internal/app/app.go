// Package app is the composition root: it builds every part from the
// configuration and hands it down, once for each way portcheck runs —
// serve (the chat bot), shell (the bot in a terminal), worker (a vantage
// point) and agent --serve (a host agent). cmd/portcheck only parses flags,
// prints help and turns the errors returned here into exit codes.
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/portcheck/portcheck/audit"
	"github.com/portcheck/portcheck/bot"
	"github.com/portcheck/portcheck/ops"
)

// Env is what a command takes from its process, passed down so every part
// is testable without touching the real environment.
type Env struct {
	Getenv  func(string) string
	Stderr  io.Writer // logs
	Version string    // this build, as workers register it
	// Revision and GoVersion complete the build's identity for
	// portcheck_build_info.
	Revision, GoVersion string
}

// newMetrics is a process's metrics with its build recorded.
func newMetrics(env Env) *ops.Metrics {
	m := ops.NewMetrics()
	m.Build(env.Version, env.Revision, env.GoVersion)
	return m
}

// verdictNames is every verdict code, for the metrics preset at zero.
func verdictNames() []string {
	var out []string
	for _, v := range bot.Verdicts() {
		out = append(out, string(v))
	}
	return out
}

// countedTrail counts the audit records that could not be written.
type countedTrail struct {
	audit.Trail
	failed func()
}

func (t countedTrail) Append(ctx context.Context, r audit.Record) error {
	err := t.Trail.Append(ctx, r)
	if err != nil {
		t.failed()
	}
	return err
}

// ConfigError is a setup the command cannot run with: the configuration,
// the environment or the flags need changing (exit 2). Other errors are
// failures at run time (exit 1).
type ConfigError struct{ Err error }

func (e *ConfigError) Error() string { return e.Err.Error() }
func (e *ConfigError) Unwrap() error { return e.Err }

func configErr(err error) error {
	if err == nil {
		return nil
	}
	var ce *ConfigError
	if errors.As(err, &ce) {
		return err
	}
	return &ConfigError{err}
}

// DefaultAuditPath follows the XDG base directory spec for state:
// $XDG_STATE_HOME/portcheck/audit.db, or ~/.local/state/portcheck/audit.db.
func DefaultAuditPath(getenv func(string) string) (string, error) {
	if d := getenv("XDG_STATE_HOME"); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, "portcheck", "audit.db"), nil
	}
	home := getenv("HOME")
	if home == "" {
		h, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("no --db given and no home directory to keep the audit trail in: %w", err)
		}
		home = h
	}
	return filepath.Join(home, ".local", "state", "portcheck", "audit.db"), nil
}

// jobTimeout is a job's deadline for a per-port timeout: the engine keeps
// its own per-port deadline, and the job's is a backstop with room for the
// trace after it.
func jobTimeout(perPort time.Duration) time.Duration { return 2*perPort + 5*time.Second }

// claimIdle is how long a Redis job may stay unacked before another worker
// takes it over: it must outlast the slowest job (traces can take several
// per-port timeouts, plus the worker's grace) or a slow job is run twice.
func claimIdle(perPort time.Duration) time.Duration {
	return max(2*time.Minute, 4*perPort+30*time.Second)
}
