// Package storetest holds the contract test suites every implementation of
// wire.Queue, wire.Results, audit.Trail and wire.Claims must pass (store/memory,
// store/sqlite, store/redis). Call them from the implementation's own tests:
//
//	func TestQueueContract(t *testing.T) {
//		storetest.TestQueue(t, func(t *testing.T) wire.Queue { return memory.NewQueue() })
//	}
//
// Each subtest gets a fresh store from the factory; the factory should
// register its own cleanup with t.Cleanup.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/portcheck/portcheck/audit"
	"github.com/portcheck/portcheck/checks"
	"github.com/portcheck/portcheck/wire"
)

// wait bounds every blocking call so a broken store fails instead of hanging.
const wait = 5 * time.Second

func ctxFor(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

func sampleJob(id, vantage string) wire.Job {
	return wire.Job{
		ID:        id,
		CommandID: "cmd-" + id,
		Target:    "web01:443",
		Host:      "web01",
		Port:      443,
		Scheme:    "https",
		Addrs:     []string{"198.18.3.10", "2001:db8::10"},
		Vantage:   vantage,
		Trace:     true,
		Timeout:   7 * time.Second,
		Thread: wire.Thread{
			Channel: wire.Channel{Chat: "slack", Team: "T1", ID: "C1", Name: "ops", Ref: "https://hooks.example/x"},
			ID:      "1700000000.000100",
			Ref:     "ref",
		},
		Attempt:    1,
		EnqueuedAt: time.Date(2026, 11, 24, 14, 2, 3, 123456789, time.UTC),
	}
}

func sameJob(t *testing.T, got, want wire.Job) {
	t.Helper()
	if !got.EnqueuedAt.Equal(want.EnqueuedAt) {
		t.Errorf("job %s: EnqueuedAt = %v, want %v", want.ID, got.EnqueuedAt, want.EnqueuedAt)
	}
	got.EnqueuedAt, want.EnqueuedAt = time.Time{}, time.Time{}
	if fmt.Sprintf("%+v", got) != fmt.Sprintf("%+v", want) {
		t.Errorf("job round trip:\n got %+v\nwant %+v", got, want)
	}
}

// TestQueue is the contract of wire.Queue: per-vantage FIFO delivery, Next
// blocking until a job or ctx is done, each job delivered to exactly one of
// several concurrent consumers, Ack idempotent, Release handing a job back.
func TestQueue(t *testing.T, newQueue func(t *testing.T) wire.Queue) {
	t.Run("RoundTrip", func(t *testing.T) {
		q := newQueue(t)
		ctx := ctxFor(t, wait)
		want := sampleJob("j1", "local")
		if err := q.Enqueue(ctx, want); err != nil {
			t.Fatalf("Enqueue: %v", err)
		}
		d, err := q.Next(ctx, "local")
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		sameJob(t, d.Job(), want)
		if err := d.Ack(ctx); err != nil {
			t.Fatalf("Ack: %v", err)
		}
		if err := d.Ack(ctx); err != nil {
			t.Errorf("second Ack must be harmless, got %v", err)
		}
	})

	t.Run("ReleaseHandsTheJobBack", func(t *testing.T) {
		q := newQueue(t)
		ctx := ctxFor(t, wait)
		if err := q.Enqueue(ctx, sampleJob("j1", "local")); err != nil {
			t.Fatalf("Enqueue: %v", err)
		}
		d, err := q.Next(ctx, "local")
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		if err := d.Release(ctx); err != nil {
			t.Fatalf("Release: %v", err)
		}
		again, err := q.Next(ctx, "local")
		if err != nil {
			t.Fatalf("Next after Release: %v", err)
		}
		if again.Job().ID != "j1" {
			t.Errorf("Next after Release = %s, want j1", again.Job().ID)
		}
		_ = again.Ack(ctx)
	})

	t.Run("FIFOPerVantage", func(t *testing.T) {
		q := newQueue(t)
		ctx := ctxFor(t, wait)
		for i := 0; i < 5; i++ {
			for _, v := range []string{"local", "office"} {
				if err := q.Enqueue(ctx, sampleJob(fmt.Sprintf("%s-%d", v, i), v)); err != nil {
					t.Fatalf("Enqueue: %v", err)
				}
			}
		}
		for _, v := range []string{"office", "local"} {
			for i := 0; i < 5; i++ {
				d, err := q.Next(ctx, v)
				if err != nil {
					t.Fatalf("Next(%s): %v", v, err)
				}
				if got, want := d.Job().ID, fmt.Sprintf("%s-%d", v, i); got != want {
					t.Errorf("Next(%s) #%d = %s, want %s", v, i, got, want)
				}
				if d.Job().Vantage != v {
					t.Errorf("Next(%s) returned a job for vantage %q", v, d.Job().Vantage)
				}
				_ = d.Ack(ctx)
			}
		}
	})

	t.Run("NextBlocksUntilContextDone", func(t *testing.T) {
		q := newQueue(t)
		if err := q.Enqueue(ctxFor(t, wait), sampleJob("other", "office")); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		start := time.Now()
		d, err := q.Next(ctx, "local")
		if err == nil {
			t.Fatalf("Next on an empty vantage returned %+v, want a context error", d.Job())
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Next error = %v, want one wrapping context.DeadlineExceeded", err)
		}
		if el := time.Since(start); el < 80*time.Millisecond {
			t.Errorf("Next returned after %v, before its context was done", el)
		}
	})

	t.Run("NextWakesOnEnqueue", func(t *testing.T) {
		q := newQueue(t)
		ctx := ctxFor(t, wait)
		got := make(chan wire.Job, 1)
		errc := make(chan error, 1)
		go func() {
			d, err := q.Next(ctx, "local")
			if err != nil {
				errc <- err
				return
			}
			_ = d.Ack(ctx)
			got <- d.Job()
		}()
		time.Sleep(50 * time.Millisecond) // let Next block first
		if err := q.Enqueue(ctx, sampleJob("late", "local")); err != nil {
			t.Fatal(err)
		}
		select {
		case j := <-got:
			if j.ID != "late" {
				t.Errorf("woke with %s, want late", j.ID)
			}
		case err := <-errc:
			t.Fatalf("Next: %v", err)
		case <-ctx.Done():
			t.Fatal("Next did not wake up after Enqueue")
		}
	})

	t.Run("ConcurrentConsumersEachJobOnce", func(t *testing.T) {
		q := newQueue(t)
		ctx := ctxFor(t, 2*wait)
		const jobs, consumers = 200, 4
		var mu sync.Mutex
		seen := map[string]int{}
		var wg sync.WaitGroup
		cctx, stop := context.WithCancel(ctx)
		defer stop()
		for c := 0; c < consumers; c++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					d, err := q.Next(cctx, "local")
					if err != nil {
						return
					}
					mu.Lock()
					seen[d.Job().ID]++
					n := len(seen)
					mu.Unlock()
					_ = d.Ack(ctx)
					if n == jobs {
						stop()
					}
				}
			}()
		}
		var pw sync.WaitGroup
		for p := 0; p < 2; p++ {
			pw.Add(1)
			go func(p int) {
				defer pw.Done()
				for i := p; i < jobs; i += 2 {
					if err := q.Enqueue(ctx, sampleJob(fmt.Sprintf("c%03d", i), "local")); err != nil {
						t.Errorf("Enqueue: %v", err)
						return
					}
				}
			}(p)
		}
		pw.Wait()
		wg.Wait()
		if len(seen) != jobs {
			t.Fatalf("consumed %d distinct jobs, want %d", len(seen), jobs)
		}
		for id, n := range seen {
			if n != 1 {
				t.Errorf("job %s delivered %d times", id, n)
			}
		}
	})

	t.Run("NextWithCancelledContextFails", func(t *testing.T) {
		q := newQueue(t)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := q.Next(ctx, "local"); err == nil {
			t.Error("Next with a cancelled context returned no error")
		}
	})
}

