package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/portcheck/portcheck/checks"
)

// ManyChecker is the part of *checks.Prober a Run uses; tests pass a fake
// to pin down ordering and interruption without a network.
type ManyChecker interface {
	CheckMany(ctx context.Context, reqs []checks.Request, onReport func(checks.Report)) []checks.Report
}

// Run executes the requests of `portcheck check` and prints them.
type Run struct {
	Prober   ManyChecker
	JSON     bool      // one JSON object per port, one per line
	Progress bool      // draw the live status line on Err (a terminal)
	Color    bool      // verdicts in colour (a terminal that wants it)
	Out, Err io.Writer // the reports; progress and interruption
	Now      func() time.Time
	Timeout  time.Duration    // per port, for the status line's steps
	Width    int              // the terminal's columns (0: 80)
	Tick     <-chan time.Time // redraws the status line; default every 100 ms
}

// Summary is what a Run found.
type Summary struct {
	Requested, Checked, Open int
	Interrupted              bool // Ctrl-C: Checked is what finished
}

// AllOpen says whether every port asked for was checked and is open.
func (s Summary) AllOpen() bool {
	return !s.Interrupted && s.Checked == s.Requested && s.Open == s.Checked
}

// Execute runs every request through CheckMany (which shares per-host work
// and bounds concurrency), streams JSON lines in input order as soon as the
// prefix is complete, and renders the human view at the end. On Ctrl-C it
// prints what finished.
func (c Run) Execute(ctx context.Context, reqs []checks.Request) Summary {
	now := c.Now
	if now == nil {
		now = time.Now
	}
	start := now()
	col := newCollector(reqs)
	var prog *progress
	if c.Progress {
		prog = newProgress(c.Err, reqs, now, c.Timeout, c.Width)
		// Each port tells the line what it is doing (a copy: the caller's
		// requests stay as they were).
		reqs = slices.Clone(reqs)
		for i := range reqs {
			reqs[i].Progress = func(step string) { prog.Step(i, step) }
		}
		tick := c.Tick
		if tick == nil {
			t := time.NewTicker(100 * time.Millisecond)
			defer t.Stop()
			tick = t.C
		}
		stop, stopped := make(chan struct{}), make(chan struct{})
		go func() { defer close(stopped); prog.run(tick, stop) }()
		defer func() { close(stop); <-stopped }()
	}
	var enc *json.Encoder
	if c.JSON {
		enc = json.NewEncoder(c.Out)
		enc.SetEscapeHTML(false) // banners read better with < and & left alone
	}
	var mu sync.Mutex // onReport runs concurrently; output and progress are serialized
	emit := func(ready []checks.Report) {
		if enc == nil || len(ready) == 0 {
			return
		}
		prog.around(func() {
			for _, r := range ready {
				enc.Encode(jsonReport(r)) //nolint:errcheck // a closed stdout ends the run's use anyway
			}
		})
	}
	onReport := func(r checks.Report) {
		mu.Lock()
		defer mu.Unlock()
		ready, i := col.add(r)
		emit(ready)
		prog.finished(i, r.Verdict == checks.VerdictOpen)
	}
	returned := c.Prober.CheckMany(ctx, reqs, onReport)

	mu.Lock()
	defer mu.Unlock()
	if col.done < len(returned) {
		// An engine that returns reports without calling onReport for each:
		// the returned slice is the truth.
		col = newCollector(reqs)
		for _, r := range returned {
			ready, _ := col.add(r)
			emit(ready)
		}
	}
	prog.stop()
	emit(col.rest()) // after an interruption: what finished beyond a gap
	reports := col.finished()
	interrupted := ctx.Err() != nil && len(reports) < len(reqs)
	if interrupted {
		fmt.Fprintf(c.Err, "portcheck check: interrupted: %d of %d ports checked\n", len(reports), len(reqs))
	}
	if enc == nil {
		renderHuman(c.Out, reports, runSummary{Requested: len(reqs), Elapsed: now().Sub(start), Interrupted: interrupted, Color: c.Color}) //nolint:errcheck
	}
	sum := Summary{Requested: len(reqs), Checked: len(reports), Interrupted: interrupted}
	for _, r := range reports {
		if r.Verdict == checks.VerdictOpen {
			sum.Open++
		}
	}
	return sum
}

// jsonReport fills the arrays of the contract so consumers never see null
// where docs/json.md promises a list.
func jsonReport(r checks.Report) checks.Report {
	if r.Hints == nil {
		r.Hints = []checks.Hint{}
	}
	if r.Trace == nil {
		r.Trace = []checks.Hop{}
	}
	if r.Addresses == nil {
		r.Addresses = []string{}
	}
	return r
}

// collector puts reports back in request order: CheckMany reports in
// completion order, and a report is matched to the first pending request
// with the same target, host and port.
type collector struct {
	slots    []*checks.Report
	pending  map[string][]int
	next     int // first slot not yet emitted
	done     int
	open     int
	extra    []checks.Report // reports no request matched (kept, printed last)
	extraOut int             // how many of extra were emitted
}

func newCollector(reqs []checks.Request) *collector {
	c := &collector{slots: make([]*checks.Report, len(reqs)), pending: map[string][]int{}}
	for i, r := range reqs {
		k := reportKey(r.Target, r.Host, r.Port)
		c.pending[k] = append(c.pending[k], i)
	}
	return c
}

func reportKey(target, host string, port int) string {
	return target + "\x00" + host + "\x00" + strconv.Itoa(port)
}

// add stores a report and returns the reports now ready in order, and the
// index of the request it answers (-1: none).
func (c *collector) add(r checks.Report) ([]checks.Report, int) {
	c.done++
	if r.Verdict == checks.VerdictOpen {
		c.open++
	}
	k := reportKey(r.Target, r.Host, r.Port)
	idx := c.pending[k]
	if len(idx) == 0 {
		c.extra = append(c.extra, r)
		return nil, -1
	}
	c.pending[k] = idx[1:]
	c.slots[idx[0]] = &r
	var ready []checks.Report
	for c.next < len(c.slots) && c.slots[c.next] != nil {
		ready = append(ready, *c.slots[c.next])
		c.next++
	}
	return ready, idx[0]
}

// rest returns, once, the finished reports not yet emitted (those after a
// gap left by an interruption, and unmatched ones).
func (c *collector) rest() []checks.Report {
	var out []checks.Report
	for ; c.next < len(c.slots); c.next++ {
		if c.slots[c.next] != nil {
			out = append(out, *c.slots[c.next])
		}
	}
	out = append(out, c.extra[c.extraOut:]...)
	c.extraOut = len(c.extra)
	return out
}

// finished is every report received, in request order.
func (c *collector) finished() []checks.Report {
	var out []checks.Report
	for _, s := range c.slots {
		if s != nil {
			out = append(out, *s)
		}
	}
	return append(out, c.extra...)
}
