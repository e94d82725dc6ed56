package agent

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Firewall is the part of the host's rulesets that matters for the port:
// rules naming it, and blocking catch-alls and policies of inbound chains.
type Firewall struct {
	Rules  []Rule     `json:"rules"`
	Read   []string   `json:"read"`             // the listings that answered, e.g. "iptables-save -c"
	Absent []string   `json:"absent,omitempty"` // tools not installed here
	UFW    *UFWStatus `json:"ufw,omitempty"`
}

// listing is one read-only firewall listing: the fixed command and its parser.
type listing struct {
	source string
	name   string
	args   []string
}

// privilegeWhy is the sentence for a listing refused for lack of privilege.
func privilegeWhy(cmd string) string {
	return cmd + " needs CAP_NET_ADMIN: run the agent as root or grant it CAP_NET_ADMIN"
}

func gatherFirewall(ctx context.Context, f *Facts, q Query, o Options) {
	fw := &f.Firewall
	fw.Rules = []Rule{}
	keep := func(rs []Rule) {
		for _, r := range rs {
			if r.Relevant(q.Port, q.Proto) {
				fw.Rules = append(fw.Rules, r)
			}
		}
	}
	// iptables tables seen through iptables-save: with iptables-nft they
	// show up again in the nft ruleset, where xt matches hide the ports.
	xtTables := map[string]bool{}
	listings := []listing{
		{"iptables", "iptables-save", []string{"-c"}},
		{"ip6tables", "ip6tables-save", []string{"-c"}},
	}
	for i := 0; i < len(listings); i++ {
		l := listings[i]
		out, err := o.Runner.Run(ctx, l.name, l.args...)
		if err != nil {
			noteToolError(f, l.source+" rules", l.name+" "+l.args[0], err)
			continue
		}
		rs, err := ParseIptablesSave(string(out), l.source)
		if err != nil {
			f.unseen(l.source+" rules", "could not parse "+l.name+": "+err.Error())
		}
		fam := "ip"
		if strings.HasPrefix(l.source, "ip6tables") {
			fam = "ip6"
		}
		for _, r := range rs {
			if !strings.HasSuffix(l.source, "-legacy") { // legacy tables never show in nft
				xtTables[fam+"/"+r.Table] = true
			}
		}
		fw.Read = append(fw.Read, l.name+" "+l.args[0])
		keep(rs)
		// iptables-nft warns when legacy (xtables) rules also exist: they
		// filter packets too, and only the legacy tool lists them.
		if strings.Contains(string(out), "legacy tables present") && !strings.Contains(l.name, "legacy") {
			listings = append(listings, listing{l.source + "-legacy", strings.Replace(l.name, "-save", "-legacy-save", 1), []string{"-c"}})
		}
	}

	if out, err := o.Runner.Run(ctx, "nft", "-j", "list", "ruleset"); err != nil {
		noteToolError(f, "nftables rules", "nft -j list ruleset", err)
	} else if rs, err := ParseNftJSON(out); err != nil {
		f.unseen("nftables rules", "could not parse nft -j list ruleset: "+err.Error())
	} else {
		fw.Read = append(fw.Read, "nft -j list ruleset")
		var own []Rule
		for _, r := range rs {
			if !xtTables[r.Family+"/"+r.Table] {
				own = append(own, r)
			}
		}
		keep(own)
	}

	gatherUFW(ctx, f, o, keep)
}

// gatherUFW asks ufw, and when ufw refuses for lack of root, falls back to
// its rules file (readable only if an admin widened its mode).
func gatherUFW(ctx context.Context, f *Facts, o Options, keep func([]Rule)) {
	fw := &f.Firewall
	out, err := o.Runner.Run(ctx, "ufw", "status", "verbose")
	if err == nil {
		st := ParseUFWStatus(string(out))
		fw.UFW = &st
		fw.Read = append(fw.Read, "ufw status verbose")
		if st.Active {
			keep(st.Rules)
		}
		return
	}
	if toolErrorKind(err) == ToolNotInstalled {
		fw.Absent = append(fw.Absent, "ufw")
		return
	}
	path := filepath.Join(o.Etc, "ufw", "user.rules")
	b, ferr := os.ReadFile(path)
	if ferr != nil {
		if errors.Is(ferr, fs.ErrPermission) || toolErrorKind(err) == ToolNeedsPriv {
			f.unseen("ufw rules", "ufw status needs root (and "+path+" is root-only): run the agent as root")
			return
		}
		f.unseen("ufw rules", err.Error())
		return
	}
	rs, perr := ParseIptablesSave(string(b), "ufw")
	if perr != nil {
		f.unseen("ufw rules", "could not parse "+path+": "+perr.Error())
	}
	fw.Read = append(fw.Read, path)
	keep(rs)
}

// noteToolError records why a listing is missing: absent tools are normal
// (a host runs iptables or nft, rarely both) and go to Firewall.Absent.
func noteToolError(f *Facts, what, cmd string, err error) {
	switch toolErrorKind(err) {
	case ToolNotInstalled:
		f.Firewall.Absent = append(f.Firewall.Absent, cmd)
	case ToolNeedsPriv:
		f.unseen(what, privilegeWhy(cmd))
	default:
		f.unseen(what, err.Error())
	}
}
