package mux

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/roamhq/roam/node/pki"
)

// How the fuzzer's bytes reach the internal port.
const (
	muxPlaintext  = iota // onto a bare socket
	muxMember            // after a handshake with a member certificate: header and what follows
	muxNoCert            // after a client-side handshake without a certificate
	muxForeign           // after a handshake with another cluster's certificate
	muxRecordJunk        // onto the socket after a member's handshake, under the TLS record layer
	muxModes
)

// muxServed is what a handler (or the Raft layer's Accept) saw of one
// connection.
type muxServed struct {
	kind     byte
	arg      uint16
	peer     string
	verified bool
	data     []byte
}

// fuzzMux is one mux of the test cluster for the whole fuzzing process,
// with handlers on three kinds and a Raft layer for partition 7 that
// read their connection to the end and report it.
type fuzzMux struct {
	m      *Mux
	addr   string
	member Security
	// Client configurations of the attackers.
	noCert, foreign *tls.Config
	served          chan muxServed
}

func newFuzzMux(f *testing.F) *fuzzMux {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		f.Fatal(err)
	}
	m, err := New(ln, testSec(f, "server"), slog.New(slog.DiscardHandler))
	if err != nil {
		f.Fatal(err)
	}
	fm := &fuzzMux{m: m, addr: m.Addr().String(), member: testSec(f, "client"), served: make(chan muxServed, 16)}
	report := func(kind byte, arg uint16, c net.Conn) {
		c.SetReadDeadline(time.Now().Add(20 * time.Second))
		data, _ := io.ReadAll(c)
		id, ok := PeerNodeID(c)
		fm.served <- muxServed{kind: kind, arg: arg, peer: id, verified: ok, data: data}
		c.Close()
	}
	for _, k := range []byte{KindGate, KindAdmin, 'H'} {
		m.Handle(k, func(c net.Conn, arg uint16) { report(k, arg, c) })
	}
	layer := m.Raft(7)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := layer.Accept()
			if err != nil {
				return
			}
			report(KindRaft, 7, c)
		}
	}()
	f.Cleanup(func() {
		m.Close()
		<-done
	})
	foreignKey := bytes.Repeat([]byte{9}, 32)
	fm.foreign = testSec(f, "client", foreignKey).Identity.ClientTLS()
	fm.noCert = &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13, NextProtos: []string{pki.InternalALPN}}
	return fm
}

// want is what the mux must hand over for data written by a member: the
// connection, to the handler of its header's kind, with the rest of the
// bytes unchanged; or nothing (a short header, an unknown kind, a
// partition with no layer).
func (fm *fuzzMux) want(data []byte) *muxServed {
	if len(data) < HeaderLen {
		return nil
	}
	kind, arg := data[0], binary.BigEndian.Uint16(data[1:])
	switch {
	case kind == KindRaft && arg != 7:
		return nil
	case kind != KindRaft && kind != KindGate && kind != KindAdmin && kind != 'H':
		return nil
	}
	return &muxServed{kind: kind, arg: arg, peer: "client", verified: true, data: data[HeaderLen:]}
}

