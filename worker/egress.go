package worker

import (
	"context"
	"net"
	"strconv"
	"strings"

	"github.com/portcheck/portcheck/checks"
)

// EgressChecker adds the egress self-check to a Checker: when the target
// port looks filtered from here, it also probes Control (a host known to
// accept connections, PORTCHECK_CONTROL_TARGET) on the same port and
// carries the outcome in Report.Egress. Without it a silent port cannot
// tell "the target drops us" from "our own network drops everything
// outbound on this port", and the differential diagnosis would blame the
// target for a vantage's egress firewall.
type EgressChecker struct {
	Checker Checker
	Control string // host name or address; a ":port" suffix is ignored (the job's port is probed)
}

// Check runs the check and, when it saw silence, the control probe with
// what is left of the job's deadline.
func (e EgressChecker) Check(ctx context.Context, req checks.Request) checks.Report {
	var rep checks.Report
	e.CheckInto(ctx, &req, &rep)
	return rep
}

// CheckInto is Check writing into rep (see intoChecker).
func (e EgressChecker) CheckInto(ctx context.Context, req *checks.Request, rep *checks.Report) {
	checkInto(ctx, e.Checker, req, rep)
	e.control(ctx, req.Host, req.Port, rep)
}

// control probes the control host on port when the target's check saw
// silence (noinline: its work stays out of the frame the target's check
// waits under).
//
//go:noinline
func (e EgressChecker) control(ctx context.Context, target string, port int, rep *checks.Report) {
	host := controlHost(e.Control)
	if host == "" || !silent(rep) || ctx.Err() != nil || strings.EqualFold(host, target) {
		return
	}
	ctl := e.Checker.Check(ctx, checks.Request{Target: net.JoinHostPort(host, strconv.Itoa(port)), Host: host, Port: port})
	rep.Egress = &checks.EgressCheck{Control: host, Port: port, Address: ctl.Address, Verdict: ctl.Verdict, Reason: ctl.Reason}
}

// silent is a verdict the egress self-check can explain: nothing came back,
// or a router on our side said no.
func silent(rep *checks.Report) bool {
	switch rep.Verdict {
	case checks.VerdictFilteredAtHost, checks.VerdictFilteredInPath, checks.VerdictRejectedInPath, checks.VerdictInconclusive:
		return true
	case checks.VerdictHostUnreachable:
		return rep.Reason == checks.ReasonNoResponse
	}
	return false
}

func controlHost(s string) string {
	s = strings.TrimSpace(s)
	if h, p, err := net.SplitHostPort(s); err == nil {
		if _, perr := strconv.Atoi(p); perr == nil {
			return h
		}
	}
	return strings.TrimSuffix(strings.TrimPrefix(s, "["), "]")
}
