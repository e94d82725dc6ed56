package main

import (
	"errors"
	"fmt"

	"github.com/portcheck/portcheck/internal/app"
)

// exitCode reports err for the subcommand and turns it into the exit
// status: 0 none, 2 a setup to fix (configuration, environment, flags), 1
// anything else.
func exitCode(io stdio, cmd string, err error) int {
	if err == nil {
		return 0
	}
	fmt.Fprintf(io.err, "portcheck %s: %v\n", cmd, err)
	if errors.As(err, new(*app.ConfigError)) {
		return 2
	}
	return 1
}
