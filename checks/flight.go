package checks

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// flights lets identical checks that start together share one (Config.
// CoalesceWithin): a worker holding a thousand checks of one port (an
// incident, and everyone asks) probes it once and answers each of them,
// instead of holding a thousand connects, path questions and their
// goroutines at once. Only a check that starts within the window of a
// running one joins it: the answer then describes the network at most that
// long before it was asked, the way a path question is shared (pathCache);
// a re-check a few seconds later, after a firewall change, probes afresh.
type flights struct {
	mu sync.Mutex
	m  map[string]*flight
}

type flight struct {
	start time.Time
	done  chan struct{}
	// rep is the leader's report once it lands: a pointer, made then, so
	// that a flight still in the air (a held silent check) does not carry
	// 352 bytes of empty Report.
	rep *Report
	cut bool // the leader's caller went away before the port answered

	mu    sync.Mutex
	hear  map[int]func(string) // the joiners' Request.Progress, by join number; nil until one listens
	joins int
}

// WorkerCoalesce is the Config.CoalesceWithin a worker runs with: identical
// jobs arriving within a quarter second of each other share one probe.
const WorkerCoalesce = 250 * time.Millisecond

func newFlights() *flights { return &flights{m: map[string]*flight{}} }

// flightKey is what makes two requests the same check.
func flightKey(r *Request) string {
	var b strings.Builder
	b.WriteString(strings.ToLower(r.Host))
	b.WriteByte('|')
	b.WriteString(strconv.Itoa(r.Port))
	b.WriteByte('|')
	b.WriteString(strings.ToLower(r.Scheme))
	b.WriteByte('|')
	b.WriteString(strconv.FormatBool(r.Trace))
	for _, a := range r.Addrs {
		b.WriteByte('|')
		b.WriteString(a.String())
	}
	return b.String()
}

// take returns the flight r may join (leader false), or a new one it leads.
func (fs *flights) take(r *Request, window time.Duration, now time.Time) (f *flight, leader bool) {
	k := flightKey(r)
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if f := fs.m[k]; f != nil && now.Sub(f.start) < window {
		return f, false
	}
	f = &flight{start: now, done: make(chan struct{})}
	fs.m[k] = f
	return f, true
}

// land records the leader's report and lets the joiners go. The flight
// stays joinable until its window ends, so a check arriving a moment after
// a fast one (a closed port answers in a millisecond) gets its report too,
// as "within the window" says; then it is dropped.
func (fs *flights) land(r *Request, f *flight, rep *Report, cut bool, window time.Duration) {
	snap := *rep
	f.rep, f.cut = &snap, cut
	close(f.done)
	k := flightKey(r)
	drop := func() {
		fs.mu.Lock()
		if fs.m[k] == f {
			delete(fs.m, k)
		}
		fs.mu.Unlock()
	}
	if left := window - time.Since(f.start); left > 0 && !cut {
		time.AfterFunc(left, drop)
		return
	}
	drop()
}

// listen adds a joiner's progress hook; the func returned removes it.
func (f *flight) listen(hook func(string)) func() {
	if hook == nil {
		return func() {}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.joins++
	n := f.joins
	if f.hear == nil {
		f.hear = map[int]func(string){}
	}
	f.hear[n] = hook
	return func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		delete(f.hear, n)
	}
}

// say is the leader's Request.Progress: its own hook and every joiner's.
func (f *flight) say(own func(string)) func(string) {
	return func(step string) {
		if own != nil {
			own(step)
		}
		f.mu.Lock()
		hooks := make([]func(string), 0, len(f.hear))
		for _, h := range f.hear {
			hooks = append(hooks, h)
		}
		f.mu.Unlock()
		for _, h := range hooks {
			h(step)
		}
	}
}

// coalesced is Check for a Prober that coalesces identical checks,
// writing into rep. The leader's probe waits under this frame, so the
// follower's part is a function of its own.
func (p *Prober) coalesced(ctx context.Context, req *Request, mode traceMode, rep *Report) {
	start := time.Now()
	f, leader := p.flights.take(req, p.cfg.CoalesceWithin, start)
	if !leader {
		p.follow(ctx, req, mode, f, start, rep)
		return
	}
	led := *req
	led.Progress = f.say(req.Progress)
	p.checkTo(ctx, &led, nil, mode, nil, rep)
	p.flights.land(req, f, rep, ctx.Err() != nil && !conclusive(rep), p.cfg.CoalesceWithin)
}

// follow waits for the flight f another check leads and takes its report
// as its own; when the leader was cut short (its caller went away) it
// checks itself.
//
//go:noinline
func (p *Prober) follow(ctx context.Context, req *Request, mode traceMode, f *flight, start time.Time, rep *Report) {
	stop := f.listen(req.Progress)
	defer stop()
	select {
	case <-f.done:
		if !f.cut {
			f.copyTo(rep, req.Target, start)
			return
		}
	case <-ctx.Done():
	}
	stop()
	p.checkTo(ctx, req, nil, mode, nil, rep)
}

// copyTo gives a joiner the leader's report as its own. A function of its
// own: the Report copies are then not in the frame a joiner waits in.
//
//go:noinline
func (f *flight) copyTo(rep *Report, target string, start time.Time) {
	*rep = cloneReport(*f.rep)
	rep.Target = target
	rep.ElapsedMS = time.Since(start).Milliseconds()
}

// cloneReport is a deep copy: a report handed to several callers must not
// share what one of them may change (redaction, the worker's vantage).
func cloneReport(r Report) Report {
	r.Addresses = slices.Clone(r.Addresses)
	r.LastHop = clonePtr(r.LastHop)
	if r.Service != nil {
		s := *r.Service
		s.TLS = clonePtr(s.TLS)
		r.Service = &s
	}
	r.Ping = clonePtr(r.Ping)
	r.Trace = slices.Clone(r.Trace)
	if r.ControlTrace != nil {
		t := *r.ControlTrace
		t.Hops = slices.Clone(t.Hops)
		r.ControlTrace = &t
	}
	if r.Connect != nil {
		c := *r.Connect
		c.ICMP = clonePtr(c.ICMP)
		r.Connect = &c
	}
	if r.Others != nil {
		others := make([]ConnectResult, len(r.Others))
		for i, o := range r.Others {
			o.ICMP = clonePtr(o.ICMP)
			others[i] = o
		}
		r.Others = others
	}
	if r.Hints != nil {
		hints := make([]Hint, len(r.Hints))
		for i, h := range r.Hints {
			h.Commands = slices.Clone(h.Commands)
			hints[i] = h
		}
		r.Hints = hints
	}
	r.Likely = slices.Clone(r.Likely)
	r.Path = clonePtr(r.Path)
	r.Egress = clonePtr(r.Egress)
	return r
}

func clonePtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	c := *p
	return &c
}
