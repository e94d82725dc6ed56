// Package authz decides who may do what with the bot, on the server side,
// for every command: which workspaces/guilds and channels it answers in,
// which Slack user groups or Discord roles may run checks, watches and
// `from all`, and who are admins (the whole audit trail).
//
// It knows no chat SDK: adapters put the caller's groups/roles into
// Subject.Groups as ids, and the bot asks Authorize before doing anything.
package authz

import (
	"fmt"
	"slices"
	"strings"
)

// Action is what a command wants to do.
type Action string

const (
	Check   Action = "check"    // run a check (connect, trace) from the default vantage
	Watch   Action = "watch"    // start a recurring check
	FromAll Action = "from_all" // run from every vantage at once
	Audit   Action = "audit"    // query the whole audit trail: admins only
)

// Config lists what is allowed; an empty list allows everyone, except
// Admins, where empty means nobody. Entries are ids as the chat gives them
// (Slack T…/C…/S…/U…, Discord snowflakes); an entry may be scoped to one
// chat with a prefix, "slack:T012AB" or "discord:81234", since ids of two
// chats could otherwise collide.
//
// It is the `authz:` section of the configuration as is (config.Config
// embeds it; the field comments are the configuration reference). Watch and
// FromAll also need Check; Admins may do everything, the Audit action
// included, and an entry may be a group as well as a user id.
type Config struct {
	Teams    []string `yaml:"teams"`    // Slack workspaces / Discord guilds
	Channels []string `yaml:"channels"` // channel ids
	Check    []string `yaml:"check"`    // user groups / roles that may run checks
	Watch    []string `yaml:"watch"`    // groups / roles that may start watches
	FromAll  []string `yaml:"from_all"` // groups / roles that may check "from all" vantages
	Admins   []string `yaml:"admins"`   // user ids that may query the whole audit trail
}

// Subject is who asks, and where.
type Subject struct {
	Chat    string   // "slack", "discord", "shell"
	Team    string   // workspace / guild id
	Channel string   // channel id
	User    string   // user id
	Groups  []string // Slack user group ids, Discord role ids
}

// Decision is the answer, with the rule to cite when denied.
type Decision struct {
	Allowed bool
	Rule    string
}

// Authorizer applies a Config. It is immutable and safe for concurrent use.
type Authorizer struct {
	teams, channels, check, watch, fromAll, admins []entry
}

type entry struct {
	chat string // "" = any chat
	id   string
}

func (e entry) matches(chat, id string) bool {
	return id != "" && e.id == id && (e.chat == "" || e.chat == chat)
}

// New validates c and builds an Authorizer. The zero Config allows every
// command but admin-only ones.
func New(c Config) (*Authorizer, error) {
	var errs []string
	parse := func(key string, list []string) []entry {
		var out []entry
		for _, s := range list {
			e, err := parseEntry(s)
			if err != nil {
				errs = append(errs, fmt.Sprintf("authz.%s: %v", key, err))
				continue
			}
			out = append(out, e)
		}
		return out
	}
	a := &Authorizer{
		teams:    parse("teams", c.Teams),
		channels: parse("channels", c.Channels),
		check:    parse("check", c.Check),
		watch:    parse("watch", c.Watch),
		fromAll:  parse("from_all", c.FromAll),
		admins:   parse("admins", c.Admins),
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return a, nil
}

// ParseEntry validates one config entry (exported for config validation).
func ParseEntry(s string) error {
	_, err := parseEntry(s)
	return err
}

func parseEntry(s string) (entry, error) {
	s = strings.TrimSpace(s)
	chat, id, scoped := strings.Cut(s, ":")
	if !scoped {
		chat, id = "", s
	} else if chat != "slack" && chat != "discord" && chat != "shell" {
		return entry{}, fmt.Errorf("%q: unknown chat %q (use slack:, discord: or no prefix)", s, chat)
	}
	if id == "" {
		return entry{}, fmt.Errorf("%q: empty id", s)
	}
	for _, r := range id {
		if r <= ' ' || r == 0x7f || r == ',' {
			return entry{}, fmt.Errorf("%q: ids cannot contain spaces, commas or control characters", s)
		}
	}
	return entry{chat: chat, id: id}, nil
}

// Authorize decides whether s may perform act. The gates apply in order:
// workspace/guild, channel, then the action's groups. Admins pass every
// action gate (but not the workspace and channel gates: the bot only lives
// where it is invited). Unknown actions are denied.
func (a *Authorizer) Authorize(s Subject, act Action) Decision {
	if len(a.teams) > 0 && !anyMatch(a.teams, s.Chat, s.Team) {
		return deny("authz.teams: workspace/guild %s is not one the bot serves", orNone(s.Team))
	}
	if len(a.channels) > 0 && !anyMatch(a.channels, s.Chat, s.Channel) {
		return deny("authz.channels: the bot is not enabled in channel %s", orNone(s.Channel))
	}
	admin := a.member(a.admins, s)
	switch act {
	case Check:
		return a.gate("check", a.check, s, admin)
	case Watch, FromAll:
		if d := a.gate("check", a.check, s, admin); !d.Allowed {
			return d
		}
		if act == Watch {
			return a.gate("watch", a.watch, s, admin)
		}
		return a.gate("from_all", a.fromAll, s, admin)
	case Audit:
		if admin {
			return Decision{Allowed: true, Rule: "authz.admins"}
		}
		return deny("authz.admins: only admins may query the whole audit trail")
	}
	return deny("authz: unknown action %q", act)
}

func (a *Authorizer) gate(key string, list []entry, s Subject, admin bool) Decision {
	switch {
	case admin:
		return Decision{Allowed: true, Rule: "authz.admins"}
	case len(list) == 0:
		return Decision{Allowed: true, Rule: "authz." + key + ": open to everyone"}
	case a.member(list, s):
		return Decision{Allowed: true, Rule: "authz." + key}
	}
	ids := make([]string, len(list))
	for i, e := range list {
		ids[i] = e.id
	}
	return deny("authz.%s: you need to be in one of these groups/roles: %s", key, strings.Join(ids, ", "))
}

// member reports whether the user, or one of their groups, is listed.
func (a *Authorizer) member(list []entry, s Subject) bool {
	if anyMatch(list, s.Chat, s.User) {
		return true
	}
	return slices.ContainsFunc(s.Groups, func(g string) bool { return anyMatch(list, s.Chat, g) })
}

func anyMatch(list []entry, chat, id string) bool {
	return slices.ContainsFunc(list, func(e entry) bool { return e.matches(chat, id) })
}

func deny(format string, args ...any) Decision {
	return Decision{Rule: fmt.Sprintf(format, args...)}
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}
