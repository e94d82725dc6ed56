// Package testkit holds the few helpers tests across packages share: a
// log sink goroutines may write while the test reads it, and waiting for a
// loop to return.
package testkit

import (
	"strings"
	"sync"
	"testing"
	"time"
)

// Buffer is a log sink a component's goroutines may write while the test
// reads it.
type Buffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *Buffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *Buffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Returns waits for a Run loop's result on done: an error from it is a test
// error, not returning within d a fatal one.
func Returns(t testing.TB, done <-chan error, d time.Duration) {
	t.Helper()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(d):
		t.Fatalf("Run did not return within %s", d)
	}
}
