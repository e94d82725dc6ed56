package discord

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/portcheck/portcheck/bot"
)

// signed builds a request the way Discord signs it: Ed25519 over the
// timestamp followed by the raw body.
func signed(t *testing.T, key ed25519.PrivateKey, ts time.Time, body []byte) *http.Request {
	t.Helper()
	stamp := strconv.FormatInt(ts.Unix(), 10)
	sig := ed25519.Sign(key, append([]byte(stamp), body...))
	req := httptest.NewRequest(http.MethodPost, InteractionsPath, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Signature-Ed25519", hex.EncodeToString(sig))
	req.Header.Set("X-Signature-Timestamp", stamp)
	return req
}

func httpRig(t *testing.T) (*rig, ed25519.PrivateKey) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	r := newRig(t, Config{PublicKey: pub})
	r.h.script = func(ctx context.Context, chat bot.Chat, cmd bot.Command) error {
		_, err := chat.Start(ctx, cmd.Channel, running)
		return err
	}
	return r, priv
}

func TestHTTPInteractions(t *testing.T) {
	_, wrongKey, _ := ed25519.GenerateKey(nil)
	command := payload(t, "interaction_command.json", nil)
	for _, tc := range []struct {
		name       string
		req        func(t *testing.T, key ed25519.PrivateKey, now time.Time) *http.Request
		wantStatus int
		wantBody   string // JSON response, when 200
		wantHandle int
	}{
		{
			name: "valid command is deferred then handled",
			req: func(t *testing.T, k ed25519.PrivateKey, now time.Time) *http.Request {
				return signed(t, k, now, command)
			},
			wantStatus: http.StatusOK, wantBody: `{"type":5}`, wantHandle: 1,
		},
		{
			name: "PING gets PONG",
			req: func(t *testing.T, k ed25519.PrivateKey, now time.Time) *http.Request {
				return signed(t, k, now, payload(t, "interaction_ping.json", nil))
			},
			wantStatus: http.StatusOK, wantBody: `{"type":1}`,
		},
		{
			name: "tampered body",
			req: func(t *testing.T, k ed25519.PrivateKey, now time.Time) *http.Request {
				req := signed(t, k, now, command)
				req.Body = httpBody(bytes.Replace(command, []byte("web01:443"), []byte("web02:443"), 1))
				return req
			},
			wantStatus: http.StatusUnauthorized,
		},
		{
			name: "signed with another key",
			req: func(t *testing.T, _ ed25519.PrivateKey, now time.Time) *http.Request {
				return signed(t, wrongKey, now, command)
			},
			wantStatus: http.StatusUnauthorized,
		},
		{
			name: "stale timestamp, valid signature",
			req: func(t *testing.T, k ed25519.PrivateKey, now time.Time) *http.Request {
				return signed(t, k, now.Add(-6*time.Minute), command)
			},
			wantStatus: http.StatusUnauthorized,
		},
		{
			name: "timestamp from the future",
			req: func(t *testing.T, k ed25519.PrivateKey, now time.Time) *http.Request {
				return signed(t, k, now.Add(6*time.Minute), command)
			},
			wantStatus: http.StatusUnauthorized,
		},
		{
			name: "no signature headers",
			req: func(t *testing.T, _ ed25519.PrivateKey, _ time.Time) *http.Request {
				return httptest.NewRequest(http.MethodPost, InteractionsPath, bytes.NewReader(command))
			},
			wantStatus: http.StatusUnauthorized,
		},
		{
			name: "signature not hex",
			req: func(t *testing.T, k ed25519.PrivateKey, now time.Time) *http.Request {
				req := signed(t, k, now, command)
				req.Header.Set("X-Signature-Ed25519", "zz")
				return req
			},
			wantStatus: http.StatusUnauthorized,
		},
		{
			name: "GET",
			req: func(t *testing.T, _ ed25519.PrivateKey, _ time.Time) *http.Request {
				return httptest.NewRequest(http.MethodGet, InteractionsPath, nil)
			},
			wantStatus: http.StatusMethodNotAllowed,
		},
		{
			name: "signed but not JSON",
			req: func(t *testing.T, k ed25519.PrivateKey, now time.Time) *http.Request {
				return signed(t, k, now, []byte("not json"))
			},
			wantStatus: http.StatusBadRequest,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, key := httpRig(t)
			rec := httptest.NewRecorder()
			r.a.InteractionsHandler().ServeHTTP(rec, tc.req(t, key, r.clock.Now()))
			r.a.Wait()
			if rec.Code != tc.wantStatus {
				t.Fatalf("status = %d (%s), want %d", rec.Code, strings.TrimSpace(rec.Body.String()), tc.wantStatus)
			}
			if tc.wantBody != "" && strings.TrimSpace(rec.Body.String()) != tc.wantBody {
				t.Errorf("body = %s, want %s", rec.Body.String(), tc.wantBody)
			}
			if got := len(r.h.Commands()); got != tc.wantHandle {
				t.Errorf("Handle called %d times, want %d", got, tc.wantHandle)
			}
			if tc.wantStatus != http.StatusOK && len(r.api.Calls()) != 0 {
				t.Errorf("a refused request reached Discord's API: %v", r.api.CallLines())
			}
		})
	}
}

