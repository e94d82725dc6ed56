package slack

import (
	"context"
	"sync"
	"time"

	slackgo "github.com/slack-go/slack"
)

// Slash commands and interactions say who typed them but not which user
// groups they belong to, and authorization (authz.check, watch, from_all)
// is written in user group ids (S…). groupCache answers "which groups is
// this user in" from one usergroups.list call (scope usergroups:read)
// refreshed every ttl, not one call per command.
type groupCache struct {
	fetch func(ctx context.Context) (map[string][]string, error) // user id -> group ids
	ttl   time.Duration
	now   func() time.Time
	warn  func(err error)

	mu      sync.Mutex
	byUser  map[string][]string
	fetched time.Time // zero: never; set on failures too, so a missing scope is not retried per command
}

func newGroupCache(api *slackgo.Client, ttl time.Duration, now func() time.Time, warn func(error)) *groupCache {
	return &groupCache{
		fetch: func(ctx context.Context) (map[string][]string, error) {
			groups, err := api.GetUserGroupsContext(ctx, slackgo.GetUserGroupsOptionIncludeUsers(true))
			if err != nil {
				return nil, err
			}
			by := map[string][]string{}
			for _, g := range groups {
				if g.DateDelete != 0 { // disabled groups grant nothing
					continue
				}
				for _, u := range g.Users {
					by[u] = append(by[u], g.ID)
				}
			}
			return by, nil
		},
		ttl: ttl, now: now, warn: warn,
	}
}

// of returns user's group ids. A failed refresh keeps the last good answer
// (a Slack hiccup does not lock everyone out at once) and, with none,
// returns no groups: group-gated actions are then refused, never opened.
func (c *groupCache) of(ctx context.Context, user string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if now := c.now(); c.fetched.IsZero() || now.Sub(c.fetched) >= c.ttl {
		c.fetched = now
		by, err := c.fetch(ctx)
		if err != nil {
			c.warn(err)
		} else {
			c.byUser = by
		}
	}
	return append([]string(nil), c.byUser[user]...)
}
