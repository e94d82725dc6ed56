package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/portcheck/portcheck/config"
	"gopkg.in/yaml.v3"
)

// runConfig implements `portcheck config check|show`: validate a file (and
// the environment) without starting anything, or print the effective
// settings after defaults and environment are applied.
func runConfig(_ context.Context, args []string, io stdio) int {
	fs := flag.NewFlagSet("portcheck config", flag.ContinueOnError)
	fs.SetOutput(io.err)
	path := fs.String("config", os.Getenv("PORTCHECK_CONFIG"), "YAML config file (env PORTCHECK_CONFIG)")
	fs.Usage = func() {
		fmt.Fprint(io.err, `Usage:
  portcheck config check [--config FILE]   validate FILE and the environment; exit 1 on problems
  portcheck config show  [--config FILE]   print the effective settings (defaults < file < environment)

`)
		fs.PrintDefaults()
	}
	if len(args) == 0 {
		fs.Usage()
		return 2
	}
	verb := args[0]
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	if fs.NArg() == 1 && *path == "" {
		*path = fs.Arg(0) // `portcheck config check FILE` reads naturally too
	} else if fs.NArg() > 0 {
		fmt.Fprintf(io.err, "portcheck config: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	c, err := config.Load(*path, os.Getenv)
	switch verb {
	case "check":
		if err != nil {
			fmt.Fprintln(io.err, err)
			return 1
		}
		src := *path
		if src == "" {
			src = "defaults and environment"
		}
		fmt.Fprintf(io.out, "%s: ok\n", src)
		return 0
	case "show":
		if err != nil {
			fmt.Fprintln(io.err, err)
			return 1
		}
		if c.Redis.URL != "" {
			c.Redis.URL = "(set, hidden)" // it may carry a password
		}
		enc := yaml.NewEncoder(io.out)
		enc.SetIndent(2)
		if err := enc.Encode(c); err != nil {
			fmt.Fprintln(io.err, err)
			return 1
		}
		return 0
	default:
		fmt.Fprintf(io.err, "portcheck config: unknown verb %q (want check or show)\n", verb)
		return 2
	}
}