func httpBody(b []byte) *readCloser { return &readCloser{bytes.NewReader(b)} }

type readCloser struct{ *bytes.Reader }

func (readCloser) Close() error { return nil }

// In HTTP mode the acknowledgement is the response body, so the first API
// call is already the edit.
func TestHTTPCommandThenEdit(t *testing.T) {
	r, key := httpRig(t)
	rec := httptest.NewRecorder()
	r.a.InteractionsHandler().ServeHTTP(rec, signed(t, key, r.clock.Now(), payload(t, "interaction_command.json", nil)))
	r.a.Wait()
	got := r.api.CallLines()
	if len(got) != 1 || got[0] != "PATCH /webhooks/"+testApp+"/"+cmdToken+"/messages/@original" {
		t.Fatalf("calls = %v", got)
	}
}

func TestHTTPDuplicateInteraction(t *testing.T) {
	r, key := httpRig(t)
	body := payload(t, "interaction_command.json", nil)
	for range 3 {
		rec := httptest.NewRecorder()
		r.a.InteractionsHandler().ServeHTTP(rec, signed(t, key, r.clock.Now(), body))
		if rec.Code != http.StatusOK {
			t.Fatalf("status = %d", rec.Code)
		}
		var resp map[string]any
		if err := json.Unmarshal(rec.Body.Bytes(), &resp); err != nil || resp["type"] != float64(5) {
			t.Fatalf("retry not acknowledged: %s", rec.Body.String())
		}
	}
	r.a.Wait()
	if got := len(r.h.Commands()); got != 1 {
		t.Errorf("Handle called %d times, want 1", got)
	}
	if got := len(r.api.Calls()); got != 1 {
		t.Errorf("%d API calls, want the one edit", got)
	}
}

func TestHTTPAutocompleteAnsweredInBody(t *testing.T) {
	r, key := httpRig(t)
	rec := httptest.NewRecorder()
	r.a.InteractionsHandler().ServeHTTP(rec, signed(t, key, r.clock.Now(), payload(t, "interaction_autocomplete.json", nil)))
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"type":8`) {
		t.Fatalf("%d %s", rec.Code, rec.Body.String())
	}
}

// The bot can edit before Discord has registered the acknowledgement sent
// in our HTTP response; the edit is retried, not lost.
func TestHTTPEditRetriedUntilAckRegistered(t *testing.T) {
	r, key := httpRig(t)
	r.api.failTimes("webhook-edit", http.StatusNotFound, 10015, 1)
	rec := httptest.NewRecorder()
	r.a.InteractionsHandler().ServeHTTP(rec, signed(t, key, r.clock.Now(), payload(t, "interaction_command.json", nil)))
	r.a.Wait()
	got := r.api.CallLines()
	edit := "PATCH /webhooks/" + testApp + "/" + cmdToken + "/messages/@original"
	if len(got) != 2 || got[0] != edit || got[1] != edit {
		t.Fatalf("calls = %v, want the edit twice", got)
	}
}
