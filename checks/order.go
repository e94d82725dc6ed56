package checks

import (
	"sync"
	"time"
)

// Hooks are what a caller of CheckEach hears while the ports are checked.
type Hooks struct {
	// Done, when set, hears each port as it finishes (open: it
	// accepted), in completion order and from any goroutine: a progress
	// line. It must not block.
	Done func(i int, open bool)
	// Report gets each port's report, from one goroutine, in request
	// order: as soon as that port and every one before it are done, so a
	// caller can print it and let it go. After a cancellation the ports
	// that finished are reported, in order; the others are left out.
	Report func(i int, r Report)
	// Flush, when set, is called whenever Report has caught up with the
	// ports done so far: a writer that buffers lines flushes then.
	Flush func()
}

// ordered puts finished ports back in request order for Hooks.Report.
// A port settled by the range scanner is kept as a quickResult (about a
// hundred bytes) and made into a Report only when its turn comes, so a
// 65535-port range holds compact records, not sixty thousand reports
// waiting behind one silent port.
type ordered struct {
	p    *Prober
	reqs []Request
	h    Hooks

	mu   sync.Mutex
	res  []orderedResult
	next int // the first port not yet handed to Report
	kick chan struct{}
	done chan struct{} // closed by finish: no more results come
	out  chan struct{} // closed when the emitter has returned
}

type orderedResult struct {
	state resultState
	hs    *hostState
	full  *Report
	quick quickResult
}

type resultState uint8

const (
	resultPending resultState = iota
	resultQuick               // settled by the scanner: quick
	resultFull                // a full check's report
	resultGone                // cut short by a cancellation: not a finding
)

// quickResult is a port the range scanner settled from its connect's
// answer alone (a reset, an ICMP error, no route): what its Report is made
// of besides what the host shares, in 16 bytes. Who answered and a local
// error are interned per host (a range's answers come from a handful of
// addresses, its errors are one or two).
type quickResult struct {
	rttUS   uint32 // the answer's round trip, µs (what ConnectResult keeps)
	elapsed uint32 // ms
	reason  uint8  // reasonCode
	icmp    bool
	typ     uint8
	code    uint8
	ping    uint8 // 1 + index into the host's ping snapshots; 0 none
	from    uint8 // 1 + index into the host's senders; 0 none
	err     uint8 // 1 + index into the host's errors; 0 none
}

// quickReasons are the connect reasons a quickResult can hold, by code.
func quickReason(code uint8) Reason {
	switch code {
	case 1:
		return ReasonReset
	case 2:
		return ReasonICMPPortUnreachable
	case 3:
		return ReasonICMPAdminProhibited
	case 4:
		return ReasonICMPHostUnreachable
	case 5:
		return ReasonICMPNetUnreachable
	case 6:
		return ReasonICMPProtoUnreachable
	case 7:
		return ReasonICMPTimeExceeded
	case 8:
		return ReasonICMPOther
	case 9:
		return ReasonNoRoute
	case 10:
		return ReasonLocalError
	}
	return ""
}

func reasonCode(r Reason) (uint8, bool) {
	for c := uint8(1); c <= 10; c++ {
		if quickReason(c) == r {
			return c, true
		}
	}
	return 0, false
}

func newOrdered(p *Prober, reqs []Request, h Hooks) *ordered {
	o := &ordered{p: p, reqs: reqs, h: h, res: make([]orderedResult, len(reqs)),
		kick: make(chan struct{}, 1), done: make(chan struct{}), out: make(chan struct{})}
	go o.emit()
	return o
}

// setQuick records a port the scanner settled. The scanner nudges the
// emitter once per batch of answers (nudge), not once per port.
func (o *ordered) setQuick(i int, hs *hostState, q quickResult) {
	o.set(i, orderedResult{state: resultQuick, hs: hs, quick: q}, false)
	if o.h.Done != nil {
		o.h.Done(i, false)
	}
}

func (o *ordered) setFull(i int, r Report) {
	o.set(i, orderedResult{state: resultFull, full: &r}, true)
	if o.h.Done != nil {
		o.h.Done(i, r.Verdict == VerdictOpen)
	}
}

func (o *ordered) setGone(i int) {
	o.set(i, orderedResult{state: resultGone}, true)
}

// set stores port i's result and, with kick, wakes the emitter when i
// completes the prefix (a port behind a pending one waits for that one's
// own wake-up: the emitter advances under the same lock, so none is lost).
func (o *ordered) set(i int, r orderedResult, kick bool) {
	o.mu.Lock()
	o.res[i] = r
	due := i == o.next
	o.mu.Unlock()
	if kick && due {
		o.nudge()
	}
}

