package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/portcheck/portcheck/internal/app"
)

const workerUsage = `Usage: portcheck worker [--vantage NAME] [--config FILE] [--label k=v]...

Serves the jobs of one vantage point from Redis (REDIS_URL, required) and
publishes their results for the bot processes; it never talks to a chat.
It registers itself with a heartbeat so /portcheck vantages lists it.

`

// runWorker is `portcheck worker`: the jobs of one vantage from Redis until
// SIGINT/SIGTERM.
func runWorker(ctx context.Context, args []string, io stdio) int {
	fs := flag.NewFlagSet("portcheck worker", flag.ContinueOnError)
	fs.SetOutput(io.err)
	o := app.WorkerOptions{Labels: map[string]string{}}
	fs.StringVar(&o.ConfigPath, "config", os.Getenv("PORTCHECK_CONFIG"), "YAML config file (env PORTCHECK_CONFIG)")
	fs.StringVar(&o.Vantage, "vantage", "", "vantage name this worker serves (default: config vantage / env PORTCHECK_VANTAGE)")
	fs.StringVar(&o.Listen, "listen", "", "serve /healthz, /readyz and /metrics on ADDR (example :8080); default none")
	fs.Func("label", "k=v label shown in /portcheck vantages (repeatable)", func(s string) error {
		k, v, ok := strings.Cut(s, "=")
		if !ok || k == "" {
			return fmt.Errorf("want k=v, got %q", s)
		}
		o.Labels[k] = v
		return nil
	})
	fs.Usage = func() { fmt.Fprint(io.err, workerUsage); fs.PrintDefaults() }
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(io.err, "portcheck worker: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	err := app.Worker(ctx, o, appEnv(os.Getenv, io.err))
	return exitCode(io, "worker", err)
}
