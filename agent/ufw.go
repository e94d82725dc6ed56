package agent

import (
	"bufio"
	"regexp"
	"strings"
)

// UFWStatus is what `ufw status verbose` says.
type UFWStatus struct {
	Active  bool   `json:"active"`
	Default string `json:"default,omitempty"` // "deny (incoming), allow (outgoing), disabled (routed)"
	Rules   []Rule `json:"-"`                 // merged into Firewall.Rules
}

// ParseUFWStatus parses `ufw status [verbose]`. ufw shows no counters (they
// live in the ufw-user-input iptables chain); Position is the number
// `ufw status numbered` would show, v6 lines included.
func ParseUFWStatus(text string) UFWStatus {
	var st UFWStatus
	cols := regexp.MustCompile(`\s{2,}`)
	inRules := false
	pos := 0
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), " \t")
		switch {
		case strings.HasPrefix(line, "Status:"):
			st.Active = strings.TrimSpace(strings.TrimPrefix(line, "Status:")) == "active"
		case strings.HasPrefix(line, "Default:"):
			st.Default = strings.TrimSpace(strings.TrimPrefix(line, "Default:"))
		case strings.HasPrefix(line, "--"):
			inRules = true
		case inRules && strings.TrimSpace(line) != "":
			f := cols.Split(strings.TrimSpace(line), -1)
			if len(f) < 2 {
				continue
			}
			pos++
			st.Rules = append(st.Rules, ufwRule(f[0], f[1], pos, line))
		}
	}
	if p := ufwDefaultIncoming(st.Default); st.Active && p != "" {
		st.Rules = append(st.Rules, Rule{Source: "ufw", Table: "ufw", Chain: "incoming", Target: p, Policy: true, Hook: true,
			Text: "Default: " + st.Default})
	}
	return st
}

// ufwRule reads "To" and "Action" columns: "8443/tcp (v6)", "DENY IN".
func ufwRule(to, action string, pos int, line string) Rule {
	r := Rule{Source: "ufw", Table: "ufw", Chain: "incoming", Position: pos, Text: strings.TrimSpace(line), Hook: true}
	act := strings.Fields(action)
	if len(act) > 1 && act[1] == "OUT" {
		r.Chain, r.Hook = "outgoing", false
	}
	switch act[0] {
	case "ALLOW":
		r.Target = "ACCEPT"
	case "DENY":
		r.Target = "DROP"
	case "REJECT":
		r.Target = "REJECT"
	default:
		r.Target = act[0] // LIMIT
	}
	to = strings.TrimSpace(strings.TrimSuffix(to, "(v6)"))
	port, proto, _ := strings.Cut(to, "/")
	if i := strings.LastIndex(port, " "); i >= 0 { // "10.0.0.5 8443/tcp"
		port = port[i+1:]
		r.Conditional = true
	}
	r.Proto = proto
	if ports, err := parsePortList(port); err == nil {
		r.Ports = ports
	} else {
		r.Conditional = true // "Anywhere", an app profile name
	}
	return r
}

// ufwDefaultIncoming turns "deny (incoming), allow (outgoing)" into "DROP".
func ufwDefaultIncoming(def string) string {
	for _, part := range strings.Split(def, ",") {
		part = strings.TrimSpace(part)
		if !strings.HasSuffix(part, "(incoming)") {
			continue
		}
		switch strings.Fields(part)[0] {
		case "deny":
			return "DROP"
		case "reject":
			return "REJECT"
		case "allow":
			return "ACCEPT"
		}
	}
	return ""
}
