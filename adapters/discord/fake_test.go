package discord

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bwmarrin/discordgo"

	"github.com/portcheck/portcheck/bot"
)

const (
	testApp   = "1100000000000000001"
	testGuild = "1200000000000000001"
	testChan  = "1300000000000000001"
)

// apiCall is one request the fake Discord saw, path relative to /api/v9.
type apiCall struct {
	Method string
	Path   string
	Query  string
	Auth   string
	Body   map[string]any
}

func (c apiCall) String() string {
	s := c.Method + " " + c.Path
	if c.Query != "" {
		s += "?" + c.Query
	}
	return s
}

// fakeDiscord is a recording stand-in for Discord's REST API. Routes answer
// like Discord does; fail makes a route return an error the way Discord
// formats them ({"code":..,"message":..}).
type fakeDiscord struct {
	t   *testing.T
	srv *httptest.Server

	mu    sync.Mutex
	calls []apiCall
	fails map[string]fakeFail // route name -> error to answer
	seq   int

	gatewayURL string // what GET /gateway answers
}

type fakeFail struct {
	status     int
	code       int
	times      int     // 0 = until the test ends
	retryAfter float64 // a 429's retry_after, seconds
	public     bool    // only requests without the ephemeral flag fail
}

func newFakeDiscord(t *testing.T) *fakeDiscord {
	t.Helper()
	f := &fakeDiscord{t: t, fails: map[string]fakeFail{}}
	mux := http.NewServeMux()
	route := func(pattern, name string, h func(r *http.Request) (int, any)) {
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			sent := f.record(r)
			f.mu.Lock()
			fail, failing := f.fails[name]
			if failing && fail.public {
				flags, _ := sent["flags"].(float64)
				failing = int(flags)&int(discordgo.MessageFlagsEphemeral) == 0
			}
			if failing && fail.times > 0 {
				if fail.times--; fail.times == 0 {
					delete(f.fails, name)
				} else {
					f.fails[name] = fail
				}
			}
			f.mu.Unlock()
			if failing {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(fail.status)
				if fail.status == http.StatusTooManyRequests {
					fmt.Fprintf(w, `{"message": "You are being rate limited.", "retry_after": %g, "global": false}`, fail.retryAfter)
					return
				}
				fmt.Fprintf(w, `{"message": "fake failure", "code": %d}`, fail.code)
				return
			}
			status, body := h(r)
			if body == nil {
				w.WriteHeader(status)
				return
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			_ = json.NewEncoder(w).Encode(body)
		})
	}
	route("POST /api/v9/interactions/{id}/{token}/callback", "callback", func(r *http.Request) (int, any) {
		return http.StatusNoContent, nil
	})
	route("PATCH /api/v9/webhooks/{app}/{token}/messages/{mid}", "webhook-edit", func(r *http.Request) (int, any) {
		id := r.PathValue("mid")
		if id == "@original" {
			id = "1800000000000000001"
		}
		return http.StatusOK, map[string]any{"id": id, "channel_id": testChan, "type": 20}
	})
	route("DELETE /api/v9/webhooks/{app}/{token}/messages/{mid}", "webhook-delete", func(r *http.Request) (int, any) {
		return http.StatusNoContent, nil
	})
	route("POST /api/v9/webhooks/{app}/{token}", "followup", func(r *http.Request) (int, any) {
		return http.StatusOK, map[string]any{"id": f.nextID("19"), "channel_id": testChan}
	})
	route("POST /api/v9/channels/{c}/messages/{m}/threads", "thread", func(r *http.Request) (int, any) {
		return http.StatusCreated, map[string]any{"id": "2000000000000000001", "type": 11, "parent_id": r.PathValue("c")}
	})
	route("POST /api/v9/channels/{c}/messages", "post", func(r *http.Request) (int, any) {
		return http.StatusOK, map[string]any{"id": f.nextID("21"), "channel_id": r.PathValue("c")}
	})
	route("PATCH /api/v9/channels/{c}/messages/{m}", "edit", func(r *http.Request) (int, any) {
		return http.StatusOK, map[string]any{"id": r.PathValue("m"), "channel_id": r.PathValue("c")}
	})
	route("POST /api/v9/applications/{app}/guilds/{g}/commands", "register", func(r *http.Request) (int, any) {
		return http.StatusCreated, map[string]any{"id": "1400000000000000001", "name": commandName}
	})
	route("POST /api/v9/applications/{app}/commands", "register", func(r *http.Request) (int, any) {
		return http.StatusCreated, map[string]any{"id": "1400000000000000001", "name": commandName}
	})
	route("GET /api/v9/gateway", "gateway", func(r *http.Request) (int, any) {
		f.mu.Lock()
		defer f.mu.Unlock()
		return http.StatusOK, map[string]any{"url": f.gatewayURL}
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		f.record(r)
		t.Errorf("fake discord: unexpected %s %s", r.Method, r.URL.Path)
		http.Error(w, `{"message":"404: Not Found","code":0}`, http.StatusNotFound)
	})
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeDiscord) nextID(prefix string) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seq++
	return fmt.Sprintf("%s%017d", prefix, f.seq)
}

