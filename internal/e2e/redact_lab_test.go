package e2e_test

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/portcheck/portcheck/bot"
	"github.com/portcheck/portcheck/internal/netlab"
	"github.com/portcheck/portcheck/internal/redistest"
)

// labPublic treats the lab's targets as public and every other lab address
// (the routers r1, r2, gw, on either side) as internal: what the default
// policy does for a real public target behind private routers, which the
// lab, all in 198.18.0.0/15 and 2001:db8::/32, cannot show as is.
type labPublic struct{}

func (labPublic) RedactHop(target, hop netip.Addr) bool {
	return hop.IsValid() && hop.Unmap() != target.Unmap()
}

// labAddr finds the lab's addresses in a text.
var labAddr = regexp.MustCompile(`198\.1[89]\.[0-9]+\.[0-9]+|2001:db8:[0-9a-f:]*[0-9a-f]`)

// Real probes from the client namespace, through the bot with hop
// redaction: r1's net-unreachable ("On 198.18.1.1:" in the hint, issue
// 17), r2's admin-prohibited reject, r2's host-unreachable for a dead
// host and r1's silent drop (the trace), over IPv4 and IPv6. No router
// address is in any message; each thread still names the target.
func TestNoRouterAddressInTheLab(t *testing.T) {
	needLab(t)
	ctx := ctxFor(t, 2*time.Minute)
	lab, err := netlab.Up(ctx, netlab.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = lab.Close() })

	sock := t.TempDir() + "/redis.sock"
	srv := redistest.Start(t, redistest.Args("--unixsocket", sock, "--unixsocketperm", "777"))
	labWorker(t, lab.NS.Client, "unix://"+sock, "leak", "outside", "", workerEnv+"_TIMEOUT=6s")
	p := startBot(t, srv.URL(0), fast("leak", "bot"), func(bp *bot.Params) { bp.Redact = labPublic{} })
	deadline := time.Now().Add(20 * time.Second)
	for {
		vs, err := openStore(t, srv.URL(0), fast("leak", "probe")).Vantages(ctx)
		if err == nil && len(vs) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("lab worker never registered: %v %v", vs, err)
		}
		time.Sleep(100 * time.Millisecond)
	}

	a := lab.Addr
	r := bot.Redacted
	cases := []struct {
		target netip.Addr
		port   int
		want   []string // in the thread: the verdict, with the router redacted
	}{
		{a.NetUnreach, 80, []string{"Router " + r + " has no route", "On " + r + ":"}},
		{a.NetUnreach6, 80, []string{"Router " + r + " has no route", "On " + r + ":"}},
		{a.Server, lab.Ports.PathAdmin, []string{"Router " + r + " rejects port"}},
		{a.Server6, lab.Ports.PathAdmin, []string{"Router " + r + " rejects port"}},
		{a.Dead, 22, []string{r + ", the last router before"}},
		// hop 2 is the router the port's SYNs never reach (Hop.Router)
		{a.Server, lab.Ports.PathDrop, []string{"hop 1 (" + r + ")", "hop 2 (" + r + ")"}},
	}
	for i, c := range cases {
		if err := p.ask(t, fmt.Sprint("leak", i), netip.AddrPortFrom(c.target, uint16(c.port)).String()+" from outside"); err != nil {
			t.Fatal(err)
		}
	}
	p.wait(t, 90*time.Second)
	p.chat.mu.Lock()
	msgs := append([]bot.Message{}, p.chat.msgs...)
	p.chat.mu.Unlock()
	var all strings.Builder
	for _, m := range msgs {
		js, _ := json.Marshal(m)
		all.WriteString(bot.RenderText(m) + "\n" + string(js) + "\n")
	}
	out := all.String()
	t.Logf("chat:\n%s", p.chat.text())
	targets := map[string]bool{}
	for _, c := range cases {
		targets[c.target.String()] = true
	}
	for _, m := range labAddr.FindAllString(out, -1) {
		if !targets[m] {
			t.Errorf("lab router address %s in the chat", m)
		}
	}
	for _, c := range cases {
		for _, w := range c.want {
			if !strings.Contains(p.chat.text(), w) {
				t.Errorf("%s:%d: the thread lacks %q", c.target, c.port, w)
			}
		}
	}
}
