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
// neighbour caches along the path: a fresh IPv6 path otherwise loses its
// first packets for about a second, which is not what the tests are about.
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

type serveSpec struct {
	Ports Ports `json:"ports"`
}

// ServeIfChild runs the lab's services and never returns when this process
// was started as the lab's service process; otherwise it returns at once.
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
	if err := serve(spec.Ports); err != nil {
		fmt.Fprintln(os.Stderr, "netlab serve:", err)
		os.Exit(1)
	}
	fmt.Println("ready")
	select {} // serve until killed with the namespace
}

// serve binds every scenario's listener (dual-stack unless noted).
func serve(p Ports) error {
	hold := func(c net.Conn) { _, _ = io.Copy(io.Discard, c); c.Close() }
	greet := func(msg string, keep bool) func(net.Conn) {
		return func(c net.Conn) {
			_, _ = io.WriteString(c, msg)
			if keep {
				hold(c)
				return
			}
			c.Close()
		}
	}
	reset := func(c net.Conn) {
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetLinger(0) // close sends RST
		}
		c.Close()
	}
	plain := []struct {
		addr   string
		handle func(net.Conn)
	}{
		{port(p.Open), hold},
		{port(p.SSH), greet("SSH-2.0-OpenSSH_9.6 portcheck-lab\r\n", true)},
		{port(p.Refuse421), greet("421 Service not available, remote server has closed connection.\r\n", false)},
		{"127.0.0.1:" + strconv.Itoa(p.Loopback), hold},
		// Listeners behind the firewall rules: only the rule explains the
		// outcome, not a missing service.
		{port(p.HostReject), hold}, {port(p.HostAdmin), hold}, {port(p.HostDrop), hold},
		{port(p.PathDrop), hold}, {port(p.PathAdmin), hold},
		{port(p.CloseNoData), func(c net.Conn) { c.Close() }},
		{port(p.ResetOnAccept), reset},
	}
	for _, s := range plain {
		ln, err := net.Listen("tcp", s.addr)
		if err != nil {
			return fmt.Errorf("listen %s: %w", s.addr, err)
		}
		go acceptLoop(ln, s.handle)
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Server", "portcheck-lab")
		_, _ = io.WriteString(w, "portcheck lab\n")
	})
	ln, err := net.Listen("tcp", port(p.HTTP))
	if err != nil {
		return fmt.Errorf("listen http: %w", err)
	}
	go func() { _ = (&http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}).Serve(ln) }()
	cert, err := selfSigned("server.lab.test")
	if err != nil {
		return err
	}
	tln, err := tls.Listen("tcp", port(p.TLS), &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		return fmt.Errorf("listen tls: %w", err)
	}
	go func() { _ = (&http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}).Serve(tln) }()
	return nil
}

func port(p int) string { return ":" + strconv.Itoa(p) }

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
