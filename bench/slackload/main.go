// Command slackload sends signed Slack slash-command requests at a steady
// rate and reports how fast they are acknowledged and whether any was lost.
//
//	go run ./bench/slackload                      # self-contained: adapter on loopback, fast fake bot
//	go run ./bench/slackload -url http://127.0.0.1:8080/slack/commands -secret "$SLACK_SIGNING_SECRET"
//	go run ./bench/slackload -listen 127.0.0.1:18080   # only serve the adapter (another process loads it); Ctrl-C prints the count
//
// The load is open-loop (a request every 1/rate seconds whatever the
// previous one is doing), as Slack's is: a slow server shows up as latency
// rather than a lower rate.
package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/portcheck/portcheck/adapters/slack"
	"github.com/portcheck/portcheck/bot"
)

func main() {
	target := flag.String("url", "", "slash command endpoint; empty runs the adapter in-process on loopback")
	secret := flag.String("secret", "bench-signing-secret", "signing secret")
	rate := flag.Int("rate", 200, "requests per second")
	dur := flag.Duration("duration", 10*time.Second, "how long to send")
	listen := flag.String("listen", "", "only serve the adapter with a counting bot on this address")
	flag.Parse()
	var err error
	if *listen != "" {
		err = serve(*listen, *secret)
	} else {
		err = run(*target, *secret, *rate, *dur)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "slackload:", err)
		os.Exit(1)
	}
}

// countingBot is the fast fake bot: it only counts distinct commands.
type countingBot struct {
	mu  sync.Mutex
	ids map[string]int
}

func (b *countingBot) Handle(_ context.Context, _ bot.Chat, c bot.Command) error {
	b.mu.Lock()
	b.ids[c.ID]++
	b.mu.Unlock()
	return nil
}

func newAdapter(secret string) (*slack.Adapter, *countingBot, error) {
	counter := &countingBot{ids: map[string]int{}}
	a, err := slack.New(slack.Options{
		// The counting bot never posts, so the API URL is never called.
		Config:  slack.Config{BotToken: "xoxb-bench", SigningSecret: secret, APIURL: "http://127.0.0.1:9/api/"},
		Handler: counter,
	})
	return a, counter, err
}

func serve(addr, secret string) error {
	a, counter, err := newAdapter(secret)
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	a.Routes(mux)
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	fmt.Printf("serving http://%s/slack/commands\n", ln.Addr())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	srv.Close()
	a.Wait()
	counter.mu.Lock()
	defer counter.mu.Unlock()
	dup := 0
	for _, c := range counter.ids {
		dup += c - 1
	}
	fmt.Printf("commands handled: %d distinct, %d duplicated\n", len(counter.ids), dup)
	return nil
}

func run(target, secret string, rate int, dur time.Duration) error {
	var counter *countingBot
	var adapter *slack.Adapter
	if target == "" {
		var err error
		adapter, counter, err = newAdapter(secret)
		if err != nil {
			return err
		}
		mux := http.NewServeMux()
		adapter.Routes(mux)
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
		go srv.Serve(ln)
		defer srv.Close()
		target = "http://" + ln.Addr().String() + "/slack/commands"
	}

	client := &http.Client{
		Timeout:   5 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: 256, MaxConnsPerHost: 0},
	}
	n := int(dur.Seconds() * float64(rate))
	lat := make([]time.Duration, n)
	var failed atomic.Int64
	var wg sync.WaitGroup
	interval := time.Second / time.Duration(rate)
	run := time.Now().UnixNano()
	start := time.Now()
	for i := range n {
		// Send on an absolute schedule: a late tick is made up at once
		// rather than dropped, so the rate holds on a busy machine.
		time.Sleep(time.Until(start.Add(time.Duration(i) * interval)))
		wg.Go(func() {
			trigger := fmt.Sprintf("bench-%d-%d", run, i)
			body := url.Values{
				"team_id": {"T1"}, "channel_id": {"C1"}, "user_id": {"U1"}, "command": {"/portcheck"},
				"text": {"web01:443"}, "trigger_id": {trigger}, "response_url": {"https://hooks.slack.com/commands/T1/1/x"},
			}.Encode()
			ts := fmt.Sprint(time.Now().Unix())
			mac := hmac.New(sha256.New, []byte(secret))
			fmt.Fprintf(mac, "v0:%s:%s", ts, body)
			req, _ := http.NewRequest(http.MethodPost, target, strings.NewReader(body))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("X-Slack-Request-Timestamp", ts)
			req.Header.Set("X-Slack-Signature", "v0="+hex.EncodeToString(mac.Sum(nil)))
			t0 := time.Now()
			resp, err := client.Do(req)
			if err != nil {
				failed.Add(1)
				lat[i] = -1
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			lat[i] = time.Since(t0)
			if resp.StatusCode != http.StatusOK {
				failed.Add(1)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)

	ok := slices.DeleteFunc(slices.Clone(lat), func(d time.Duration) bool { return d < 0 })
	slices.Sort(ok)
	pct := func(p float64) time.Duration {
		if len(ok) == 0 {
			return 0
		}
		return ok[min(len(ok)-1, int(p*float64(len(ok))))]
	}
	fmt.Printf("sent %d requests in %s (%.0f req/s) to %s\n", n, elapsed.Round(time.Millisecond), float64(n)/elapsed.Seconds(), target)
	fmt.Printf("ack latency p50 %s  p90 %s  p99 %s  max %s\n", pct(0.50), pct(0.90), pct(0.99), pct(1))
	fmt.Printf("failed acks: %d\n", failed.Load())
	if counter != nil {
		adapter.Wait()
		counter.mu.Lock()
		handled, dup := len(counter.ids), 0
		for _, c := range counter.ids {
			dup += c - 1
		}
		counter.mu.Unlock()
		fmt.Printf("commands handled: %d of %d (lost %d, duplicated %d)\n", handled, n, n-handled, dup)
		if handled != n || dup != 0 {
			return fmt.Errorf("lost or duplicated commands")
		}
	}
	if failed.Load() > 0 {
		return fmt.Errorf("%d requests not acknowledged with 200", failed.Load())
	}
	return nil
}
