package admission_test

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portcheck/portcheck/admission"
	"github.com/portcheck/portcheck/admission/policy/policytest"
	"github.com/portcheck/portcheck/audit"
	"github.com/portcheck/portcheck/bot"
	"github.com/portcheck/portcheck/checks"
	"github.com/portcheck/portcheck/config"
	"github.com/portcheck/portcheck/internal/app"
	"github.com/portcheck/portcheck/store/memory"
	"github.com/portcheck/portcheck/wire"
)

// The whole-bot zero-packet proof: the real bot (real policy, real prober
// as its local worker, memory queue, the security gate) driven through
// chat commands inside a throwaway namespace, with iptables counting the
// packets to a denied address and to an allowed control. policy's own
// zero-packet test covers Decide + CheckMany; this one covers everything
// the bot adds between them (jobs, the queue, the worker, again, DNS
// failures).
const (
	bzpDenied  = "198.18.0.10"
	bzpAllowed = "198.18.0.20"
)

func TestBotZeroPacket(t *testing.T) {
	if policytest.IsChild() {
		t.Skip("running as the child")
	}
	denied, allowed := netip.MustParseAddr(bzpDenied), netip.MustParseAddr(bzpAllowed)
	c := policytest.Start(t, denied, allowed)
	// Cloud metadata and every IPv6 form of it, routed into the sink: a
	// probe of any would be sent and counted (policytest.Sink).
	sunk := c.SinkMetadata(t)
	c.RunChild(t, "TestBotZeroPacketChild")
	c.RunChild(t, "TestBotZeroPacketShellChild")
	counts := c.Packets(t)
	if counts[denied] != 0 {
		t.Errorf("%d packets were sent to the denied address %s, want 0", counts[denied], bzpDenied)
	}
	for _, a := range sunk {
		if counts[a] != 0 {
			t.Errorf("%d packets were sent to %s (cloud metadata or a form of it), want 0", counts[a], a)
		}
	}
	if counts[allowed] == 0 {
		t.Errorf("no packets counted to the allowed control %s: the counter does not work, so the zero above proves nothing", bzpAllowed)
	}
}

// bzpResolver is an attacker's DNS: "failthen.test" fails the first lookup
// and answers the denied address afterwards (the worker's lookup, if there
// were one); "rebind.test" answers the allowed address first and the denied
// one afterwards; "mixed.test" answers both.
type bzpResolver struct {
	mu    sync.Mutex
	calls map[string]int
}

func (r *bzpResolver) LookupNetIP(_ context.Context, _, host string) ([]netip.Addr, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls[host]++
	n := r.calls[host]
	ok, bad := netip.MustParseAddr(bzpAllowed), netip.MustParseAddr(bzpDenied)
	switch host {
	case "failthen.test":
		if n == 1 {
			return nil, fmt.Errorf("lookup %s: i/o timeout", host)
		}
		return []netip.Addr{bad}, nil
	case "rebind.test":
		if n == 1 {
			return []netip.Addr{ok}, nil
		}
		return []netip.Addr{bad}, nil
	case "mixed.test":
		return []netip.Addr{ok, bad}, nil
	}
	return nil, fmt.Errorf("lookup %s: no such host", host)
}

func (r *bzpResolver) count(host string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls[host]
}

