package agent

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// nftDoc is the outer shape of `nft -j list ruleset`: a list of one-key
// objects ({"table": ...}, {"chain": ...}, {"rule": ...}).
type nftDoc struct {
	Nftables []map[string]json.RawMessage `json:"nftables"`
}

type nftChain struct {
	Family string `json:"family"`
	Table  string `json:"table"`
	Name   string `json:"name"`
	Hook   string `json:"hook"`
	Policy string `json:"policy"`
}

type nftRule struct {
	Family  string                       `json:"family"`
	Table   string                       `json:"table"`
	Chain   string                       `json:"chain"`
	Handle  int                          `json:"handle"`
	Comment string                       `json:"comment"`
	Expr    []map[string]json.RawMessage `json:"expr"`
}

// ParseNftJSON parses `nft -j list ruleset` into rules and the policies of
// base chains. nft prints no rule text in JSON, so Text is rebuilt in nft
// syntax from the expressions ("tcp dport 8443 counter packets 14 bytes
// 840 drop"), close to what `nft list ruleset` shows.
func ParseNftJSON(data []byte) ([]Rule, error) {
	var doc nftDoc
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("nft json: %w", err)
	}
	var out []Rule
	hooks := map[string]string{} // family/table/chain -> hook
	pos := map[string]int{}
	for _, obj := range doc.Nftables {
		if raw, ok := obj["chain"]; ok {
			var c nftChain
			if err := json.Unmarshal(raw, &c); err != nil {
				return out, fmt.Errorf("nft chain: %w", err)
			}
			hooks[c.Family+"/"+c.Table+"/"+c.Name] = c.Hook
			if c.Hook != "" && c.Policy != "" {
				out = append(out, Rule{Source: "nft", Family: c.Family, Table: c.Table, Chain: c.Name,
					Target: strings.ToUpper(c.Policy), Policy: true, Hook: isNftInbound(c.Hook),
					Text: fmt.Sprintf("chain %s { type filter hook %s; policy %s; }", c.Name, c.Hook, c.Policy)})
			}
		}
		raw, ok := obj["rule"]
		if !ok {
			continue
		}
		var nr nftRule
		if err := json.Unmarshal(raw, &nr); err != nil {
			return out, fmt.Errorf("nft rule: %w", err)
		}
		key := nr.Family + "/" + nr.Table + "/" + nr.Chain
		pos[key]++
		r := nftToRule(nr)
		r.Position = pos[key]
		r.Hook = isNftInbound(hooks[key])
		out = append(out, r)
	}
	return out, nil
}

func isNftInbound(hook string) bool { return hook == "input" || hook == "prerouting" }

// nftToRule interprets the expressions this package understands and marks
// the rule Conditional for anything else that filters.
func nftToRule(nr nftRule) Rule {
	r := Rule{Source: "nft", Family: nr.Family, Table: nr.Table, Chain: nr.Chain, Handle: nr.Handle}
	var words []string
	for _, e := range nr.Expr {
		for k, v := range e {
			switch k {
			case "match":
				words = append(words, nftMatch(&r, v))
			case "counter":
				var c struct {
					Packets uint64 `json:"packets"`
					Bytes   uint64 `json:"bytes"`
				}
				if json.Unmarshal(v, &c) == nil {
					r.Packets, r.Bytes, r.Counters = c.Packets, c.Bytes, true
					words = append(words, fmt.Sprintf("counter packets %d bytes %d", c.Packets, c.Bytes))
				} else {
					words = append(words, "counter name "+string(v))
				}
			case "accept", "drop", "reject", "return", "queue", "continue":
				r.Target = strings.ToUpper(k)
				words = append(words, k)
			case "jump", "goto":
				var t struct {
					Target string `json:"target"`
				}
				_ = json.Unmarshal(v, &t) // an odd shape leaves the target empty, still a rule
				r.Target = t.Target
				words = append(words, k+" "+t.Target)
			case "log", "limit", "comment":
				if k == "limit" {
					r.Conditional = true
				}
				words = append(words, k)
			default:
				r.Conditional = true
				words = append(words, k+" "+compactJSON(v))
			}
		}
	}
	if nr.Comment != "" {
		words = append(words, "comment "+strconv.Quote(nr.Comment))
	}
	r.Text = strings.Join(words, " ")
	return r
}

