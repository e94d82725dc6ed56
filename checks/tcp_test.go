package checks

import (
	"net"
	"net/netip"
	"testing"
	"time"
)

// Loopback only: a listener answers SYN-ACK, a closed port a RST.
func TestConnectLoopback(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	open := ln.Addr().(*net.TCPAddr).Port
	closedLn, _ := net.Listen("tcp", "127.0.0.1:0")
	closed := closedLn.Addr().(*net.TCPAddr).Port
	closedLn.Close()
	lo := netip.MustParseAddr("127.0.0.1")
	tests := []struct {
		name string
		port int
		want Reason
	}{
		{"open", open, ReasonSynAck},
		{"closed", closed, ReasonReset},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := startTCP(lo, tt.port, 0)
			a.setDeadline(time.Now().Add(2 * time.Second))
			o := a.wait(true)
			if o.Conn != nil {
				o.Conn.Close()
			}
			if o.Reason != tt.want || o.From != lo {
				t.Fatalf("got %+v, want %s from %s", o, tt.want, lo)
			}
		})
	}
}

func TestConnectCancel(t *testing.T) {
	// A cancelled wait returns at once, whatever the socket saw so far.
	a := startTCP(netip.MustParseAddr("127.0.0.1"), 1, 0)
	a.cancel()
	o := a.wait(false)
	if o.Reason != ReasonReset && o.Reason != ReasonNoResponse {
		t.Fatalf("got %+v", o)
	}
}