func TestBotZeroPacketChild(t *testing.T) {
	if !policytest.IsChild() {
		t.Skip("only runs inside the zero-packet namespace (see TestBotZeroPacket)")
	}
	res := &bzpResolver{calls: map[string]int{}}
	cfg := config.Defaults()
	cfg.Policy.Allow, cfg.Policy.Deny = []string{"198.18.0.0/15", "2001:db8::/32"}, []string{bzpDenied}
	cfg.Policy.NAT64 = policytest.MetadataNAT64Prefixes()
	pol, err := admission.TargetPolicy(cfg, res)
	if err != nil {
		t.Fatal(err)
	}
	gate, err := admission.New(cfg, nil, time.Now, quietLog())
	if err != nil {
		t.Fatal(err)
	}
	trail := memory.NewAudit()
	q, rs := memory.NewQueue(), memory.NewResults()
	b, err := bot.New(bot.Params{
		Queue: q, Results: rs, Audit: trail,
		Local:  testLocal(t, q, rs, checks.NewProber(checks.Config{Timeout: 2 * time.Second, Resolver: res, MaxTTL: 3, PingCount: 1}), pol),
		Policy: admission.Policy{P: pol}, Redact: pol, Gate: gate, ChargeTrace: gate, AuditAccess: gate,
		Limits: bot.Limits{JobTimeout: 20 * time.Second},
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = b.Run(ctx) }()
	defer func() { cancel(); <-done }()

	chat := &recChat{}
	ch := wire.Channel{Chat: "test", Team: "T1", ID: "C1"}
	n := 0
	say := func(text string, thread *wire.Thread) {
		t.Helper()
		n++
		cmd := bot.Command{ID: fmt.Sprintf("z%d", n), Channel: ch, User: wire.User{ID: "U1"}, Text: text, Thread: thread}
		if err := b.Handle(context.Background(), chat, cmd); err != nil {
			t.Fatalf("Handle(%q): %v", text, err)
		}
		wctx, stop := context.WithTimeout(context.Background(), 60*time.Second)
		defer stop()
		if err := b.Wait(wctx); err != nil {
			t.Fatalf("Wait after %q: %v", text, err)
		}
	}

	// Every spelling of the denied address is read as the kernel would
	// (inet_aton: hex, decimal, short form) and denied by the address it
	// means, citing the rule.
	deniedInputs := []string{
		bzpDenied + ":80",
		"0xC612000A:80",                          // hex
		"3323068426:80",                          // decimal
		"198.18.10:80",                           // short form
		"[::ffff:198.18.0.10]:80",                // mapped
		"[64:ff9b::c612:a]:80",                   // NAT64
		"mixed.test:80",                          // one allowed and one denied answer
		bzpAllowed + ":80 " + bzpDenied + ":443", // one denied target denies the command
	}
	for _, in := range deniedInputs {
		say(in, nil)
	}
	// Cloud metadata inside IPv6, every form: denied citing the metadata
	// rule and the form (the translated one passed before issue 17).
	var metadataInputs []string
	for _, f := range policytest.MetadataForms() {
		if !strings.HasPrefix(f, "[") {
			f = "[" + f + "]"
		}
		metadataInputs = append(metadataInputs, f+":80")
	}
	for _, in := range metadataInputs {
		say(in, nil)
	}
	say("failthen.test:80", nil)                     // the policy's lookup fails: dns_error, nothing queued
	say("rebind.test:80", nil)                       // allowed now; a second lookup would say denied
	say(bzpAllowed+":80", nil)                       // the control
	say("again", &wire.Thread{Channel: ch, ID: "1"}) // failthen.test again: a fresh lookup, now denied

	log := chat.log()
	t.Logf("chat:\n%s", log)
	recs, _ := trail.Query(context.Background(), audit.Query{Kind: audit.KindCommand})
	byText := map[string]audit.Record{}
	for _, r := range recs {
		byText[r.Text] = r
	}
	for _, in := range deniedInputs {
		r := byText[in]
		if r.Decision != audit.DecisionDenied || !strings.Contains(r.Why, "rule: explicit deny "+bzpDenied+"/32") {
			t.Errorf("%s: audit decision %q why %q, want denied citing the rule", in, r.Decision, r.Why)
		}
	}
	for _, in := range metadataInputs {
		r := byText[in]
		if r.Decision != audit.DecisionDenied || !strings.Contains(r.Why, "rule: default deny: cloud metadata 169.254.169.254/32") || !strings.Contains(r.Why, "(embedded in ") {
			t.Errorf("%s: audit decision %q why %q, want denied citing cloud metadata and the form", in, r.Decision, r.Why)
		}
	}
	if got, want := strings.Count(log, "ephemeral U1: not allowed to check "), len(deniedInputs)+len(metadataInputs); got != want {
		t.Errorf("%d ephemeral denials, want %d", got, want)
	}
	if !strings.Contains(log, "failthen.test:80 from local: name does not resolve") {
		t.Error("failthen.test: no dns_error answer in the thread")
	}
	if !strings.Contains(log, "not allowed to check failthen.test:80") {
		t.Error("again on failthen.test: not refused once the name answers the denied address")
	}
	if got := res.count("rebind.test"); got != 1 {
		t.Errorf("rebind.test looked up %d times, want 1 (the policy's)", got)
	}
	if got := res.count("failthen.test"); got != 2 {
		t.Errorf("failthen.test looked up %d times, want 2 (the check's and the again's policy lookups)", got)
	}
	results, _ := trail.Query(context.Background(), audit.Query{Kind: audit.KindResult})
	for _, r := range results {
		if strings.Contains(r.Address, bzpDenied) || strings.Contains(r.Target, "a9fe") || strings.Contains(r.Address, policytest.Metadata) {
			t.Errorf("a result says %s was probed: %+v", r.Address, r)
		}
	}
}

// TestBotZeroPacketShellChild runs the real shell (app.Shell: its own
// policy preset, local worker, audit file) in the namespace with every
// IPv6 form of the metadata address piped in, and the allowed control
// (PORTCHECK_ALLOW opens it, as a user would).
func TestBotZeroPacketShellChild(t *testing.T) {
	if !policytest.IsChild() {
		t.Skip("only runs inside the zero-packet namespace (see TestBotZeroPacket)")
	}
	t.Setenv("PORTCHECK_ALLOW", bzpAllowed)
	t.Setenv("PORTCHECK_DENY", "")
	t.Setenv("PORTCHECK_CONFIG", "")
	t.Setenv("REDIS_URL", "")
	var in strings.Builder
	for _, f := range append([]string{policytest.Metadata}, policytest.MetadataForms()...) {
		if strings.Contains(f, ":") && !strings.HasPrefix(f, "[") {
			f = "[" + f + "]"
		}
		fmt.Fprintf(&in, "/portcheck %s:80\n", f)
	}
	fmt.Fprintf(&in, "/portcheck %s:80\n", bzpAllowed)
	var out, errb strings.Builder
	err := app.Shell(context.Background(), app.ShellOptions{DB: t.TempDir() + "/audit.db", Timeout: 2 * time.Second, Concurrency: 8,
		In: strings.NewReader(in.String()), Out: &out}, app.Env{Getenv: os.Getenv, Stderr: &errb})
	t.Logf("shell: %v\nstdout:\n%s\nstderr:\n%s", err, out.String(), errb.String())
	if got, want := strings.Count(out.String(), "not allowed to check "), 1+len(policytest.MetadataForms()); got != want {
		t.Errorf("%d denials, want %d", got, want)
	}
	if !strings.Contains(out.String(), bzpAllowed+":80 from ") {
		t.Errorf("the control %s was not checked", bzpAllowed)
	}
}