// nftMatch reads one {"match": {"op", "left", "right"}} and returns its text.
func nftMatch(r *Rule, raw json.RawMessage) string {
	var m struct {
		Op    string          `json:"op"`
		Left  json.RawMessage `json:"left"`
		Right json.RawMessage `json:"right"`
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		r.Conditional = true
		return compactJSON(raw)
	}
	var left struct {
		Payload *struct {
			Protocol string `json:"protocol"`
			Field    string `json:"field"`
		} `json:"payload"`
		Meta *struct {
			Key string `json:"key"`
		} `json:"meta"`
	}
	_ = json.Unmarshal(m.Left, &left) // other left shapes stay zero: handled below as conditions
	op := ""
	if m.Op != "==" && m.Op != "in" {
		op = m.Op + " "
	}
	right := nftValue(m.Right)
	switch {
	case left.Payload != nil && left.Payload.Field == "dport" && (m.Op == "==" || m.Op == "in" || m.Op == "!="):
		r.Proto = left.Payload.Protocol
		if pr, ok := nftPorts(m.Right); ok {
			r.Ports = append(r.Ports, pr...)
			r.NotPorts = m.Op == "!="
		} else {
			r.Conditional = true
		}
		return fmt.Sprintf("%s dport %s%s", left.Payload.Protocol, op, right)
	case left.Meta != nil && left.Meta.Key == "l4proto" && (m.Op == "==" || m.Op == "in"):
		r.Proto = strings.Trim(right, `"`)
		return "meta l4proto " + right
	case left.Payload != nil && left.Payload.Field == "protocol" && m.Op == "==":
		r.Proto = strings.Trim(right, `"`)
		return fmt.Sprintf("%s protocol %s", left.Payload.Protocol, right)
	case left.Payload != nil:
		r.Conditional = true
		return fmt.Sprintf("%s %s %s%s", left.Payload.Protocol, left.Payload.Field, op, right)
	case left.Meta != nil:
		r.Conditional = true
		return fmt.Sprintf("meta %s %s%s", left.Meta.Key, op, right)
	}
	r.Conditional = true
	return fmt.Sprintf("%s %s%s", nftLeft(m.Left), op, right)
}

// nftLeft renders the left side of other matches (ct state, iifname...).
func nftLeft(raw json.RawMessage) string {
	var obj map[string]map[string]any
	if json.Unmarshal(raw, &obj) == nil {
		for k, v := range obj {
			if key, ok := v["key"].(string); ok {
				return k + " " + key
			}
			return k
		}
	}
	return compactJSON(raw)
}

// nftValue renders a right-hand value: 8443, "tcp", {"set":[...]}, {"range":[a,b]}.
func nftValue(raw json.RawMessage) string {
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		return n.String()
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var set struct {
		Set   []json.RawMessage `json:"set"`
		Range []json.RawMessage `json:"range"`
	}
	if json.Unmarshal(raw, &set) == nil {
		if set.Range != nil && len(set.Range) == 2 {
			return nftValue(set.Range[0]) + "-" + nftValue(set.Range[1])
		}
		if set.Set != nil {
			parts := make([]string, 0, len(set.Set))
			for _, e := range set.Set {
				parts = append(parts, nftValue(e))
			}
			return "{ " + strings.Join(parts, ", ") + " }"
		}
	}
	var arr []json.RawMessage
	if json.Unmarshal(raw, &arr) == nil {
		parts := make([]string, 0, len(arr))
		for _, e := range arr {
			parts = append(parts, nftValue(e))
		}
		return strings.Join(parts, ",")
	}
	return compactJSON(raw)
}

// nftPorts reads a port value, range or anonymous set of those. A named set
// ("@allowed") cannot be evaluated from the rule alone.
func nftPorts(raw json.RawMessage) ([]PortRange, bool) {
	var n int
	if json.Unmarshal(raw, &n) == nil {
		if n < 0 || n > 65535 {
			return nil, false
		}
		return []PortRange{{n, n}}, true
	}
	var v struct {
		Set   []json.RawMessage `json:"set"`
		Range []json.RawMessage `json:"range"`
	}
	if json.Unmarshal(raw, &v) != nil {
		return nil, false
	}
	if len(v.Range) == 2 {
		var a, b int
		if json.Unmarshal(v.Range[0], &a) != nil || json.Unmarshal(v.Range[1], &b) != nil {
			return nil, false
		}
		if a > b {
			a, b = b, a
		}
		return []PortRange{{a, b}}, true
	}
	if v.Set == nil {
		return nil, false
	}
	var out []PortRange
	for _, e := range v.Set {
		pr, ok := nftPorts(e)
		if !ok {
			return nil, false
		}
		out = append(out, pr...)
	}
	return out, true
}

func compactJSON(raw json.RawMessage) string {
	s := strings.Join(strings.Fields(string(raw)), "")
	if len(s) > 80 {
		s = s[:80] + "..."
	}
	return s
}
