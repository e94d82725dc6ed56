package authz

import (
	"strings"
	"testing"
)

func TestAuthorize(t *testing.T) {
	slackCfg := Config{
		Teams:    []string{"slack:T0ACME"},
		Channels: []string{"C0NETOPS", "C0SRE"},
		Check:    []string{"S0NETOPS", "S0SRE"}, // Slack user groups
		Watch:    []string{"S0SRE"},
		FromAll:  []string{"S0NETOPS"},
		Admins:   []string{"U0BOSS"},
	}
	discordCfg := Config{
		Teams:    []string{"discord:810000000000000001"},
		Check:    []string{"820000000000000001"}, // role: @network
		FromAll:  []string{"820000000000000002"}, // role: @oncall
		Admins:   []string{"820000000000000009"}, // role: @admin
		Channels: nil,                            // every channel of the guild
	}
	slackUser := func(user string, groups ...string) Subject {
		return Subject{Chat: "slack", Team: "T0ACME", Channel: "C0NETOPS", User: user, Groups: groups}
	}
	discordUser := func(user string, roles ...string) Subject {
		return Subject{Chat: "discord", Team: "810000000000000001", Channel: "830000000000000001", User: user, Groups: roles}
	}
	cases := []struct {
		name string
		cfg  Config
		s    Subject
		act  Action
		ok   bool
		rule string
	}{
		// Empty config: everything but admin-only.
		{"empty check", Config{}, slackUser("U1"), Check, true, "authz.check: open to everyone"},
		{"empty watch", Config{}, discordUser("1"), Watch, true, "authz.watch: open to everyone"},
		{"empty from all", Config{}, slackUser("U1"), FromAll, true, "authz.from_all: open to everyone"},
		{"empty audit", Config{}, slackUser("U1"), Audit, false, "authz.admins: only admins may query the whole audit trail"},
		{"unknown action", Config{}, slackUser("U1"), Action("rm -rf"), false, `authz: unknown action "rm -rf"`},

		// Slack.
		{"slack netops check", slackCfg, slackUser("U1", "S0NETOPS"), Check, true, "authz.check"},
		{"slack no group", slackCfg, slackUser("U2"), Check, false, "authz.check: you need to be in one of these groups/roles: S0NETOPS, S0SRE"},
		{"slack sre watch", slackCfg, slackUser("U3", "S0SRE"), Watch, true, "authz.watch"},
		{"slack netops no watch", slackCfg, slackUser("U1", "S0NETOPS"), Watch, false, "authz.watch: you need to be in one of these groups/roles: S0SRE"},
		{"slack netops from all", slackCfg, slackUser("U1", "S0NETOPS"), FromAll, true, "authz.from_all"},
		{"slack sre no from all", slackCfg, slackUser("U3", "S0SRE"), FromAll, false, "authz.from_all: you need to be in one of these groups/roles: S0NETOPS"},
		{"slack other workspace", slackCfg, Subject{Chat: "slack", Team: "T0EVIL", Channel: "C0NETOPS", User: "U1", Groups: []string{"S0NETOPS"}}, Check, false, "authz.teams: workspace/guild T0EVIL is not one the bot serves"},
		{"slack team id from discord", slackCfg, Subject{Chat: "discord", Team: "T0ACME", Channel: "C0NETOPS", User: "U1", Groups: []string{"S0NETOPS"}}, Check, false, "authz.teams: workspace/guild T0ACME is not one the bot serves"},
		{"slack other channel", slackCfg, Subject{Chat: "slack", Team: "T0ACME", Channel: "C0RANDOM", User: "U1", Groups: []string{"S0NETOPS"}}, Check, false, "authz.channels: the bot is not enabled in channel C0RANDOM"},
		{"slack DM without channel", slackCfg, Subject{Chat: "slack", Team: "T0ACME", User: "U1", Groups: []string{"S0NETOPS"}}, Check, false, "authz.channels: the bot is not enabled in channel (none)"},
		{"slack admin", slackCfg, slackUser("U0BOSS"), Audit, true, "authz.admins"},
		{"slack admin checks", slackCfg, slackUser("U0BOSS"), Watch, true, "authz.admins"},
		{"slack admin still gated by team", slackCfg, Subject{Chat: "slack", Team: "T0EVIL", Channel: "C0NETOPS", User: "U0BOSS"}, Audit, false, "authz.teams: workspace/guild T0EVIL is not one the bot serves"},
		{"slack non-admin audit", slackCfg, slackUser("U1", "S0NETOPS"), Audit, false, "authz.admins: only admins may query the whole audit trail"},
		{"slack group named like admin id", slackCfg, slackUser("U9", "u0boss"), Audit, false, "authz.admins: only admins may query the whole audit trail"},

		// Discord.
		{"discord network role", discordCfg, discordUser("900", "820000000000000001"), Check, true, "authz.check"},
		{"discord no role", discordCfg, discordUser("900"), Check, false, "authz.check: you need to be in one of these groups/roles: 820000000000000001"},
		{"discord watch open but needs check", discordCfg, discordUser("900"), Watch, false, "authz.check: you need to be in one of these groups/roles: 820000000000000001"},
		{"discord watch with check", discordCfg, discordUser("900", "820000000000000001"), Watch, true, "authz.watch: open to everyone"},
		{"discord oncall from all", discordCfg, discordUser("900", "820000000000000001", "820000000000000002"), FromAll, true, "authz.from_all"},
		{"discord oncall only", discordCfg, discordUser("900", "820000000000000002"), FromAll, false, "authz.check: you need to be in one of these groups/roles: 820000000000000001"},
		{"discord admin role", discordCfg, discordUser("900", "820000000000000009"), Audit, true, "authz.admins"},
		{"discord other guild", discordCfg, Subject{Chat: "discord", Team: "810000000000000666", User: "900", Groups: []string{"820000000000000001"}}, Check, false, "authz.teams: workspace/guild 810000000000000666 is not one the bot serves"},
		{"discord any channel", discordCfg, Subject{Chat: "discord", Team: "810000000000000001", Channel: "839999999999999999", User: "900", Groups: []string{"820000000000000001"}}, Check, true, "authz.check"},

		// A user id listed directly works like a group.
		{"user listed in check", Config{Check: []string{"slack:U7"}}, slackUser("U7"), Check, true, "authz.check"},
		{"scoped user other chat", Config{Check: []string{"slack:U7"}}, Subject{Chat: "discord", User: "U7"}, Check, false, "authz.check: you need to be in one of these groups/roles: U7"},
		{"empty user never matches", Config{Admins: []string{"U0BOSS"}}, Subject{Chat: "slack"}, Audit, false, "authz.admins: only admins may query the whole audit trail"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a, err := New(tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			d := a.Authorize(tc.s, tc.act)
			if d.Allowed != tc.ok || d.Rule != tc.rule {
				t.Fatalf("got %v %q\nwant %v %q", d.Allowed, d.Rule, tc.ok, tc.rule)
			}
		})
	}
}

func TestNewRejectsBadEntries(t *testing.T) {
	_, err := New(Config{Teams: []string{"teams:T1"}, Check: []string{""}, Admins: []string{"U1 U2"}})
	if err == nil {
		t.Fatal("want error")
	}
	for _, want := range []string{
		`authz.teams: "teams:T1": unknown chat "teams"`,
		`authz.check: "": empty id`,
		`authz.admins: "U1 U2": ids cannot contain spaces`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

func FuzzParseEntry(f *testing.F) {
	for _, s := range []string{"T0ACME", "slack:T0ACME", "discord:810000000000000001", "x:y", "", " ", "a,b", "slack:"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e, err := parseEntry(s)
		if err != nil {
			return
		}
		if e.id == "" || strings.ContainsAny(e.id, " ,\t\n") {
			t.Fatalf("%q accepted as %+v", s, e)
		}
		// An accepted entry matches its own id in its chat.
		chat := e.chat
		if chat == "" {
			chat = "slack"
		}
		if !e.matches(chat, e.id) {
			t.Fatalf("%q does not match itself", s)
		}
	})
}
