package main

import (
	"context"
	"fmt"
)

// runShell is a placeholder until its issue lands.
func runShell(ctx context.Context, args []string, io stdio) int {
	fmt.Fprintln(io.err, "portcheck shell: not implemented yet")
	return 1
}
