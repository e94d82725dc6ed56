package netlab

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// serveEnv carries the service spec to the re-executed service process.
const serveEnv = "PORTCHECK_NETLAB_SERVE"

// warmEnv makes the re-executed process connect once to each address:port
// and exit. Run in the client namespace at build time, it fills the
// neighbour caches along the paths, so a test's first probe does not wait
// for neighbour discovery. (The second it used to take came from veth ends
// sharing an ifindex, see build.)
const warmEnv = "PORTCHECK_NETLAB_WARM"

func warm(targets []string) {
	var wg sync.WaitGroup
	for _, t := range targets {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if c, err := net.DialTimeout("tcp", t, 3*time.Second); err == nil {
				c.Close()
			}
		}()
	}
	wg.Wait()
}

// serveSpec is what one host namespace's service process runs.
type serveSpec struct {
	Host     string    `json:"host"` // the namespace, for messages
	Services []service `json:"services"`
}

// service is one listener.
type service struct {
	Listen string `json:"listen"` // ":22" (dual-stack) or "127.0.0.1:5432"
	Kind   string `json:"kind"`
	Text   string `json:"text,omitempty"` // the greeting; the TLS certificate's name
}

// Service kinds.
const (
	kindHold       = "hold"        // accept, read until the peer closes
	kindGreet      = "greet"       // send Text, then hold
	kindGreetClose = "greet_close" // send Text, then close
	kindClose      = "close"       // accept, close without a byte
	kindReset      = "reset"       // accept, reset
	kindHTTP       = "http"        // HTTP server
	kindTLS        = "tls"         // HTTPS, self-signed for Text
)

// hostServices lists what each host namespace runs. Every port behind a
// firewall rule has a listener: only the rule explains the outcome, not a
// missing service.
func (l *Lab) hostServices() []serveSpec {
	p := l.Ports
	svc := func(port int, kind, text string) service {
		return service{Listen: listenAll(port), Kind: kind, Text: text}
	}
	hold := func(port int) service { return svc(port, kindHold, "") }
	return []serveSpec{
		{Host: l.NS.Server, Services: []service{
			hold(p.Open),
			svc(p.SSH, kindGreet, "SSH-2.0-OpenSSH_9.6 portcheck-lab\r\n"),
			svc(p.Refuse421, kindGreetClose, "421 Service not available, remote server has closed connection.\r\n"),
			{Listen: "127.0.0.1:" + strconv.Itoa(p.Loopback), Kind: kindHold},
			hold(p.HostReject), hold(p.HostAdmin), hold(p.HostDrop),
			hold(p.PathDrop), hold(p.PathAdmin), hold(p.PathReset), hold(p.PathResetLast),
			svc(p.CloseNoData, kindClose, ""),
			svc(p.ResetOnAccept, kindReset, ""),
			svc(p.HTTP, kindHTTP, ""),
			svc(p.TLS, kindTLS, "server.lab.test"),
		}},
		{Host: l.NS.Lan, Services: []service{
			svc(p.LanOpen, kindGreet, "SSH-2.0-OpenSSH_9.6 portcheck-lab-lan\r\n"),
			hold(p.LanDrop),
		}},
		{Host: l.NS.Quiet, Services: []service{hold(p.QuietOpen), hold(p.QuietDrop)}},
		{Host: l.NS.NoRouteBack, Services: []service{hold(p.NoRouteBackOpen)}},
	}
}

// ServeIfChild runs the lab's services and never returns when this process
// was started as a lab service process; otherwise it returns at once.
// Binaries that build labs (tests' TestMain, labctl) call it first thing.
func ServeIfChild() {
	if targets, ok := os.LookupEnv(warmEnv); ok {
		warm(strings.Fields(targets))
		os.Exit(0)
	}
	raw, ok := os.LookupEnv(serveEnv)
	if !ok {
		return
	}
	var spec serveSpec
	if err := json.Unmarshal([]byte(raw), &spec); err != nil {
		fmt.Fprintln(os.Stderr, "netlab serve:", err)
		os.Exit(2)
	}
	if err := serve(spec.Services); err != nil {
		fmt.Fprintf(os.Stderr, "netlab serve in %s: %v\n", spec.Host, err)
		os.Exit(1)
	}
	fmt.Println("ready")
	select {} // serve until killed with the namespace
}

// serve binds every listener, then serves them in the background.
func serve(services []service) error {
	hold := func(c net.Conn) { _, _ = io.Copy(io.Discard, c); c.Close() }
	h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Server", "portcheck-lab")
		_, _ = io.WriteString(w, "portcheck lab\n")
	})
	for _, s := range services {
		ln, err := net.Listen("tcp", s.Listen)
		if err != nil {
			return fmt.Errorf("listen %s (%s): %w", s.Listen, s.Kind, err)
		}
		switch s.Kind {
		case kindHold:
			go acceptLoop(ln, hold)
		case kindGreet, kindGreetClose:
			keep := s.Kind == kindGreet
			go acceptLoop(ln, func(c net.Conn) {
				_, _ = io.WriteString(c, s.Text)
				if keep {
					hold(c)
					return
				}
				c.Close()
			})
		case kindClose:
			go acceptLoop(ln, func(c net.Conn) { c.Close() })
		case kindReset:
			go acceptLoop(ln, func(c net.Conn) {
				if tc, ok := c.(*net.TCPConn); ok {
					_ = tc.SetLinger(0) // close sends RST
				}
				c.Close()
			})
		case kindHTTP:
			go func() { _ = (&http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}).Serve(ln) }()
		case kindTLS:
			cert, err := selfSigned(s.Text)
			if err != nil {
				return err
			}
			tln := tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}})
			go func() { _ = (&http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}).Serve(tln) }()
		default:
			return fmt.Errorf("listen %s: unknown service kind %q", s.Listen, s.Kind)
		}
	}
	return nil
}

// listenAll is the dual-stack listen address of a port.
func listenAll(p int) string { return ":" + strconv.Itoa(p) }

func acceptLoop(ln net.Listener, handle func(net.Conn)) {
	for {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		go handle(c)
	}
}

// selfSigned makes a short-lived certificate for the TLS scenario.
func selfSigned(name string) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("tls key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: name, Organization: []string{"portcheck lab"}},
		DNSNames:     []string{name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(30 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("tls cert: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}
