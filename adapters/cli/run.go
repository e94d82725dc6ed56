package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/portcheck/portcheck/checks"
)

// ManyChecker is the part of *checks.Prober a Run uses; tests pass a fake
// to pin down ordering and interruption without a network.
type ManyChecker interface {
	CheckEach(ctx context.Context, reqs []checks.Request, h checks.Hooks)
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

// Execute runs every request through CheckEach (which shares per-host work,
// bounds concurrency and hands the reports over in input order), streams
// JSON lines as they come, and renders the human view at the end from a
// digest (what the table shows, what it folds, the counts): neither keeps
// every report of a range. On Ctrl-C it prints what finished.
func (c Run) Execute(ctx context.Context, reqs []checks.Request) Summary {
	now := c.Now
	if now == nil {
		now = time.Now
	}
	start := now()
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
	sum := Summary{Requested: len(reqs)}
	var (
		bw   *bufio.Writer
		enc  *json.Encoder
		line []byte // reused: one report's line at a time
		dig  *digest
	)
	if c.JSON {
		// Buffered, flushed whenever the engine has caught up: a range
		// of 65535 lines is a few hundred writes, not 65535.
		bw = bufio.NewWriterSize(c.Out, 64<<10)
		enc = json.NewEncoder(bw)
		enc.SetEscapeHTML(false) // banners read better with < and & left alone
	} else {
		dig = newDigest()
	}
	c.Prober.CheckEach(ctx, reqs, checks.Hooks{
		Done: func(i int, open bool) { prog.finished(i, open) },
		Report: func(_ int, r checks.Report) {
			sum.Checked++
			if r.Verdict == checks.VerdictOpen {
				sum.Open++
			}
			if enc == nil {
				dig.add(r)
				return
			}
			jr := jsonReport(r)
			prog.around(func() {
				var ok bool
				if line, ok = appendJSONLine(line[:0], &jr); ok {
					bw.Write(line) //nolint:errcheck // a closed stdout ends the run's use anyway
					return
				}
				enc.Encode(jr) //nolint:errcheck
			})
		},
		Flush: func() {
			if bw != nil {
				prog.around(func() { bw.Flush() }) //nolint:errcheck
			}
		},
	})
	if bw != nil {
		prog.around(func() { bw.Flush() }) //nolint:errcheck
	}
	prog.stop()
	sum.Interrupted = ctx.Err() != nil && sum.Checked < len(reqs)
	if sum.Interrupted {
		fmt.Fprintf(c.Err, "portcheck check: interrupted: %d of %d ports checked\n", sum.Checked, len(reqs))
	}
	if dig != nil {
		renderDigest(c.Out, dig, runSummary{Requested: len(reqs), Elapsed: now().Sub(start), Interrupted: sum.Interrupted, Color: c.Color}) //nolint:errcheck
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