// run sends data, in two writes cut at cut, the way mode says, and checks
// that only a member reached a handler, with exactly what it sent.
func (fm *fuzzMux) run(t *testing.T, mode int, data []byte, cut int) {
	raw, err := net.DialTimeout("tcp", fm.addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	raw.SetDeadline(time.Now().Add(20 * time.Second))
	var c net.Conn = raw
	var tc *tls.Conn
	switch mode {
	case muxMember, muxRecordJunk:
		tc = tls.Client(raw, fm.member.Identity.ClientTLS())
	case muxNoCert:
		tc = tls.Client(raw, fm.noCert)
	case muxForeign:
		tc = tls.Client(raw, fm.foreign)
	}
	if tc != nil {
		err := tc.Handshake()
		if err != nil && (mode == muxMember || mode == muxRecordJunk) {
			t.Fatalf("a member's handshake failed: %v", err)
		}
		if err == nil && mode != muxRecordJunk {
			c = tc // an attacker whose handshake the server refuses later, in TLS 1.3, writes on anyway
		}
	}
	at := cut % (len(data) + 1)
	if _, err := c.Write(data[:at]); err == nil {
		c.Write(data[at:])
	}
	if c == net.Conn(tc) {
		tc.CloseWrite()
	}
	raw.(*net.TCPConn).CloseWrite()

	// The server closes the connection once it is done with it (a
	// handler has read it to the end, or it was refused), and nothing
	// comes back but TLS records: handlers here write nothing.
	back, err := io.ReadAll(c)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("mode %d: the mux kept the connection open (%d bytes back)", mode, len(back))
	}
	if c == net.Conn(tc) && len(back) > 0 {
		t.Fatalf("mode %d: application data came back: %q", mode, back)
	}

	var want *muxServed
	if mode == muxMember {
		want = fm.want(data)
	}
	select {
	case got := <-fm.served:
		if want == nil {
			t.Fatalf("mode %d: a connection reached kind %q (peer %q, verified %v) with % x", mode, got.kind, got.peer, got.verified, data)
		}
		if got.kind != want.kind || got.arg != want.arg || got.peer != want.peer || !got.verified || !bytes.Equal(got.data, want.data) {
			t.Fatalf("served %+v, want %+v", got, *want)
		}
	default:
		if want != nil {
			t.Fatalf("a member's connection for kind %q arg %d was not served", want.kind, want.arg)
		}
	}
	fm.stillServes(t)
}

// stillServes checks that a member is served on a fresh connection.
func (fm *fuzzMux) stillServes(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, err := Dial(ctx, fm.member, fm.addr, KindAdmin, 3)
	if err != nil {
		t.Fatalf("a member cannot connect any more: %v", err)
	}
	c.Write([]byte("ok"))
	c.(*peerConn).Conn.(*tls.Conn).CloseWrite()
	select {
	case got := <-fm.served:
		if got.kind != KindAdmin || got.arg != 3 || string(got.data) != "ok" || !got.verified {
			t.Fatalf("a member's fresh connection served as %+v", got)
		}
	case <-ctx.Done():
		t.Fatal("a member's fresh connection was not served")
	}
	c.Close()
}

// FuzzMux: arbitrary bytes as the first bytes of an internal-port
// connection, from a bare socket, after a member's TLS handshake (the
// 3-byte header and what follows), after a handshake without a
// certificate or with another cluster's, and as TLS records after a
// member's handshake. Only the member's connection reaches a handler, the
// one its header names, with the peer's verified node id and exactly the
// bytes that followed the header; the mux never panics and serves a
// member on a fresh connection afterwards.
func FuzzMux(f *testing.F) {
	fm := newFuzzMux(f)
	frame := []byte{0, 0, 0, 6, 1, 0, 0, 0, 0, 0x80}
	for _, s := range [][]byte{
		append(AppendHeader(nil, KindGate, 1), frame...),
		append(AppendHeader(nil, KindAdmin, 7), frame...),
		append(AppendHeader(nil, KindRaft, 7), frame...),
		AppendHeader(nil, KindRaft, 8),
		AppendHeader(nil, 'H', 0),
		AppendHeader(nil, 'Z', 0),
		{KindGate, 0},
		{0x16, 0x03, 0x01, 0x00, 0x05, 0x01, 0x00, 0x00, 0x01, 0x00}, // a stunted ClientHello
		{0x17, 0x03, 0x03, 0x00, 0x10, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16},
		[]byte("GET / HTTP/1.1\r\n\r\n"),
		{},
	} {
		for m := 0; m < muxModes; m++ {
			f.Add(uint8(m), s, uint16(len(s)/2))
		}
	}
	f.Fuzz(func(t *testing.T, mode uint8, data []byte, cut uint16) {
		fm.run(t, int(mode)%muxModes, data, int(cut))
	})
}