// nudge wakes the emitter to report whatever is ready.
func (o *ordered) nudge() {
	select {
	case o.kick <- struct{}{}:
	default:
	}
}

// finish says no more results come (every other port is gone) and waits
// until every finished one has been reported.
func (o *ordered) finish() {
	close(o.done)
	<-o.out
}

func (o *ordered) emit() {
	defer close(o.out)
	final := false
	for {
		select {
		case <-o.kick:
		case <-o.done:
			final = true
		}
		for {
			o.mu.Lock()
			from := o.next
			for o.next < len(o.res) && (o.res[o.next].state != resultPending || final) {
				o.next++
			}
			to := o.next
			o.mu.Unlock()
			if from == to {
				break
			}
			o.reportRange(from, to)
		}
		if o.h.Flush != nil {
			o.h.Flush()
		}
		if final {
			return
		}
	}
}

// reportChunk is how many reports one helper makes at a time when many
// are ready at once; reportAhead bounds the chunks made ahead of the one
// handed over (memory: a few hundred reports, not the range).
const (
	reportChunk = 256
	reportAhead = 3
)

// reportRange hands ports from..to-1 to Hooks.Report in order. A long run
// (the tail of a range, sixty thousand ports that were waiting behind one
// silent port) is made by helpers a chunk at a time while the reports
// before it are handed over, so the diagnosis of the next ports and the
// caller's printing of these run on two cores.
func (o *ordered) reportRange(from, to int) {
	if to-from <= 2*reportChunk {
		for i := from; i < to; i++ {
			o.hand(i, o.make(i))
		}
		return
	}
	chunks := make(chan chan []made, reportAhead)
	go func() {
		defer close(chunks)
		for c := from; c < to; c += reportChunk {
			chunk := make(chan []made, 1)
			chunks <- chunk // blocks while reportAhead chunks wait
			go func(lo, hi int) {
				reps := make([]made, hi-lo)
				for i := lo; i < hi; i++ {
					reps[i-lo] = o.make(i)
				}
				chunk <- reps
			}(c, min(c+reportChunk, to))
		}
	}()
	i := from
	for chunk := range chunks {
		for _, m := range <-chunk {
			o.hand(i, m)
			i++
		}
	}
}

// made is a port's report, or nothing for a port gone.
type made struct {
	r  Report
	ok bool
}

// make builds port i's report and lets its result go.
func (o *ordered) make(i int) made {
	o.mu.Lock()
	r := o.res[i]
	o.res[i] = orderedResult{state: r.state}
	o.mu.Unlock()
	switch r.state {
	case resultQuick:
		return made{o.p.quickReport(o.reqs[i], r.hs, &r.quick), true}
	case resultFull:
		return made{*r.full, true}
	}
	return made{}
}

// hand gives a made report to Hooks.Report; a port gone is skipped.
func (o *ordered) hand(i int, m made) {
	if m.ok && o.h.Report != nil {
		o.h.Report(i, m.r)
	}
}

// quickReport is the Report check would have made of a port the scanner
// settled: the same evidence (resolution, connect, the host's ping so
// far), the same diagnosis.
func (p *Prober) quickReport(req Request, hs *hostState, q *quickResult) Report {
	from, err := hs.interned(q.from, q.err)
	out := tcpOutcome{Reason: quickReason(q.reason), From: from, RTT: time.Duration(q.rttUS) * time.Microsecond, Err: err}
	if q.icmp {
		out.ICMP = &ICMP{Type: q.typ, Code: q.code, From: addrString(from)}
	}
	return p.answerReport(req, hs, out, time.Duration(q.elapsed)*time.Millisecond, q.ping)
}

// answerReport is the Report of a port whose connect answered (out) in a
// range, ping the host's ping snapshot it saw (notePing).
func (p *Prober) answerReport(req Request, hs *hostState, out tcpOutcome, elapsed time.Duration, ping uint8) Report {
	rr := hs.res
	rep := Report{
		Target: req.Target, Host: req.Host, Port: req.Port, Vantage: p.cfg.Vantage,
		Addresses: append([]string{}, rr.Addresses...), Trace: []Hop{}, Hints: []Hint{},
		Address: hs.addrText,
	}
	ev := Evidence{Target: req.Target, Host: req.Host, Port: req.Port, Resolve: rr}
	ev.Connect = connectResult(hs.addrs[0], out)
	if ping > 0 {
		snap := hs.pingSnapshot(ping)
		ev.Ping = &snap
	}
	p.finish(&rep, ev)
	rep.ElapsedMS = elapsed.Milliseconds()
	return rep
}
