// Command labctl builds and removes portcheck's network lab for shell
// scripts (bench/, manual poking):
//
//	go run ./internal/netlab/labctl up [-prefix P] [-strict-router]  # prints the lab as JSON
//	go run ./internal/netlab/labctl down [-prefix P] # removes labs: those starting with P, or every stale one
//
// Then e.g. `ip netns exec <namespaces.client> nmap -sS -p 22 198.18.3.10`.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/portcheck/portcheck/internal/netlab"
)

func main() {
	netlab.ServeIfChild()
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	if len(args) < 1 {
		fmt.Fprintln(os.Stderr, "usage: labctl up|down [-prefix P] [-strict-router] [-v]")
		return 2
	}
	fs := flag.NewFlagSet("labctl "+args[0], flag.ContinueOnError)
	prefix := fs.String("prefix", "", "namespace name prefix (up: default pcl-ctl-<n>; down: default every labctl lab and every test lab whose process is gone)")
	verbose := fs.Bool("v", false, "log every command to stderr")
	strict := fs.Bool("strict-router", false, "up: r2 rate-limits its ICMP errors to one per 5 s per peer (after a burst of 6), as many hardware routers do")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	switch args[0] {
	case "up":
		if *prefix == "" {
			*prefix = fmt.Sprintf("%s%d", netlab.CtlPrefix, time.Now().UnixNano()%100000)
		}
		o := netlab.Options{Prefix: *prefix, Detach: true, StrictRouter: *strict}
		if *verbose {
			o.Log = func(s string) { fmt.Fprintln(os.Stderr, "+", s) }
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		lab, err := netlab.Up(ctx, o)
		if err != nil {
			fmt.Fprintln(os.Stderr, "labctl up:", err)
			return 1
		}
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(lab); err != nil {
			fmt.Fprintln(os.Stderr, "labctl up:", err)
			return 1
		}
		return 0
	case "down":
		var names []string
		var err error
		if *prefix == "" {
			names, err = netlab.RemoveStale()
		} else {
			names, err = netlab.RemoveByPrefix(*prefix)
		}
		for _, n := range names {
			fmt.Fprintln(os.Stderr, "removed", n)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "labctl down:", err)
			return 1
		}
		return 0
	}
	fmt.Fprintln(os.Stderr, "labctl: unknown command", args[0])
	return 2
}