func (f *fakeDiscord) record(r *http.Request) map[string]any {
	b, _ := io.ReadAll(r.Body)
	var body map[string]any
	if len(b) > 0 {
		if err := json.Unmarshal(b, &body); err != nil {
			f.t.Errorf("fake discord: %s %s: body is not JSON: %v", r.Method, r.URL.Path, err)
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, apiCall{
		Method: r.Method,
		Path:   strings.TrimPrefix(r.URL.Path, "/api/v9"),
		Query:  r.URL.RawQuery,
		Auth:   r.Header.Get("Authorization"),
		Body:   body,
	})
	return body
}

func (f *fakeDiscord) fail(route string, status, code int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fails[route] = fakeFail{status: status, code: code}
}

// failPublic fails a route for public posts only (a private follow-up
// still gets through).
func (f *fakeDiscord) failPublic(route string, status int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fails[route] = fakeFail{status: status, public: true}
}

// rateLimit answers a route's next call with 429 and retry_after seconds.
func (f *fakeDiscord) rateLimit(route string, retryAfter float64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fails[route] = fakeFail{status: http.StatusTooManyRequests, times: 1, retryAfter: retryAfter}
}

// failTimes fails a route n times, then lets it through.
func (f *fakeDiscord) failTimes(route string, status, code, n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fails[route] = fakeFail{status: status, code: code, times: n}
}

func (f *fakeDiscord) Calls() []apiCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]apiCall(nil), f.calls...)
}

func (f *fakeDiscord) CallLines() []string {
	var out []string
	for _, c := range f.Calls() {
		out = append(out, c.String())
	}
	return out
}

// fakeHandler stands in for the bot core: it records commands and runs a
// script against the Chat it was lent.
type fakeHandler struct {
	mu     sync.Mutex
	cmds   []bot.Command
	script func(ctx context.Context, chat bot.Chat, cmd bot.Command) error
}

func (h *fakeHandler) Handle(ctx context.Context, chat bot.Chat, cmd bot.Command) error {
	h.mu.Lock()
	h.cmds = append(h.cmds, cmd)
	script := h.script
	h.mu.Unlock()
	if script == nil {
		return nil
	}
	return script(ctx, chat, cmd)
}

func (h *fakeHandler) Commands() []bot.Command {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]bot.Command(nil), h.cmds...)
}

// fakeClock is a settable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

type rig struct {
	a     *Adapter
	api   *fakeDiscord
	h     *fakeHandler
	clock *fakeClock
}

// newRig wires an adapter to a fake Discord through DISCORD_API_URL, the way
// a deployment reaches a proxy: no discordgo global is touched.
func newRig(t *testing.T, cfg Config) *rig {
	t.Helper()
	api := newFakeDiscord(t)
	h := &fakeHandler{}
	clock := &fakeClock{t: time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)}
	if cfg.AppID == "" {
		cfg.AppID = testApp
	}
	if cfg.BotToken == "" {
		cfg.BotToken = "bot-token-for-tests"
	}
	cfg.APIURL = api.srv.URL + "/api/v9"
	a, err := New(cfg, Options{
		Handler:  h,
		Client:   api.srv.Client(),
		Now:      clock.Now,
		Vantages: []string{"eu-1", "us-1"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return &rig{a: a, api: api, h: h, clock: clock}
}

// deliver feeds a gateway INTERACTION_CREATE with a real payload.
func (r *rig) deliver(t *testing.T, file string, edit func(map[string]any)) *discordgo.InteractionCreate {
	t.Helper()
	raw := payload(t, file, edit)
	var ic discordgo.InteractionCreate
	if err := json.Unmarshal(raw, &ic); err != nil {
		t.Fatal(err)
	}
	r.a.onInteractionCreate(r.a.s, &ic)
	r.a.Wait()
	return &ic
}

func payload(t *testing.T, file string, edit func(map[string]any)) []byte {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	if edit == nil {
		return raw
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	edit(m)
	raw, err = json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return raw
}
