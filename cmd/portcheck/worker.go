package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/portcheck/portcheck/internal/app"
)

// newWorkerFlags defines worker's flags on a new FlagSet.
func newWorkerFlags(o *app.WorkerOptions) *flag.FlagSet {
	fs := flag.NewFlagSet("portcheck worker", flag.ContinueOnError)
	fs.StringVar(&o.ConfigPath, "config", os.Getenv("PORTCHECK_CONFIG"), "")
	fs.StringVar(&o.Vantage, "vantage", "", "")
	fs.StringVar(&o.Listen, "listen", "", "")
	fs.Func("label", "", func(s string) error {
		k, v, ok := strings.Cut(s, "=")
		if !ok || k == "" {
			return fmt.Errorf("want k=v, got %q", s)
		}
		o.Labels[k] = v
		return nil
	})
	return fs
}

// runWorker is `portcheck worker`: the jobs of one vantage from Redis until
// SIGINT/SIGTERM.
func runWorker(ctx context.Context, args []string, io stdio) int {
	c := lookup("worker")
	o := app.WorkerOptions{Labels: map[string]string{}}
	rest, err := c.parse(newWorkerFlags(&o), args)
	if err != nil {
		return c.fail(io, "", "%v", err)
	}
	if len(rest) > 0 {
		return c.fail(io, "", "unexpected argument %q", rest[0])
	}
	err = app.Worker(ctx, o, appEnv(os.Getenv, io.err))
	return exitCode(io, "worker", err)
}
