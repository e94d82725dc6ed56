package main

import (
	"context"
	"fmt"
)

// runWorker is a placeholder until its issue lands.
func runWorker(ctx context.Context, args []string, io stdio) int {
	fmt.Fprintln(io.err, "portcheck worker: not implemented yet")
	return 1
}
