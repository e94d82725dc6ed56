package main

import (
	"io"

	"golang.org/x/sys/unix"
)

// isTerminal reports whether w is a terminal, so progress lines (which
// redraw themselves with \r) never end up in a file or a pipe. It asks the
// kernel for the terminal attributes, as golang.org/x/term does, without
// adding that module.
func isTerminal(w io.Writer) bool {
	f, ok := w.(interface{ Fd() uintptr })
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// termWidth is the terminal's width in columns (0 when w is not one), so
// the status line never wraps.
func termWidth(w io.Writer) int {
	f, ok := w.(interface{ Fd() uintptr })
	if !ok {
		return 0
	}
	ws, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ)
	if err != nil {
		return 0
	}
	return int(ws.Col)
}
