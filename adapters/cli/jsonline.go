package cli

import (
	"encoding/binary"
	"math"
	"strconv"
	"unicode/utf8"
	"unsafe"

	"github.com/portcheck/portcheck/checks"
)

// appendJSONLine appends r as encoding/json (SetEscapeHTML(false)) would
// write it, newline included, for the reports a range is made of: a port
// that answered the connect (a reset, an ICMP error) and was diagnosed from
// that alone. A range prints sixty thousand of them, and reflection-driven
// encoding was a fifth of its CPU time. A report with anything more in it
// (a service, traces, path questions, other addresses) is not handled
// (ok false): the caller encodes it with encoding/json. Tests hold the
// bytes to encoding/json's, and fail when Report grows a field this does
// not know.
func appendJSONLine(b []byte, r *checks.Report) ([]byte, bool) {
	if r.Service != nil || r.ControlTrace != nil || len(r.Others) > 0 || len(r.Likely) > 0 || r.Path != nil ||
		r.Egress != nil || len(r.Trace) > 0 {
		return b, false
	}
	b = append(b, `{"target":`...)
	b = appendJSONString(b, r.Target)
	b = append(b, `,"host":`...)
	b = appendJSONString(b, r.Host)
	b = append(b, `,"port":`...)
	b = strconv.AppendInt(b, int64(r.Port), 10)
	b = append(b, `,"address":`...)
	b = appendJSONString(b, r.Address)
	b = append(b, `,"addresses":`...)
	b = appendStrings(b, r.Addresses)
	b = append(b, `,"verdict":`...)
	b = appendJSONString(b, string(r.Verdict))
	b = append(b, `,"reason":`...)
	b = appendJSONString(b, string(r.Reason))
	b = append(b, `,"reported_by":`...)
	b = appendJSONString(b, r.ReportedBy)
	b = append(b, `,"last_hop":`...)
	if r.LastHop == nil {
		b = append(b, "null"...)
	} else {
		b = appendHop(b, r.LastHop)
	}
	b = append(b, `,"service":null,"ping":`...)
	if r.Ping == nil {
		b = append(b, "null"...)
	} else {
		b = appendPing(b, r.Ping)
	}
	b = append(b, `,"trace":`...)
	if r.Trace == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, "[]"...)
	}
	if r.Connect != nil {
		b = append(b, `,"connect":`...)
		b = appendConnect(b, r.Connect)
	}
	b = append(b, `,"summary":`...)
	b = appendJSONString(b, r.Summary)
	b = append(b, `,"hints":`...)
	if r.Hints == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, h := range r.Hints {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"text":`...)
			b = appendJSONString(b, h.Text)
			if len(h.Commands) > 0 {
				b = append(b, `,"commands":`...)
				b = appendStrings(b, h.Commands)
			}
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	b = append(b, `,"confidence":`...)
	b = appendJSONString(b, string(r.Confidence))
	b = append(b, `,"elapsed_ms":`...)
	b = strconv.AppendInt(b, r.ElapsedMS, 10)
	if r.Vantage != "" {
		b = append(b, `,"vantage":`...)
		b = appendJSONString(b, r.Vantage)
	}
	if r.Error != "" {
		b = append(b, `,"error":`...)
		b = appendJSONString(b, r.Error)
	}
	return append(b, "}\n"...), true
}

func appendStrings(b []byte, ss []string) []byte {
	if ss == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i, s := range ss {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, s)
	}
	return append(b, ']')
}

func appendHop(b []byte, h *checks.Hop) []byte {
	b = append(b, `{"ttl":`...)
	b = strconv.AppendInt(b, int64(h.TTL), 10)
	if h.Address != "" {
		b = append(b, `,"address":`...)
		b = appendJSONString(b, h.Address)
	}
	if h.RTTMS != 0 {
		b = append(b, `,"rtt_ms":`...)
		b = appendJSONFloat(b, h.RTTMS)
	}
	if h.ICMP != "" {
		b = append(b, `,"icmp":`...)
		b = appendJSONString(b, h.ICMP)
	}
	if h.Reach != "" {
		b = append(b, `,"reach":`...)
		b = appendJSONString(b, string(h.Reach))
	}
	if h.Asks != 0 {
		b = append(b, `,"asks":`...)
		b = strconv.AppendInt(b, int64(h.Asks), 10)
	}
	if h.Router != "" {
		b = append(b, `,"router":`...)
		b = appendJSONString(b, h.Router)
	}
	if h.RateLimited {
		b = append(b, `,"rate_limited":true`...)
	}
	return append(b, '}')
}

func appendPing(b []byte, p *checks.PingResult) []byte {
	b = append(b, `{"sent":`...)
	b = strconv.AppendInt(b, int64(p.Sent), 10)
	b = append(b, `,"received":`...)
	b = strconv.AppendInt(b, int64(p.Received), 10)
	b = append(b, `,"rtt_ms":`...)
	b = appendJSONFloat(b, p.RTTMS)
	b = append(b, `,"privileged":`...)
	b = strconv.AppendBool(b, p.Privileged)
	if p.TTL != 0 {
		b = append(b, `,"ttl":`...)
		b = strconv.AppendInt(b, int64(p.TTL), 10)
	}
	if p.Error != "" {
		b = append(b, `,"error":`...)
		b = appendJSONString(b, p.Error)
	}
	return append(b, '}')
}

func appendConnect(b []byte, c *checks.ConnectResult) []byte {
	b = append(b, `{"address":`...)
	b = appendJSONString(b, c.Address)
	b = append(b, `,"reason":`...)
	b = appendJSONString(b, string(c.Reason))
	if c.ICMP != nil {
		b = append(b, `,"icmp":{"type":`...)
		b = strconv.AppendUint(b, uint64(c.ICMP.Type), 10)
		b = append(b, `,"code":`...)
		b = strconv.AppendUint(b, uint64(c.ICMP.Code), 10)
		b = append(b, `,"from":`...)
		b = appendJSONString(b, c.ICMP.From)
		b = append(b, '}')
	}
	if c.ReportedBy != "" {
		b = append(b, `,"reported_by":`...)
		b = appendJSONString(b, c.ReportedBy)
	}
	if c.RTTMS != 0 {
		b = append(b, `,"rtt_ms":`...)
		b = appendJSONFloat(b, c.RTTMS)
	}
	if c.Error != "" {
		b = append(b, `,"error":`...)
		b = appendJSONString(b, c.Error)
	}
	if c.TTL != 0 {
		b = append(b, `,"ttl":`...)
		b = strconv.AppendInt(b, int64(c.TTL), 10)
	}
	return append(b, '}')
}

// appendJSONFloat formats a float64 as encoding/json does (shortest
// representation, exponent form outside [1e-6, 1e21), "e-07" as "e-7").
// Reports never carry NaN or infinities.
func appendJSONFloat(b []byte, f float64) []byte {
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}

const hexDigits = "0123456789abcdef"

// plainPrefix is the length of s's prefix that needs no escaping: no
// control character, quote, backslash or non-ASCII byte. Hint texts are
// plain, so it looks at eight bytes at a time.
func plainPrefix(s string) int {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	// A read-only view of the string's bytes, so eight load as one.
	b := unsafe.Slice(unsafe.StringData(s), len(s))
	i := 0
	for ; i+8 <= len(b); i += 8 {
		x := binary.LittleEndian.Uint64(b[i:])
		q, bs := x^(ones*'"'), x^(ones*'\\')
		// A byte below 0x20, a zero byte of q or bs (a quote or a
		// backslash), or a high bit: look closer.
		if ((x-ones*0x20)&^x|(q-ones)&^q|(bs-ones)&^bs|x)&highs != 0 {
			break
		}
	}
	for ; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= utf8.RuneSelf {
			return i
		}
	}
	return i
}

// appendJSONString quotes s as encoding/json does with HTML escaping off:
// quote, backslash and control characters escaped (\b \f \n \r \t short),
// invalid UTF-8 as \ufffd, U+2028 and U+2029 escaped.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	i := plainPrefix(s)
	if i == len(s) {
		b = append(b, s...)
		return append(b, '"')
	}
	for i < len(s) {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
