package discord

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// apiRewrite sends discordgo's requests to a compatible server. discordgo
// builds its Endpoint* strings once at package init, so changing its base
// variable would not move the derived endpoints (and would be a global);
// rewriting each request on the session's own client moves them all.
type apiRewrite struct {
	base *url.URL // replaces https://discord.com/api/v<N>
	next http.RoundTripper
}

func newAPIRewrite(base string, next http.RoundTripper) (*apiRewrite, error) {
	u, err := url.Parse(strings.TrimRight(base, "/"))
	if err != nil {
		return nil, fmt.Errorf("discord: api url: %w", err)
	}
	if next == nil {
		next = http.DefaultTransport
	}
	return &apiRewrite{base: u, next: next}, nil
}

func (t *apiRewrite) RoundTrip(req *http.Request) (*http.Response, error) {
	rest, ok := discordAPIPath(req.URL)
	if !ok {
		return t.next.RoundTrip(req)
	}
	// A RoundTripper must not modify the caller's request.
	r := req.Clone(req.Context())
	u := *t.base
	u.Path = t.base.Path + rest
	u.RawPath = ""
	u.RawQuery = req.URL.RawQuery
	r.URL = &u
	r.Host = u.Host
	return t.next.RoundTrip(r)
}

// discordAPIPath returns the part after /api/v<N> of a Discord REST URL.
func discordAPIPath(u *url.URL) (string, bool) {
	if u.Scheme != "https" || u.Host != "discord.com" || !strings.HasPrefix(u.Path, "/api/v") {
		return "", false
	}
	p := u.Path[len("/api/v"):]
	i := 0
	for i < len(p) && p[i] >= '0' && p[i] <= '9' {
		i++
	}
	if i == 0 {
		return "", false
	}
	return p[i:], true
}
