package discord

import (
	"net/http"
	"testing"
)

type captureRT struct{ got *http.Request }

func (c *captureRT) RoundTrip(r *http.Request) (*http.Response, error) {
	c.got = r
	return &http.Response{StatusCode: 204, Body: http.NoBody, Request: r}, nil
}

func TestAPIRewrite(t *testing.T) {
	for _, tc := range []struct {
		base, in, want string
	}{
		{"http://127.0.0.1:9/api/v9", "https://discord.com/api/v9/channels/1/messages?limit=2", "http://127.0.0.1:9/api/v9/channels/1/messages?limit=2"},
		{"https://proxy.example/discord", "https://discord.com/api/v9/webhooks/1/tok/messages/@original", "https://proxy.example/discord/webhooks/1/tok/messages/@original"},
		{"https://proxy.example/discord", "https://discord.com/api/v10/gateway/bot", "https://proxy.example/discord/gateway/bot"},
		{"https://proxy.example/discord", "https://cdn.discordapp.com/avatars/1/2.png", "https://cdn.discordapp.com/avatars/1/2.png"},
		{"https://proxy.example/discord", "https://discord.com/oauth2/authorize", "https://discord.com/oauth2/authorize"},
	} {
		next := &captureRT{}
		rt, err := newAPIRewrite(tc.base, next)
		if err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest(http.MethodGet, tc.in, nil)
		if _, err := rt.RoundTrip(req); err != nil {
			t.Fatal(err)
		}
		if got := next.got.URL.String(); got != tc.want {
			t.Errorf("%s -> %s, want %s", tc.in, got, tc.want)
		}
		if req.URL.String() != tc.in {
			t.Errorf("caller's request was modified: %s", req.URL)
		}
	}
}
