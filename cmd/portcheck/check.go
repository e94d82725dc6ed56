package main

import (
	"context"
	"fmt"
)

// runCheck is a placeholder until its issue lands.
func runCheck(ctx context.Context, args []string, io stdio) int {
	fmt.Fprintln(io.err, "portcheck check: not implemented yet")
	return 1
}
