package checks

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"
)

// isTLSPort: ports where a client speaks TLS first.
func isTLSPort(p int) bool {
	switch p {
	case 443, 465, 636, 853, 993, 995, 5986, 6443, 8443, 9443:
		return true
	}
	return false
}

// isHTTPPort: ports where a client speaks HTTP first.
func isHTTPPort(p int) bool {
	switch p {
	case 80, 3000, 5000, 8000, 8008, 8080, 8888, 9090:
		return true
	}
	return false
}

// protocolFor picks how to talk to an accepted connection.
func protocolFor(scheme string, port int) string {
	switch strings.ToLower(scheme) {
	case "https", "tls", "wss":
		return "tls"
	case "http", "ws":
		return "http"
	}
	if isTLSPort(port) {
		return "tls"
	}
	if isHTTPPort(port) {
		return "http"
	}
	return "greeting"
}

// grabService talks to an accepted connection: reads a greeting, or sends
// an HTTP request or a TLS handshake. wait bounds how long a silent server
// gets. It closes conn.
func grabService(ctx context.Context, conn net.Conn, host, scheme string, port int, wait time.Duration) *Service {
	defer conn.Close()
	dl := time.Now().Add(wait)
	if d, ok := ctx.Deadline(); ok && d.Before(dl) {
		dl = d
	}
	_ = conn.SetDeadline(dl)
	switch protocolFor(scheme, port) {
	case "tls":
		return grabTLS(conn, host)
	case "http":
		return grabHTTP(conn, host, "http")
	}
	return grabGreeting(conn)
}

// grabGreeting reads the first line a server-speaks-first protocol sends.
func grabGreeting(conn net.Conn) *Service {
	line, err := bufio.NewReaderSize(conn, 1024).ReadString('\n')
	line = cleanLine(line)
	if line == "" {
		return silentOrRefused(err)
	}
	name, refused := classifyGreeting(line)
	s := &Service{Name: name, Banner: line, Refused: refused}
	if refused {
		s.Detail = "the service accepted the connection and then refused it: " + line
	}
	return s
}

// silentOrRefused interprets a read that produced no data.
func silentOrRefused(err error) *Service {
	var ne net.Error
	switch {
	case err == nil:
		return &Service{}
	case errors.As(err, &ne) && ne.Timeout():
		return &Service{Detail: "connected; the service sent nothing (it may wait for the client to speak first)"}
	case errors.Is(err, io.EOF):
		return &Service{Refused: true, Detail: "accepted the connection then closed it without sending anything (tcp wrappers / application ACL?)"}
	}
	return &Service{Refused: true, Detail: "accepted the connection then reset it on the first read: " + err.Error()}
}

// classifyGreeting names a greeting and says whether it is a refusal.
func classifyGreeting(line string) (name string, refused bool) {
	up := strings.ToUpper(line)
	switch {
	case strings.HasPrefix(line, "SSH-"):
		return "ssh", false
	case strings.HasPrefix(line, "+OK"):
		return "pop3", false
	case strings.HasPrefix(line, "-ERR"):
		return "pop3", true
	case strings.HasPrefix(up, "* OK"):
		return "imap", false
	case strings.HasPrefix(up, "* BYE"):
		return "imap", true
	case strings.HasPrefix(line, "421"):
		return ftpOrSMTP(up), true
	case strings.HasPrefix(line, "554"):
		return "smtp", true
	case strings.HasPrefix(line, "220"):
		return ftpOrSMTP(up), false
	}
	return "", false
}

func ftpOrSMTP(up string) string {
	switch {
	case strings.Contains(up, "FTP"):
		return "ftp"
	case strings.Contains(up, "SMTP") || strings.Contains(up, "MAIL"):
		return "smtp"
	}
	return ""
}

// grabHTTP sends a HEAD request and reads the status line.
func grabHTTP(conn net.Conn, host, name string) *Service {
	req := "HEAD / HTTP/1.1\r\nHost: " + host + "\r\nUser-Agent: portcheck\r\nConnection: close\r\n\r\n"
	if _, err := io.WriteString(conn, req); err != nil {
		return &Service{Name: name, Refused: true, Detail: "accepted the connection then refused the request: " + err.Error()}
	}
	line, err := bufio.NewReaderSize(conn, 1024).ReadString('\n')
	line = cleanLine(line)
	if line == "" {
		s := silentOrRefused(err)
		s.Name = name
		return s
	}
	s := &Service{Name: name, Banner: line}
	if !strings.HasPrefix(line, "HTTP/") {
		s.Name, _ = classifyGreeting(line)
	}
	return s
}

// grabTLS runs a handshake and reports the certificate; the check is about
// reachability, so an untrusted certificate is recorded, not fatal.
func grabTLS(conn net.Conn, host string) *Service {
	tc := tls.Client(conn, &tls.Config{ServerName: host, InsecureSkipVerify: true}) //nolint:gosec // we report the cert, we do not trust it
	s := &Service{Name: "tls"}
	if err := tc.Handshake(); err != nil {
		s.TLS = &TLSInfo{Error: err.Error()}
		if errors.Is(err, io.EOF) {
			s.Refused, s.Detail = true, "accepted the connection then closed it during the TLS handshake"
		}
		return s
	}
	st := tc.ConnectionState()
	info := &TLSInfo{Version: tls.VersionName(st.Version)}
	if len(st.PeerCertificates) > 0 {
		c := st.PeerCertificates[0]
		info.Subject, info.Issuer, info.NotAfter = c.Subject.String(), c.Issuer.String(), c.NotAfter
		info.DaysLeft = int(time.Until(c.NotAfter).Hours() / 24)
		if err := c.VerifyHostname(host); err != nil {
			info.Error = err.Error()
		}
	}
	s.TLS = info
	s.Banner = fmt.Sprintf("%s, certificate %q", info.Version, info.Subject)
	if hs := grabHTTP(tc, host, "https"); hs.Banner != "" && strings.HasPrefix(hs.Banner, "HTTP/") {
		s.Name, s.Banner = "https", hs.Banner
	}
	return s
}

// cleanLine trims a protocol line and keeps it printable and short.
func cleanLine(s string) string {
	s = strings.TrimRight(s, "\r\n")
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, s)
	if len(s) > 200 {
		s = s[:200]
	}
	return strings.TrimSpace(s)
}
