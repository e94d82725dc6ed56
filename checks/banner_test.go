package checks

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"
)

func TestClassifyGreeting(t *testing.T) {
	tests := []struct {
		line    string
		name    string
		refused bool
	}{
		{"SSH-2.0-OpenSSH_9.6", "ssh", false},
		{"220 (vsFTPd 2.0.5)", "ftp", false},
		{"220 mail.example.com ESMTP Postfix", "smtp", false},
		{"421 Service not available.", "", true},
		{"421 mail.example.com SMTP service not available", "smtp", true},
		{"554 no SMTP service here", "smtp", true},
		{"+OK Dovecot ready.", "pop3", false},
		{"* OK [CAPABILITY IMAP4rev1] ready", "imap", false},
		{"hello", "", false},
	}
	for _, tt := range tests {
		name, refused := classifyGreeting(tt.line)
		if name != tt.name || refused != tt.refused {
			t.Errorf("classifyGreeting(%q) = %q %v, want %q %v", tt.line, name, refused, tt.name, tt.refused)
		}
	}
}

func FuzzClassifyGreeting(f *testing.F) {
	for _, s := range []string{"SSH-2.0-x", "421 no", "220 FTP", "* OK", "", "\x00\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		line := cleanLine(s)
		if strings.ContainsAny(line, "\r\n\x00") || len(line) > 200 {
			t.Fatalf("cleanLine(%q) = %q", s, line)
		}
		classifyGreeting(line) // must never panic
	})
}

// grabService over an in-memory pipe: what the server does decides the
// Service, with no network at all.
func TestGrabService(t *testing.T) {
	tests := []struct {
		name    string
		port    int
		server  func(net.Conn)
		svcName string
		refused bool
		banner  string
	}{
		{"greeting", 22, func(c net.Conn) { c.Write([]byte("SSH-2.0-test\r\n")) }, "ssh", false, "SSH-2.0-test"},
		{"421", 21, func(c net.Conn) { c.Write([]byte("421 Service not available.\r\n")); c.Close() }, "", true, "421 Service not available."},
		{"closed without data", 9999, func(c net.Conn) { c.Close() }, "", true, ""},
		{"silent", 9999, func(c net.Conn) {}, "", false, ""},
		{"http", 80, func(c net.Conn) {
			buf := make([]byte, 512)
			c.Read(buf)
			c.Write([]byte("HTTP/1.1 404 Not Found\r\n\r\n"))
		}, "http", false, "HTTP/1.1 404 Not Found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			client, server := net.Pipe()
			defer server.Close()
			go tt.server(server)
			s := grabService(context.Background(), client, "h", "", tt.port, 200*time.Millisecond)
			if s.Name != tt.svcName || s.Refused != tt.refused || s.Banner != tt.banner {
				t.Fatalf("got %+v", s)
			}
		})
	}
}

func TestProtocolFor(t *testing.T) {
	tests := []struct {
		scheme string
		port   int
		want   string
	}{
		{"https", 8000, "tls"}, {"", 443, "tls"}, {"", 8443, "tls"}, {"http", 443, "http"}, {"", 80, "http"}, {"", 22, "greeting"},
	}
	for _, tt := range tests {
		if got := protocolFor(tt.scheme, tt.port); got != tt.want {
			t.Errorf("protocolFor(%q, %d) = %s, want %s", tt.scheme, tt.port, got, tt.want)
		}
	}
}
