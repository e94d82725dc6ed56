package cli

import (
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/portcheck/portcheck/checks"
)

// progress is the live status line of a run on a terminal: a spinner, the
// port being waited for, the step it is at, how long it has taken, and for
// several ports how many are done. It redraws itself in place (\r) on a
// ticker from the first fraction of a second, so a single silent port
// shows life too; a run that finishes quickly never draws it.
//
// The step is the engine's own word (checks.Request.Progress, which Run
// hands to Step); before a port has said one (and for an engine that says
// none) it is read off the clock against the engine's schedule (stepAt).
type progress struct {
	mu      sync.Mutex
	w       io.Writer
	reqs    []checks.Request
	now     func() time.Time
	start   time.Time
	timeout time.Duration // per port: the step schedule ends there
	width   int           // the terminal's columns; the line stays shorter
	done    []bool        // by request
	steps   []string      // by request: the engine's own word, when it said one
	ndone   int
	open    int
	frame   int
	shown   bool
	stopped bool
}

// progressDelay is how long a run goes before the line appears: a
// loopback check finishes well within it and prints no spinner at all.
const progressDelay = 150 * time.Millisecond

// together is how many ports surely start at once (the engine runs up to
// its concurrency, 1000 by default, side by side): for those the run's
// clock is each port's clock, so the step can be read off it. Beyond, the
// line says only which port is waited for.
const together = 64

var spinner = []string{"⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"}

func newProgress(w io.Writer, reqs []checks.Request, now func() time.Time, timeout time.Duration, width int) *progress {
	if width <= 0 {
		width = 80
	}
	return &progress{w: w, reqs: reqs, now: now, start: now(), timeout: timeout, width: width,
		done: make([]bool, len(reqs)), steps: make([]string, len(reqs))}
}

// run redraws the line on every tick until stop; a nil progress does
// nothing, so callers need no checks.
func (p *progress) run(tick <-chan time.Time, stop <-chan struct{}) {
	if p == nil {
		return
	}
	for {
		select {
		case <-stop:
			return
		case <-tick:
			p.draw()
		}
	}
}

// finished marks request i done (open or not).
func (p *progress) finished(i int, open bool) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if i >= 0 && i < len(p.done) && !p.done[i] {
		p.done[i] = true
		p.ndone++
		if open {
			p.open++
		}
	}
}

// Step records what request i is doing now, as the engine says it
// ("connect", "path questions", "listening for a late ICMP").
func (p *progress) Step(i int, step string) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if i >= 0 && i < len(p.steps) {
		p.steps[i] = step
	}
}

// draw writes the line once (after progressDelay).
func (p *progress) draw() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stopped {
		return
	}
	elapsed := p.now().Sub(p.start)
	if elapsed < progressDelay {
		return
	}
	line := p.line(elapsed)
	p.frame++
	p.shown = true
	fmt.Fprint(p.w, "\r\x1b[K"+line)
}

// line is the status line at elapsed into the run.
func (p *progress) line(elapsed time.Duration) string {
	waiting := -1 // the first port not done: the one the run waits for
	for i, d := range p.done {
		if !d {
			waiting = i
			break
		}
	}
	parts := []string{spinner[p.frame%len(spinner)]}
	if len(p.reqs) > 1 {
		parts = append(parts, fmt.Sprintf("%d/%d ports (%d open)", p.ndone, len(p.reqs), p.open))
	}
	if waiting >= 0 {
		r := p.reqs[waiting]
		parts = append(parts, net.JoinHostPort(r.Host, strconv.Itoa(r.Port)))
		switch step := p.steps[waiting]; {
		case step != "":
			parts = append(parts, strings.TrimSuffix(step, "…")+"…")
		case len(p.reqs) <= together:
			parts = append(parts, stepAt(elapsed, p.timeout)+"…")
		}
	}
	parts = append(parts, seconds(elapsed))
	return cutRunes(strings.Join(parts, "  "), p.width-1)
}

// stepAt is the step one port is at after elapsed, read off the engine's
// schedule (checks.Config's defaults): the connect, and the ping beside it,
// get the first second; a port still silent then has its path asked about
// (a trace toward the port and a control trace); from 3.5 s (the re-ask
// window) until the deadline the engine only listens for a router's late
// host-unreachable, which comes once its ARP gives up.
func stepAt(elapsed, timeout time.Duration) string {
	reask := 3500 * time.Millisecond
	if timeout > 0 {
		reask = min(reask, timeout)
	}
	switch {
	case elapsed < time.Second:
		return "connect"
	case elapsed < reask:
		return "no answer yet: path questions"
	}
	return "listening for a late ICMP"
}

func seconds(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', 1, 64) + "s"
}

func cutRunes(s string, n int) string {
	r := []rune(s)
	if n > 0 && len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

// clear erases the line before other output lands on the terminal; the
// next tick draws it again.
func (p *progress) clear() {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.shown {
		fmt.Fprint(p.w, "\r\x1b[K")
		p.shown = false
	}
}

// around runs f (which prints to the terminal) with the line erased and
// no redraw in between, so output never lands after the spinner.
func (p *progress) around(f func()) {
	if p == nil {
		f()
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.shown {
		fmt.Fprint(p.w, "\r\x1b[K")
		p.shown = false
	}
	f()
}

// stop erases the line for good.
func (p *progress) stop() {
	if p == nil {
		return
	}
	p.clear()
	p.mu.Lock()
	p.stopped = true
	p.mu.Unlock()
}
