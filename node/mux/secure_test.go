package mux

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"go.uber.org/goleak"

	"github.com/roamhq/roam/node/pki"
)

// attacker opens a connection to addr without the cluster's credentials
// and returns what to write on and read from.
type attacker func(t *testing.T, addr string) net.Conn

// attackers are the ways to reach the internal port from outside the
// cluster: no TLS at all, TLS without a certificate, a certificate of
// another cluster, a self-signed certificate that names a node. None of
// them checks the server, as an attacker would not.
func attackers() map[string]attacker {
	tlsDial := func(cert *tls.Certificate) attacker {
		return func(t *testing.T, addr string) net.Conn {
			cfg := &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13, NextProtos: []string{pki.InternalALPN}}
			if cert != nil {
				cfg.Certificates = []tls.Certificate{*cert}
			}
			c, err := tls.Dial("tcp", addr, cfg)
			if err != nil {
				// Refused during the handshake: as good as nothing
				// came back, but the test needs a connection; a
				// closed one reads as closed.
				t.Logf("handshake failed at once: %v", err)
				raw, derr := net.Dial("tcp", addr)
				if derr != nil {
					t.Fatal(derr)
				}
				raw.Close()
				return raw
			}
			return c
		}
	}
	foreignCA, _ := pki.DeriveCA(bytes.Repeat([]byte{9}, 32))
	foreign, _ := pki.IssueNode(foreignCA, "server", nil, time.Hour)
	return map[string]attacker{
		"plaintext": func(t *testing.T, addr string) net.Conn {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			return c
		},
		"tls without a certificate":     tlsDial(nil),
		"another cluster's certificate": tlsDial(&foreign),
		"self-signed certificate":       tlsDial(selfSigned("client")),
	}
}

// selfSigned makes a self-signed certificate that names node id.
func selfSigned(id string) *tls.Certificate {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	now := time.Now()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: id},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth},
		URIs:        []*url.URL{pki.NodeURI(id)}, IsCA: true, BasicConstraintsValid: true}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, priv)
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: priv}
}

// expectNothing reads c until the server closes it and fails if any
// application data came back. On a plaintext connection, TLS alert
// records are all that may arrive.
func expectNothing(t *testing.T, c net.Conn) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	got, err := io.ReadAll(c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("the server kept the connection open (read %d bytes)", len(got))
	}
	if _, ok := c.(*tls.Conn); ok {
		if len(got) > 0 {
			t.Fatalf("application data came back: %q", got)
		}
		return
	}
	for len(got) > 0 {
		// A TLS record: type, version (2), length (2), body. Only
		// alerts (21) are allowed.
		if len(got) < 5 || got[0] != 21 {
			t.Fatalf("plaintext peer got non-alert bytes back: %q", got)
		}
		n := int(got[3])<<8 | int(got[4])
		if len(got) < 5+n {
			t.Fatalf("truncated record: %q", got)
		}
		got = got[5+n:]
	}
}

