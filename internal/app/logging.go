package app

import (
	"io"
	"log/slog"

	"github.com/portcheck/portcheck/config"
)

// newLogger is the one logger constructor of every subcommand, so log.format
// and log.level (PORTCHECK_LOG_FORMAT / PORTCHECK_LOG_LEVEL) mean the same
// everywhere. cmd names the subcommand on every line: a collector reading a
// pod's mixed output (serve plus its local worker) or a host running
// several units can tell them apart. Logs go to w (stderr): stdout is for
// command output.
func newLogger(c config.Log, w io.Writer, cmd string) *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.Level)); err != nil {
		level = slog.LevelInfo // config validation already refused it; stay useful
	}
	ho := &slog.HandlerOptions{Level: level}
	var h slog.Handler
	if c.Format == "json" {
		h = slog.NewJSONHandler(w, ho)
	} else {
		h = slog.NewTextHandler(w, ho)
	}
	return slog.New(h).With("cmd", cmd)
}
