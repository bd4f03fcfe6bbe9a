package client

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/roamhq/roam/node/pki"
)

// TestDial_RefusesPlaintextToNonLoopbackAddress: without TLS, a client
// does not send tokens and messages in clear over a network unless told
// to; loopback stays allowed.
func TestDial_RefusesPlaintextToNonLoopbackAddress(t *testing.T) {
	for _, addr := range []string{"192.0.2.1:7400", "[2001:db8::1]:7400", "roam.example:7400"} {
		cfg := testConfig(t, addr)
		cfg.DialTimeout = 200 * time.Millisecond
		_, err := Dial(context.Background(), cfg)
		if !errors.Is(err, ErrPlaintext) {
			t.Fatalf("plaintext to %s: %v", addr, err)
		}
		cfg.AllowPlaintext = true
		if _, err := Dial(context.Background(), cfg); err == nil || errors.Is(err, ErrPlaintext) {
			t.Fatalf("plaintext to %s when allowed: %v", addr, err)
		}
	}
	cl := newFakeCluster(t, 1)
	for _, host := range []string{"127.0.0.1", "localhost"} {
		_, port, _ := net.SplitHostPort(cl.addr(0))
		dialT(t, testConfig(t, net.JoinHostPort(host, port)))
	}
}

// TestDial_TLSOffersALPNAndServerName: a client with a bare tls.Config
// offers TLS 1.3, ALPN roam/1 and the host it dialled as the server
// name, and verifies the server against the given CA.
func TestDial_TLSOffersALPNAndServerName(t *testing.T) {
	ca, err := pki.NewCA("test", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := pki.IssueNode(ca, "n1", []string{"localhost"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	hellos := make(chan *tls.ClientHelloInfo, 1)
	states := make(chan tls.ConnectionState, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		tc := tls.Server(c, &tls.Config{
			Certificates: []tls.Certificate{cert},
			NextProtos:   []string{ALPN},
			GetConfigForClient: func(h *tls.ClientHelloInfo) (*tls.Config, error) {
				hellos <- h
				return nil, nil
			},
		})
		if tc.Handshake() == nil {
			states <- tc.ConnectionState()
		}
	}()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	cfg := testConfig(t, net.JoinHostPort("localhost", port))
	cfg.TLS = &tls.Config{RootCAs: ca.Pool()}
	cfg.NoReconnect = true
	Dial(context.Background(), cfg) // the server says nothing after the handshake
	select {
	case h := <-hellos:
		if h.ServerName != "localhost" || len(h.SupportedProtos) != 1 || h.SupportedProtos[0] != ALPN {
			t.Fatalf("client hello: server name %q, ALPN %v", h.ServerName, h.SupportedProtos)
		}
		for _, v := range h.SupportedVersions {
			if v != tls.VersionTLS13 {
				t.Fatalf("offers TLS version %#x", v)
			}
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no client hello")
	}
	select {
	case st := <-states:
		if st.NegotiatedProtocol != ALPN || st.Version != tls.VersionTLS13 {
			t.Fatalf("negotiated %q, version %#x", st.NegotiatedProtocol, st.Version)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("handshake did not complete")
	}
	if cfg.TLS.ServerName != "" || cfg.TLS.NextProtos != nil {
		t.Fatal("Dial changed the caller's tls.Config")
	}
}
