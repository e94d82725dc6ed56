package main

import (
	"context"
	"fmt"
)

// runAudit is a placeholder until its issue lands.
func runAudit(ctx context.Context, args []string, io stdio) int {
	fmt.Fprintln(io.err, "portcheck audit: not implemented yet")
	return 1
}
