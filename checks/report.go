// Package checks runs the troubleshooting chain against one target port and
// turns what the network said into a verdict. It imports nothing else of
// portcheck: the bot, adapters and CLI are windows onto it.
//
// An unreachable target is a result (a Report with a verdict), never a Go
// error: errors are reserved for misuse (bad input) and local failures.
package checks

import (
	"fmt"
	"time"
)

// Verdict is the root cause in one stable word. The codes are a contract:
// they appear in --json output, the audit trail and the README.
type Verdict string

const (
	VerdictOpen               Verdict = "open"                // SYN-ACK and the service talks
	VerdictServiceRefused     Verdict = "service_refused"     // accepts then refuses: tcp wrappers, hosts.deny, app ACL
	VerdictClosed             Verdict = "closed"              // RST from the target: nothing listening on that address
	VerdictRejectedByHost     Verdict = "rejected_by_host"    // ICMP reject sent by the target itself
	VerdictRejectedInPath     Verdict = "rejected_in_path"    // ICMP reject sent by a router on the path
	VerdictFilteredAtHost     Verdict = "filtered_at_host"    // silence; path answers up to the hop before the target
	VerdictFilteredInPath     Verdict = "filtered_in_path"    // silence; port's probes die early while other traffic passes
	VerdictHostUnreachable    Verdict = "host_unreachable"    // ICMP host-unreachable, or nothing answers at all
	VerdictNetworkUnreachable Verdict = "network_unreachable" // no route, locally or at a router
	VerdictDNSError           Verdict = "dns_error"           // the name does not resolve
	// VerdictInconclusive: the probe that decides went unanswered (a
	// router rate-limiting its ICMP, or one that sends none) or the
	// evidence contradicts itself. Report.Likely lists what it may be.
	VerdictInconclusive Verdict = "inconclusive"
)

// Confidence says how firmly the evidence supports a verdict.
type Confidence string

const (
	// ConfidenceHigh: an answer that names the cause (a SYN-ACK, a reset,
	// an ICMP error and its sender), or a silent port whose deciding
	// path question was answered.
	ConfidenceHigh Confidence = "high"
	// ConfidenceMedium: a silent port placed by weaker evidence (the host
	// answers ping, but the path was not asked).
	ConfidenceMedium Confidence = "medium"
	// ConfidenceLow: a reading of silence that other causes fit as well.
	ConfidenceLow Confidence = "low"
)

// Reach says how far a silent port's SYNs were shown to get at one hop.
type Reach string

const (
	// ReachYes: a TTL-limited SYN to the port expired at this hop (its
	// router sent time-exceeded) or was answered there.
	ReachYes Reach = "reached"
	// ReachNo: TTL-limited SYNs to the port went unanswered at this hop
	// while a control probe expiring at the same hop was answered, and
	// again after that answer's ICMP token had been refilled: the port is
	// dropped before this hop.
	ReachNo Reach = "not_reached"
	// ReachUnknown: silent to the port's and the control's probes alike
	// (a router that sends no ICMP, or one out of ICMP tokens).
	ReachUnknown Reach = "unknown"
)

// Reason is the nmap-like word for what the connect attempt saw.
type Reason string

const (
	ReasonSynAck               Reason = "syn-ack"
	ReasonReset                Reason = "reset"
	ReasonNoResponse           Reason = "no-response"
	ReasonICMPPortUnreachable  Reason = "icmp-port-unreachable"
	ReasonICMPAdminProhibited  Reason = "icmp-admin-prohibited"
	ReasonICMPHostUnreachable  Reason = "icmp-host-unreachable"
	ReasonICMPNetUnreachable   Reason = "icmp-net-unreachable"
	ReasonICMPProtoUnreachable Reason = "icmp-proto-unreachable"
	ReasonICMPTimeExceeded     Reason = "icmp-time-exceeded"
	ReasonICMPOther            Reason = "icmp-other"
	ReasonNoRoute              Reason = "no-route" // the local routing table has no route (no packet left)
	ReasonDNSError             Reason = "dns-error"
	ReasonLocalError           Reason = "local-error" // the probe itself failed locally (e.g. out of sockets)
)

