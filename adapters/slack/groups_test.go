package slack

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// The caller's user groups ride on the command, so authorization by group
// (authz.check: [S0NETOPS]) works in Slack.
func TestSlashCommandCarriesUserGroups(t *testing.T) {
	f := newFakeSlack(t)
	f.fail("usergroups.list", http.StatusOK, "", `{"ok":true,"usergroups":[
		{"id":"S0NETOPS","users":["U1","U2"],"date_delete":0},
		{"id":"S0SRE","users":["U2"],"date_delete":0},
		{"id":"S0OLD","users":["U1"],"date_delete":1700000000}]}`)
	h := newFakeHandler()
	a, _ := testAdapter(t, f, h, func(o *Options) { o.UserGroups = true })
	rec := httptest.NewRecorder()
	a.CommandsHandler().ServeHTTP(rec, signedRequest(t, "/slack/commands", slashBody("trig-g", "web01:443", f.responseURL()), time.Now().Unix()))
	cmd := h.wait(t)
	if !slices.Equal(cmd.User.Groups, []string{"S0NETOPS"}) {
		t.Errorf("groups = %v, want [S0NETOPS] (a deleted group grants nothing)", cmd.User.Groups)
	}
	var listed []string
	for _, c := range f.Calls() {
		if c.Method == "usergroups.list" {
			listed = append(listed, c.Form.Get("include_users"))
		}
	}
	if len(listed) != 1 || listed[0] != "true" {
		t.Errorf("usergroups.list calls (include_users): %v", listed)
	}
}

func TestGroupCacheRefreshAndFailure(t *testing.T) {
	now := time.Date(2026, 11, 24, 14, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	calls, fail := 0, false
	var warned []string
	c := &groupCache{
		fetch: func(context.Context) (map[string][]string, error) {
			mu.Lock()
			defer mu.Unlock()
			calls++
			if fail {
				return nil, errors.New("missing_scope")
			}
			return map[string][]string{"U1": {"S1"}}, nil
		},
		ttl: 5 * time.Minute, now: func() time.Time { return now },
		warn: func(err error) { warned = append(warned, err.Error()) },
	}
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		if g := c.of(ctx, "U1"); !slices.Equal(g, []string{"S1"}) {
			t.Fatalf("of(U1) = %v", g)
		}
	}
	if calls != 1 {
		t.Errorf("%d fetches within the TTL, want 1", calls)
	}
	fail, now = true, now.Add(6*time.Minute)
	if g := c.of(ctx, "U1"); !slices.Equal(g, []string{"S1"}) {
		t.Errorf("a failed refresh dropped the last good answer: %v", g)
	}
	c.of(ctx, "U1")
	if calls != 2 || len(warned) != 1 || !strings.Contains(warned[0], "missing_scope") {
		t.Errorf("calls %d warned %v: a failure must be retried only after the TTL", calls, warned)
	}
	// Never fetched successfully: no groups, so group-gated actions are refused.
	c2 := &groupCache{fetch: func(context.Context) (map[string][]string, error) { return nil, errors.New("down") },
		ttl: time.Minute, now: time.Now, warn: func(error) {}}
	if g := c2.of(ctx, "U1"); len(g) != 0 {
		t.Errorf("groups without any answer: %v", g)
	}
}
