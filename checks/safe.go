package checks

import (
	"fmt"
	"runtime/debug"
)

// panicError is a panic caught inside a probe goroutine. Check's own
// recover cannot see those, and one bad probe must not kill the process
// (a bot checks many targets at once).
type panicError struct {
	value any
	stack []byte
}

func (e *panicError) Error() string { return fmt.Sprintf("probe panicked: %v\n%s", e.value, e.stack) }

// catch turns a panic in the calling goroutine into an error passed to
// onPanic; use it as `defer catch(func(err error) {...})`.
func catch(onPanic func(error)) {
	if v := recover(); v != nil {
		onPanic(&panicError{value: v, stack: debug.Stack()})
	}
}