// ICMP is one ICMP error as read from the socket error queue.
type ICMP struct {
	Type uint8  `json:"type"`
	Code uint8  `json:"code"`
	From string `json:"from"` // SO_EE_OFFENDER: who sent it
}

// ConnectResult is what one TCP connect attempt to one address saw.
type ConnectResult struct {
	Address    string  `json:"address"`
	Reason     Reason  `json:"reason"`
	ICMP       *ICMP   `json:"icmp,omitempty"`
	ReportedBy string  `json:"reported_by,omitempty"` // the address that answered (SYN-ACK, RST or ICMP sender)
	RTTMS      float64 `json:"rtt_ms,omitempty"`
	Error      string  `json:"error,omitempty"` // local error text, for ReasonLocalError
	// TTL is the IP TTL (hop limit) the SYN-ACK or reset arrived with,
	// read on a raw socket when the prober may open one; 0 unknown.
	TTL int `json:"ttl,omitempty"`
}

// ResolveResult is the DNS step.
type ResolveResult struct {
	Addresses []string `json:"addresses"`
	Error     string   `json:"error,omitempty"`
	NotFound  bool     `json:"not_found,omitempty"` // NXDOMAIN / no such host, as opposed to a resolver failure
	ElapsedMS float64  `json:"elapsed_ms"`
}

// PingResult is the ICMP echo step. An unanswered ping is evidence that ICMP
// is filtered, never by itself proof that the host is down.
type PingResult struct {
	Sent       int     `json:"sent"`
	Received   int     `json:"received"`
	RTTMS      float64 `json:"rtt_ms"` // average of the replies, 0 when none
	Privileged bool    `json:"privileged"`
	TTL        int     `json:"ttl,omitempty"`   // the first reply's IP TTL (the host's distance shows in it)
	Error      string  `json:"error,omitempty"` // could not ping at all (no permission, ...)
}

// Hop is one TTL of a trace.
type Hop struct {
	TTL     int     `json:"ttl"`
	Address string  `json:"address,omitempty"` // empty: no answer at this TTL
	RTTMS   float64 `json:"rtt_ms,omitempty"`
	ICMP    string  `json:"icmp,omitempty"` // "time-exceeded", "syn-ack", "reset", "port-unreachable", "admin-prohibited", ...
	// The fields below describe the path questions asked for a silent
	// port (Report.Path); they are empty in a plain trace.
	Reach Reach `json:"reach,omitempty"` // how far the port's SYNs got at this hop
	Asks  int   `json:"asks,omitempty"`  // probes sent at this TTL
	// Router is who sits at this TTL when this trace's own probe was not
	// answered there: known from a control probe or an earlier check.
	Router string `json:"router,omitempty"`
	// RateLimited: the router at this TTL answered before (this check or
	// one a moment ago) and was silent to every probe since: it is out of
	// ICMP tokens, not filtering.
	RateLimited bool `json:"rate_limited,omitempty"`
}

// Trace is a traceroute toward one port (Proto "tcp") or a control trace
// (Proto "icmp" or "tcp" to another port).
type Trace struct {
	Proto   string `json:"proto"`
	Port    int    `json:"port,omitempty"`
	Hops    []Hop  `json:"hops"`
	Reached bool   `json:"reached"` // the destination itself answered
}

// LastAnswered returns the farthest hop that answered, or nil.
func (t *Trace) LastAnswered() *Hop {
	if t == nil {
		return nil
	}
	for i := len(t.Hops) - 1; i >= 0; i-- {
		if t.Hops[i].Address != "" {
			h := t.Hops[i]
			return &h
		}
	}
	return nil
}