// TestNoCertificate_NoHandlerRunsOnAnyKind is the attack of issue 11: a
// peer without the cluster's credentials writes a mux header and a frame
// for every kind (a partition's Raft stream, the gate, admin, heartbeats).
// It gets nothing back but a TLS alert or a close, and no handler or
// stream layer ever sees its connection. Then members get through on
// every kind, which shows the counters would have seen the attacks.
func TestNoCertificate_NoHandlerRunsOnAnyKind(t *testing.T) {
	defer goleak.VerifyNone(t)
	m := newMux(t)
	var served [256]atomic.Int32
	for _, k := range []byte{KindGate, KindAdmin, 'H'} {
		m.Handle(k, func(c net.Conn, _ uint16) {
			served[k].Add(1)
			c.Write([]byte("served"))
			c.Close()
		})
	}
	layer := m.Raft(7)
	accepted := make(chan net.Conn, 16)
	go func() {
		for {
			c, err := layer.Accept()
			if err != nil {
				return
			}
			served[KindRaft].Add(1)
			c.Write([]byte("served"))
			accepted <- c
		}
	}()
	addr := m.Addr().String()
	kinds := []struct {
		kind byte
		arg  uint16
	}{{KindRaft, 7}, {KindGate, 1}, {KindAdmin, 7}, {'H', 0}}
	attempts := 0
	for name, attack := range attackers() {
		for _, k := range kinds {
			t.Run(fmt.Sprintf("%s/%c", name, k.kind), func(t *testing.T) {
				c := attack(t, addr)
				defer c.Close()
				// The header, then something that looks like a frame.
				c.Write(append(AppendHeader(nil, k.kind, k.arg), 0, 0, 0, 6, 1, 0, 0, 0, 0, 0x80))
				expectNothing(t, c)
			})
			attempts++
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for m.Refused() < uint64(attempts) && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if got := m.Refused(); got != uint64(attempts) {
		t.Fatalf("refused %d of %d attempts", got, attempts)
	}
	for _, k := range kinds {
		if n := served[k.kind].Load(); n != 0 {
			t.Fatalf("kind %c served %d unauthenticated connections", k.kind, n)
		}
	}

	// A member gets through on every kind.
	for _, k := range kinds {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		c, err := Dial(ctx, testSec(t, "client"), addr, k.kind, k.arg)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 6)
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "served" {
			t.Fatalf("member on kind %c: %q, %v", k.kind, buf, err)
		}
		c.Close()
		if n := served[k.kind].Load(); n != 1 {
			t.Fatalf("kind %c served %d", k.kind, n)
		}
	}
	(<-accepted).Close()
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestPeerNodeID_BothSidesSeeTheCertificate(t *testing.T) {
	defer goleak.VerifyNone(t)
	m := newMux(t)
	seen := make(chan string, 1)
	m.Handle(KindGate, func(c net.Conn, _ uint16) {
		defer c.Close()
		id, ok := PeerNodeID(c)
		if !ok {
			id = "(unverified)"
		}
		seen <- id
		c.Write([]byte("x"))
	})
	c, err := Dial(context.Background(), testSec(t, "n42"), m.Addr().String(), KindGate, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if id := <-seen; id != "n42" {
		t.Fatalf("server sees %q", id)
	}
	if id, ok := PeerNodeID(c); !ok || id != "server" {
		t.Fatalf("client sees %q, %v", id, ok)
	}
	// The Raft layers' connections carry it too.
	l := m.Raft(2)
	d := newMuxSec(t, testSec(t, "n43"))
	out, err := d.Raft(2).Dial(raft.ServerAddress(m.Addr().String()), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	in := acceptOne(t, l)
	if id, ok := PeerNodeID(in); !ok || id != "n43" {
		t.Fatalf("raft layer sees %q, %v", id, ok)
	}
	if id, ok := PeerNodeID(out); !ok || id != "server" {
		t.Fatalf("raft dialer sees %q, %v", id, ok)
	}
	m.Close()
	d.Close()
}

// TestDial_RefusesAServerOfAnotherCluster: a node does not talk to a
// listener that cannot prove the cluster's CA (a spoofed address).
func TestDial_RefusesAServerOfAnotherCluster(t *testing.T) {
	defer goleak.VerifyNone(t)
	m := newMuxSec(t, testSec(t, "server", bytes.Repeat([]byte{9}, 32)))
	m.Handle(KindGate, func(c net.Conn, _ uint16) { c.Close() })
	_, err := Dial(context.Background(), testSec(t, "client"), m.Addr().String(), KindGate, 1)
	if !errors.Is(err, ErrUnauthenticated) || !errors.Is(err, pki.ErrUntrusted) {
		t.Fatalf("dial to another cluster: %v", err)
	}
	m.Close()
}

// TestSilentPeers_DoNotBlockAccepts: the handshake runs in each
// connection's goroutine, so peers that connect and say nothing do not
// hold up a member, even with a long header timeout.
func TestSilentPeers_DoNotBlockAccepts(t *testing.T) {
	defer goleak.VerifyNone(t)
	m := newMux(t, WithHeaderTimeout(time.Hour))
	m.Handle(KindGate, func(c net.Conn, _ uint16) {
		c.Write([]byte("x"))
		c.Close()
	})
	for range 8 {
		c, err := net.Dial("tcp", m.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := Dial(ctx, testSec(t, "client"), m.Addr().String(), KindGate, 1)
	if err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
		t.Fatalf("member not served while silent peers wait: %v", err)
	}
	c.Close()
	m.Close() // closes the silent peers' half-open handshakes too
}

func TestInsecurePlaintext_ServesWithoutProof(t *testing.T) {
	defer goleak.VerifyNone(t)
	m := newMuxSec(t, Security{InsecurePlaintext: true})
	if !m.Insecure() {
		t.Fatal("Insecure() = false")
	}
	got := make(chan bool, 1)
	m.Handle(KindGate, func(c net.Conn, _ uint16) {
		_, ok := PeerNodeID(c)
		got <- ok
		c.Close()
	})
	c, err := net.Dial("tcp", m.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write(AppendHeader(nil, KindGate, 1))
	if verified := <-got; verified {
		t.Fatal("a plaintext connection claims a verified peer")
	}
	m.Close()
}

func TestNew_NeedsExactlyOneSecurity(t *testing.T) {
	for name, sec := range map[string]Security{
		"none": {},
		"both": {Identity: testSec(t, "x").Identity, InsecurePlaintext: true},
	} {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		if m, err := New(ln, sec, nil); err == nil {
			m.Close()
			t.Errorf("%s: accepted", name)
		}
		if _, err := ln.Accept(); !errors.Is(err, net.ErrClosed) {
			t.Errorf("%s: listener left open", name)
		}
	}
}
