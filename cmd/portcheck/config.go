package main

import (
	"context"
	"flag"
	"fmt"
	"os"

	"github.com/portcheck/portcheck/config"
	"gopkg.in/yaml.v3"
)

// newConfigFlags defines config's flags on a new FlagSet.
func newConfigFlags(path *string) *flag.FlagSet {
	fs := flag.NewFlagSet("portcheck config", flag.ContinueOnError)
	fs.StringVar(path, "config", os.Getenv("PORTCHECK_CONFIG"), "")
	return fs
}

// runConfig implements `portcheck config check|show`: validate a file (and
// the environment) without starting anything, or print the effective
// settings after defaults and environment are applied.
func runConfig(_ context.Context, args []string, io stdio) int {
	cmd := lookup("config")
	if len(args) == 0 {
		return cmd.fail(io, "", "say what to do: check or show")
	}
	verb := args[0]
	if cmd.verb(verb) == nil {
		return cmd.fail(io, "", "%s", cmd.badVerb(verb))
	}
	path := new(string)
	fs := newConfigFlags(path)
	rest, err := cmd.parseVerb(verb, fs, args[1:])
	if err != nil {
		return cmd.fail(io, "config "+verb, "%v", err)
	}
	switch {
	case len(rest) == 1 && !flagGiven(fs, "config"):
		*path = rest[0] // `portcheck config check FILE` reads naturally too
	case len(rest) > 0:
		return cmd.fail(io, "config "+verb, "unexpected argument %q", rest[0])
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
	}
	panic("portcheck config: verb " + verb + " is in the table but not handled")
}

// flagGiven says whether the command line set the flag named name.
func flagGiven(fs *flag.FlagSet, name string) bool {
	given := false
	fs.Visit(func(f *flag.Flag) { given = given || f.Name == name })
	return given
}