// PathEvidence is what the path questions established for a silent port:
// the host's distance and how it is known, the SYNs the connect sent, and
// the control probe used. The per-hop answers are in the traces.
type PathEvidence struct {
	HostHops   int    `json:"host_hops,omitempty"`    // TTL at which the host answers; 0 unknown
	HostHopsBy string `json:"host_hops_by,omitempty"` // how that is known, e.g. "the ping reply's TTL"
	SYNs       int    `json:"syns"`                   // SYNs the connect sent (the first and the kernel's retransmissions)
	Control    string `json:"control,omitempty"`      // the control probe: "ICMP echo" or "TCP/443"
	// HostRateLimited: the host had spent its ICMP budget on this process
	// moments before, so its silence may be a reject it could not send.
	HostRateLimited bool `json:"host_rate_limited,omitempty"`
	// RouterRateLimited: the router before the host answered a
	// TTL-limited SYN to the port, but never one sent right behind one of
	// the connect's SYNs: it was out of ICMP tokens when they passed, so a
	// reject it sends for the port may have been lost.
	RouterRateLimited bool `json:"router_rate_limited,omitempty"`
	// Forwards: this address forwarded a port on moments ago (a
	// TTL-limited SYN expiring at it drew time-exceeded from it): it is a
	// NAT gateway, and its ports may be forwarded to internal hosts.
	Forwards bool `json:"forwards,omitempty"`
	// LastHopRateLimited: the host answered nothing, and the farthest
	// router that answered was out of ICMP tokens when the window closed:
	// that it sent no host-unreachable says nothing about the host.
	LastHopRateLimited bool `json:"last_hop_rate_limited,omitempty"`
}

// hop returns the hop at ttl, or nil.
func (t *Trace) hop(ttl int) *Hop {
	for i := range t.hopsOrNil() {
		if t.Hops[i].TTL == ttl {
			return &t.Hops[i]
		}
	}
	return nil
}

func (t *Trace) hopsOrNil() []Hop {
	if t == nil {
		return nil
	}
	return t.Hops
}

// TLSInfo is what a TLS handshake showed.
type TLSInfo struct {
	Version  string    `json:"version"`
	Subject  string    `json:"subject,omitempty"`
	Issuer   string    `json:"issuer,omitempty"`
	NotAfter time.Time `json:"not_after,omitempty"`
	DaysLeft int       `json:"days_left"`
	Error    string    `json:"error,omitempty"`
}

// Service is the banner / protocol step, run only when the port accepted.
type Service struct {
	Name    string   `json:"name,omitempty"`   // "ssh", "ftp", "smtp", "http", "tls", ...
	Banner  string   `json:"banner,omitempty"` // first line the server said, or the HTTP status line
	TLS     *TLSInfo `json:"tls,omitempty"`
	Refused bool     `json:"refused,omitempty"` // accepted then refused: 421, closed without data, reset on first read
	Detail  string   `json:"detail,omitempty"`  // why Refused, in words
}

// Evidence is everything the probes saw for one port on one address; the
// input of Diagnose.
type Evidence struct {
	Target       string         `json:"target"`
	Host         string         `json:"host"`
	Port         int            `json:"port"`
	Resolve      ResolveResult  `json:"resolve"`
	Connect      *ConnectResult `json:"connect,omitempty"` // nil when resolution failed
	Ping         *PingResult    `json:"ping,omitempty"`
	Trace        *Trace         `json:"trace,omitempty"`         // toward the port
	ControlTrace *Trace         `json:"control_trace,omitempty"` // ICMP echo or another port, when the port's trace died early
	Service      *Service       `json:"service,omitempty"`
	Path         *PathEvidence  `json:"path,omitempty"` // a silent port's path questions
}

// Hint is one remediation step: a sentence and the commands to paste.
type Hint struct {
	Text     string   `json:"text"`
	Commands []string `json:"commands,omitempty"`
}

// Diagnosis is the output of Diagnose.
type Diagnosis struct {
	Verdict    Verdict    `json:"verdict"`
	Reason     Reason     `json:"reason"`
	ReportedBy string     `json:"reported_by,omitempty"`
	LastHop    *Hop       `json:"last_hop,omitempty"`
	Summary    string     `json:"summary"`
	Hints      []Hint     `json:"hints"`
	Confidence Confidence `json:"confidence"`
	Likely     []Verdict  `json:"likely,omitempty"` // for inconclusive: the verdicts the evidence leaves open
}