func sampleResult(id string) wire.Result {
	j := sampleJob(id, "local")
	return wire.Result{
		Job: j,
		Report: checks.Report{
			Target: "web01:443", Host: "web01", Port: 443,
			Address: "198.18.3.10", Addresses: []string{"198.18.3.10"},
			Verdict: checks.VerdictFilteredAtHost, Reason: checks.ReasonNoResponse,
			ReportedBy: "", LastHop: &checks.Hop{TTL: 3, Address: "198.18.2.1", RTTMS: 1.5, ICMP: "time-exceeded"},
			Trace:   []checks.Hop{{TTL: 1, Address: "10.0.0.1", RTTMS: 0.3, ICMP: "time-exceeded"}, {TTL: 2}},
			Summary: "silence from the host", Hints: []checks.Hint{{Text: "check the firewall", Commands: []string{"sudo nft list ruleset"}}},
			ElapsedMS: 1234, Vantage: "local",
		},
		Error:    "",
		Finished: time.Date(2026, 11, 24, 14, 2, 4, 500, time.UTC),
	}
}

// TestResults is the contract of wire.Results: what is published comes back
// whole, in order, once, and Next blocks until a result or ctx is done.
func TestResults(t *testing.T, newResults func(t *testing.T) wire.Results) {
	t.Run("RoundTrip", func(t *testing.T) {
		rs := newResults(t)
		ctx := ctxFor(t, wait)
		want := sampleResult("r1")
		if err := rs.Publish(ctx, want); err != nil {
			t.Fatalf("Publish: %v", err)
		}
		d, err := rs.Next(ctx)
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		got := d.Result()
		sameJob(t, got.Job, want.Job)
		if !got.Finished.Equal(want.Finished) {
			t.Errorf("Finished = %v, want %v", got.Finished, want.Finished)
		}
		if g, w := fmt.Sprintf("%+v", got.Report), fmt.Sprintf("%+v", want.Report); g != w {
			// Pointers print as addresses: compare what they point to.
			if got.Report.Verdict != want.Report.Verdict || got.Report.LastHop == nil ||
				*got.Report.LastHop != *want.Report.LastHop || len(got.Report.Trace) != 2 ||
				len(got.Report.Hints) != 1 || got.Report.Hints[0].Commands[0] != "sudo nft list ruleset" ||
				got.Report.ElapsedMS != 1234 || got.Report.Summary != want.Report.Summary {
				t.Errorf("report round trip:\n got %s\nwant %s", g, w)
			}
		}
		if err := d.Ack(ctx); err != nil {
			t.Fatalf("Ack: %v", err)
		}
		if err := d.Ack(ctx); err != nil {
			t.Errorf("second Ack must be harmless, got %v", err)
		}
	})

	t.Run("ErrorTravels", func(t *testing.T) {
		rs := newResults(t)
		ctx := ctxFor(t, wait)
		r := sampleResult("boom")
		r.Report = checks.Report{Target: "web01:443"}
		r.Error = "probe panicked: boom"
		if err := rs.Publish(ctx, r); err != nil {
			t.Fatal(err)
		}
		d, err := rs.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if d.Result().Error != r.Error {
			t.Errorf("Error = %q, want %q", d.Result().Error, r.Error)
		}
	})

	t.Run("Order", func(t *testing.T) {
		rs := newResults(t)
		ctx := ctxFor(t, wait)
		for i := 0; i < 10; i++ {
			if err := rs.Publish(ctx, sampleResult(fmt.Sprintf("o%d", i))); err != nil {
				t.Fatal(err)
			}
		}
		for i := 0; i < 10; i++ {
			d, err := rs.Next(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := d.Result().Job.ID, fmt.Sprintf("o%d", i); got != want {
				t.Errorf("#%d = %s, want %s", i, got, want)
			}
			_ = d.Ack(ctx)
		}
	})

	t.Run("NextBlocksUntilContextDone", func(t *testing.T) {
		rs := newResults(t)
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		start := time.Now()
		if _, err := rs.Next(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Next on empty results = %v, want context.DeadlineExceeded", err)
		}
		if el := time.Since(start); el < 80*time.Millisecond {
			t.Errorf("Next returned after %v, before its context was done", el)
		}
	})

	t.Run("NextWakesOnPublish", func(t *testing.T) {
		rs := newResults(t)
		ctx := ctxFor(t, wait)
		got := make(chan string, 1)
		go func() {
			d, err := rs.Next(ctx)
			if err != nil {
				got <- "error: " + err.Error()
				return
			}
			_ = d.Ack(ctx)
			got <- d.Result().Job.ID
		}()
		time.Sleep(50 * time.Millisecond)
		if err := rs.Publish(ctx, sampleResult("late")); err != nil {
			t.Fatal(err)
		}
		select {
		case id := <-got:
			if id != "late" {
				t.Errorf("woke with %s, want late", id)
			}
		case <-ctx.Done():
			t.Fatal("Next did not wake up after Publish")
		}
	})
}

// TestAudit is the contract of audit.Trail: append-only, Seq assigned by the
// store and strictly increasing, Query filtering. Query semantics every
// implementation shares:
//   - records come back in ascending Seq order;
//   - with Limit > 0, the most recent Limit matching records (still ascending);
//   - Chat, Channel, Kind, Thread match exactly; Since matches At >= Since;
//   - Target matches a record whose Target, or one of whose Targets, equals
//     q.Target or starts with q.Target+":" (so "web01" finds "web01:443").
func TestAudit(t *testing.T, newAudit func(t *testing.T) audit.Trail) {
	base := time.Date(2026, 11, 24, 14, 0, 0, 0, time.UTC)
	rec := func(i int, kind, channel, target string) audit.Record {
		r := audit.Record{
			At: base.Add(time.Duration(i) * time.Minute), Kind: kind, Chat: "slack", Team: "T1",
			Channel: channel, User: "U1", CommandID: fmt.Sprintf("cmd%d", i),
		}
		if kind == audit.KindCommand {
			r.Text, r.Targets, r.Decision = target, []string{target}, audit.DecisionQueued
		} else {
			r.Target, r.JobID, r.Verdict, r.Reason, r.ElapsedMS = target, fmt.Sprintf("job%d", i), "open", "syn-ack", int64(i)
			r.Address, r.Vantage = "198.18.3.10", "local"
		}
		return r
	}

	t.Run("AppendAssignsIncreasingSeq", func(t *testing.T) {
		a := newAudit(t)
		ctx := ctxFor(t, wait)
		for i := 0; i < 5; i++ {
			r := rec(i, audit.KindCommand, "C1", "web01:443")
			r.Seq = 999 // the store assigns Seq, whatever the caller says
			if err := a.Append(ctx, r); err != nil {
				t.Fatalf("Append: %v", err)
			}
		}
		got, err := a.Query(ctx, audit.Query{})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 5 {
			t.Fatalf("Query returned %d records, want 5", len(got))
		}
		for i := 1; i < len(got); i++ {
			if got[i].Seq <= got[i-1].Seq {
				t.Errorf("Seq not increasing: %d after %d", got[i].Seq, got[i-1].Seq)
			}
		}
		if got[0].CommandID != "cmd0" || got[4].CommandID != "cmd4" {
			t.Errorf("order: first %s last %s, want cmd0..cmd4", got[0].CommandID, got[4].CommandID)
		}
	})

	t.Run("RoundTripFields", func(t *testing.T) {
		a := newAudit(t)
		ctx := ctxFor(t, wait)
		want := rec(1, audit.KindResult, "C1", "web01:443")
		want.Why, want.Text = "why, with \"quotes\", commas\nand newlines", "web01:443"
		want.Targets = []string{"web01:443", "db1:5432"}
		want.Thread = "1700000000.000100"
		if err := a.Append(ctx, want); err != nil {
			t.Fatal(err)
		}
		got, err := a.Query(ctx, audit.Query{})
		if err != nil || len(got) != 1 {
			t.Fatalf("Query = %d records, %v", len(got), err)
		}
		g := got[0]
		if !g.At.Equal(want.At) {
			t.Errorf("At = %v, want %v", g.At, want.At)
		}
		g.At, want.At = time.Time{}, time.Time{}
		g.Seq, g.PrevHash, g.Hash = 0, "", "" // store-assigned
		if fmt.Sprintf("%+v", g) != fmt.Sprintf("%+v", want) {
			t.Errorf("round trip:\n got %+v\nwant %+v", g, want)
		}
	})

	t.Run("QueryFilters", func(t *testing.T) {
		a := newAudit(t)
		ctx := ctxFor(t, wait)
		all := []audit.Record{
			rec(0, audit.KindCommand, "C1", "web01:443"),
			rec(1, audit.KindResult, "C1", "web01:443"),
			rec(2, audit.KindCommand, "C2", "db1:5432"),
			rec(3, audit.KindResult, "C2", "db1:5432"),
			rec(4, audit.KindCommand, "C1", "web010:22"),
			rec(5, audit.KindResult, "C1", "web010:22"),
		}
		all[4].Chat, all[5].Chat = "discord", "discord"
		all[1].Thread, all[4].Thread = "171.1", "171.1"
		for _, r := range all {
			if err := a.Append(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
		ids := func(rs []audit.Record) string {
			var s []string
			for _, r := range rs {
				s = append(s, r.CommandID)
			}
			return fmt.Sprint(s)
		}
		for _, tc := range []struct {
			name string
			q    audit.Query
			want string
		}{
			{"all", audit.Query{}, "[cmd0 cmd1 cmd2 cmd3 cmd4 cmd5]"},
			{"channel", audit.Query{Channel: "C1"}, "[cmd0 cmd1 cmd4 cmd5]"},
			{"chat", audit.Query{Chat: "discord"}, "[cmd4 cmd5]"},
			{"kind", audit.Query{Kind: audit.KindResult}, "[cmd1 cmd3 cmd5]"},
			{"since", audit.Query{Since: base.Add(3 * time.Minute)}, "[cmd3 cmd4 cmd5]"},
			{"limit keeps most recent", audit.Query{Limit: 2}, "[cmd4 cmd5]"},
			{"target exact", audit.Query{Target: "web01:443"}, "[cmd0 cmd1]"},
			{"target host", audit.Query{Target: "web01"}, "[cmd0 cmd1]"},
			{"target other host", audit.Query{Target: "web010"}, "[cmd4 cmd5]"},
			{"target no match", audit.Query{Target: "web"}, "[]"},
			{"combined", audit.Query{Channel: "C1", Kind: audit.KindResult, Limit: 1}, "[cmd5]"},
			{"like metachars are literal", audit.Query{Target: "web0_"}, "[]"},
			{"thread", audit.Query{Thread: "171.1"}, "[cmd1 cmd4]"},
			{"thread and chat", audit.Query{Thread: "171.1", Chat: "slack"}, "[cmd1]"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				got, err := a.Query(ctx, tc.q)
				if err != nil {
					t.Fatal(err)
				}
				if ids(got) != tc.want {
					t.Errorf("Query(%+v) = %s, want %s", tc.q, ids(got), tc.want)
				}
			})
		}
	})

	t.Run("ConcurrentAppends", func(t *testing.T) {
		a := newAudit(t)
		ctx := ctxFor(t, 2*wait)
		const n = 100
		var wg sync.WaitGroup
		for w := 0; w < 4; w++ {
			wg.Add(1)
			go func(w int) {
				defer wg.Done()
				for i := w; i < n; i += 4 {
					if err := a.Append(ctx, rec(i, audit.KindCommand, "C1", "web01:443")); err != nil {
						t.Errorf("Append: %v", err)
						return
					}
				}
			}(w)
		}
		wg.Wait()
		got, err := a.Query(ctx, audit.Query{})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != n {
			t.Fatalf("%d records after %d concurrent appends", len(got), n)
		}
		seqs := make([]int64, len(got))
		for i, r := range got {
			seqs[i] = r.Seq
		}
		if !sort.SliceIsSorted(seqs, func(i, j int) bool { return seqs[i] < seqs[j] }) {
			t.Error("records not in Seq order")
		}
		for i := 1; i < len(seqs); i++ {
			if seqs[i] == seqs[i-1] {
				t.Errorf("duplicate Seq %d", seqs[i])
			}
		}
	})

	t.Run("NothingRewritten", func(t *testing.T) {
		a := newAudit(t)
		ctx := ctxFor(t, wait)
		if err := a.Append(ctx, rec(0, audit.KindCommand, "C1", "web01:443")); err != nil {
			t.Fatal(err)
		}
		first, _ := a.Query(ctx, audit.Query{})
		// A result for the same command is a new record, the command stays as it was.
		r := rec(0, audit.KindResult, "C1", "web01:443")
		if err := a.Append(ctx, r); err != nil {
			t.Fatal(err)
		}
		got, _ := a.Query(ctx, audit.Query{})
		if len(got) != 2 {
			t.Fatalf("%d records, want 2", len(got))
		}
		if fmt.Sprintf("%+v", got[0]) != fmt.Sprintf("%+v", first[0]) {
			t.Errorf("first record changed:\n was %+v\n now %+v", first[0], got[0])
		}
	})

	t.Run("HashChainWhenPresent", func(t *testing.T) {
		a := newAudit(t)
		ctx := ctxFor(t, wait)
		for i := 0; i < 3; i++ {
			if err := a.Append(ctx, rec(i, audit.KindCommand, "C1", "web01:443")); err != nil {
				t.Fatal(err)
			}
		}
		got, _ := a.Query(ctx, audit.Query{})
		if got[0].Hash == "" {
			t.Skip("store does not chain hashes")
		}
		for i := 1; i < len(got); i++ {
			if got[i].PrevHash != got[i-1].Hash {
				t.Errorf("record %d PrevHash %q != previous Hash %q", i, got[i].PrevHash, got[i-1].Hash)
			}
		}
	})
}

// TestClaims is the contract of wire.Claims: the first claim of a key wins,
// every later one (sequential or concurrent) loses until the ttl passes.
func TestClaims(t *testing.T, newClaims func(t *testing.T) wire.Claims) {
	t.Run("FirstWins", func(t *testing.T) {
		c := newClaims(t)
		ctx := ctxFor(t, wait)
		for i, want := range []bool{true, false, false} {
			ok, err := c.Claim(ctx, "cmd:1", time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			if ok != want {
				t.Errorf("claim #%d = %v, want %v", i, ok, want)
			}
		}
		if ok, _ := c.Claim(ctx, "cmd:2", time.Hour); !ok {
			t.Error("a different key must be claimable")
		}
	})
	t.Run("Concurrent", func(t *testing.T) {
		c := newClaims(t)
		ctx := ctxFor(t, wait)
		var wins sync.WaitGroup
		var mu sync.Mutex
		n := 0
		for i := 0; i < 20; i++ {
			wins.Add(1)
			go func() {
				defer wins.Done()
				if ok, err := c.Claim(ctx, "job:x", time.Hour); err == nil && ok {
					mu.Lock()
					n++
					mu.Unlock()
				}
			}()
		}
		wins.Wait()
		if n != 1 {
			t.Errorf("%d concurrent claims won, want exactly 1", n)
		}
	})
	t.Run("Expires", func(t *testing.T) {
		c := newClaims(t)
		ctx := ctxFor(t, wait)
		if ok, _ := c.Claim(ctx, "k", 1100*time.Millisecond); !ok {
			t.Fatal("first claim lost")
		}
		time.Sleep(1300 * time.Millisecond) // whole seconds: Redis EX granularity
		if ok, _ := c.Claim(ctx, "k", time.Hour); !ok {
			t.Error("claim still held after its ttl")
		}
	})
}
