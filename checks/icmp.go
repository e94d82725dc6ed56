package checks

// icmpKind names an ICMP error the way a person reads it; the ICMPv4 and
// ICMPv6 numbering differ, the meanings we care about do not.
type icmpKind string

const (
	icmpNetUnreach      icmpKind = "net-unreachable"
	icmpHostUnreach     icmpKind = "host-unreachable"
	icmpProtoUnreach    icmpKind = "proto-unreachable"
	icmpPortUnreach     icmpKind = "port-unreachable"
	icmpAdminProhibited icmpKind = "admin-prohibited"
	icmpTimeExceeded    icmpKind = "time-exceeded"
	icmpEchoReply       icmpKind = "echo-reply"
	icmpOther           icmpKind = "icmp-other"
)

// classifyICMP maps an ICMP type/code to its kind. v6 selects ICMPv6
// numbering.
func classifyICMP(v6 bool, typ, code uint8) icmpKind {
	if v6 {
		switch typ {
		case 1: // destination unreachable
			switch code {
			case 0: // no route
				return icmpNetUnreach
			case 1, 5, 6: // admin prohibited, source policy, reject route
				return icmpAdminProhibited
			case 3: // address unreachable
				return icmpHostUnreach
			case 4:
				return icmpPortUnreach
			}
		case 3:
			return icmpTimeExceeded
		case 129:
			return icmpEchoReply
		}
		return icmpOther
	}
	switch typ {
	case 3:
		switch code {
		case 0, 6, 11: // net unreachable, net unknown, net for TOS
			return icmpNetUnreach
		case 1, 7, 12: // host unreachable, host unknown, host for TOS
			return icmpHostUnreach
		case 2:
			return icmpProtoUnreach
		case 3:
			return icmpPortUnreach
		case 9, 10, 13: // net/host administratively prohibited, communication prohibited
			return icmpAdminProhibited
		}
	case 11:
		return icmpTimeExceeded
	case 0:
		return icmpEchoReply
	}
	return icmpOther
}

// reason is the nmap-like word for the connect step.
func (k icmpKind) reason() Reason {
	switch k {
	case icmpNetUnreach:
		return ReasonICMPNetUnreachable
	case icmpHostUnreach:
		return ReasonICMPHostUnreachable
	case icmpProtoUnreach:
		return ReasonICMPProtoUnreachable
	case icmpPortUnreach:
		return ReasonICMPPortUnreachable
	case icmpAdminProhibited:
		return ReasonICMPAdminProhibited
	case icmpTimeExceeded:
		return ReasonICMPTimeExceeded
	}
	return ReasonICMPOther
}