// Report is one checked port: the JSON contract of `portcheck check --json`
// (one object per line). Field names are relied on by other tools: add, never
// rename.
type Report struct {
	Target       string          `json:"target"`
	Host         string          `json:"host"`
	Port         int             `json:"port"`
	Address      string          `json:"address"`
	Addresses    []string        `json:"addresses"`
	Verdict      Verdict         `json:"verdict"`
	Reason       Reason          `json:"reason"`
	ReportedBy   string          `json:"reported_by"`
	LastHop      *Hop            `json:"last_hop"`
	Service      *Service        `json:"service"`
	Ping         *PingResult     `json:"ping"`
	Trace        []Hop           `json:"trace"`
	ControlTrace *Trace          `json:"control_trace,omitempty"`
	Connect      *ConnectResult  `json:"connect,omitempty"`
	Others       []ConnectResult `json:"others,omitempty"` // connect outcomes on the host's other addresses
	Summary      string          `json:"summary"`
	Hints        []Hint          `json:"hints"`
	Confidence   Confidence      `json:"confidence"`
	Likely       []Verdict       `json:"likely,omitempty"` // for inconclusive: the verdicts the evidence leaves open
	Path         *PathEvidence   `json:"path,omitempty"`   // a silent port's path questions (the hops are in trace / control_trace)
	ElapsedMS    int64           `json:"elapsed_ms"`
	Vantage      string          `json:"vantage,omitempty"`
	Error        string          `json:"error,omitempty"` // a probe failed internally; the verdict may be incomplete
	// Egress is the vantage's egress self-check, set when the port looked
	// filtered and a control target is configured (distributed mode).
	Egress *EgressCheck `json:"egress,omitempty"`
}

// EgressCheck is a probe of a control target (a host known to accept
// connections) on the same port, made when the real target looked
// filtered: if the control is not reachable either, the vantage's own
// network blocks outbound traffic to that port, not the target.
type EgressCheck struct {
	Control string  `json:"control"`           // the control target as configured, e.g. "egress-check.example.com"
	Port    int     `json:"port"`              // the port probed (the job's)
	Address string  `json:"address,omitempty"` // the control address connected to
	Verdict Verdict `json:"verdict"`           // what the control probe saw
	Reason  Reason  `json:"reason,omitempty"`
}

// Blocked reports whether the control target could not be reached on the
// port either (silence, or a reject or unreachable from the path): the
// vantage's own egress blocks the port. A control that answered at all
// (open, closed, refused by the service) shows the way out is clear.
func (e *EgressCheck) Blocked() bool {
	if e == nil {
		return false
	}
	switch e.Verdict {
	case VerdictFilteredAtHost, VerdictFilteredInPath, VerdictRejectedInPath, VerdictHostUnreachable, VerdictNetworkUnreachable:
		return true
	}
	return false
}

// Passes reports whether the control target answered on the port: packets
// leave this vantage, so the silence is the target's side.
func (e *EgressCheck) Passes() bool {
	if e == nil {
		return false
	}
	switch e.Verdict {
	case VerdictOpen, VerdictClosed, VerdictServiceRefused:
		return true
	}
	return false
}

// Note says in words what the path questions found at a hop the port's
// SYNs did not get an answer from; empty for a plain hop.
func (h Hop) Note() string {
	who := h.Router
	if who == "" {
		who = "the router there"
	}
	switch {
	case h.Address != "" || h.Reach == "":
		return ""
	case h.Reach == ReachNo:
		return fmt.Sprintf("not reached: %s answers the control probe, not the port's SYNs (%d sent)", who, h.Asks)
	case h.RateLimited:
		return fmt.Sprintf("%s answered moments before, silent now to %d asks: rate-limiting its ICMP", who, h.Asks)
	}
	return fmt.Sprintf("no answer to %d asks (no ICMP from that hop, or none left)", h.Asks)
}
