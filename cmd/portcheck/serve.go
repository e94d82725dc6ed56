package main

import (
	"context"
	"fmt"
)

// runServe is a placeholder until its issue lands.
func runServe(ctx context.Context, args []string, io stdio) int {
	fmt.Fprintln(io.err, "portcheck serve: not implemented yet")
	return 1
}
