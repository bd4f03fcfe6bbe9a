package mux

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"go.uber.org/goleak"

	"github.com/roamhq/roam/internal/roamdproc"
	"github.com/roamhq/roam/node/pki"
)

// testLogger sends logs to t.Log.
func testLogger(t *testing.T) *slog.Logger {
	return roamdproc.TestLogger(t, slog.LevelDebug)
}

// testKey is the cluster key of the test muxes.
var testKey = bytes.Repeat([]byte{7}, 32)

// testSec returns the security of node id in the test cluster (derived
// from testKey), or of another cluster with another key.
func testSec(t testing.TB, id string, key ...[]byte) Security {
	t.Helper()
	k := testKey
	if len(key) > 0 {
		k = key[0]
	}
	ident, err := pki.Derived(k, id)
	if err != nil {
		t.Fatal(err)
	}
	return Security{Identity: ident}
}

// newMux starts node "server" of the test cluster on a random port.
func newMux(t *testing.T, opts ...Option) *Mux {
	t.Helper()
	return newMuxSec(t, testSec(t, "server"), opts...)
}

func newMuxSec(t *testing.T, sec Security, opts ...Option) *Mux {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m, err := New(ln, sec, testLogger(t), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

// dialAs opens an authenticated connection to the mux at addr as node id
// of the test cluster without writing a header.
func dialAs(t *testing.T, id, addr string) net.Conn {
	t.Helper()
	raw, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c, err := testSec(t, id).clientHandshake(context.Background(), raw)
	if err != nil {
		raw.Close()
		t.Fatal(err)
	}
	return c
}

// acceptOne accepts a connection on l, failing the test after a timeout.
func acceptOne(t *testing.T, l *RaftLayer) net.Conn {
	t.Helper()
	type res struct {
		c   net.Conn
		err error
	}
	ch := make(chan res, 1)
	go func() {
		c, err := l.Accept()
		ch <- res{c, err}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			t.Fatalf("accept on partition %d: %v", l.pid, r.err)
		}
		return r.c
	case <-time.After(5 * time.Second):
		l.Close() // unblock the goroutine
		t.Fatalf("accept on partition %d timed out", l.pid)
		return nil
	}
}

// waitClosed checks that the server side closes c: a read returns EOF or
// a reset rather than blocking.
func waitClosed(t *testing.T, c net.Conn) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := c.Read(make([]byte, 1))
	var ne net.Error
	if err == nil || (errors.As(err, &ne) && ne.Timeout()) {
		t.Fatalf("connection was not closed by the server: %v", err)
	}
}

func TestRaftLayers_TwoPartitionsShareOnePort(t *testing.T) {
	defer goleak.VerifyNone(t)
	m := newMux(t)
	l1, l2 := m.Raft(1), m.Raft(2)
	if m.Raft(1) != l1 {
		t.Fatal("Raft(1) returned a new layer while the first is open")
	}
	addr := raft.ServerAddress(m.Addr().String())
	if got := l1.Addr().String(); got != string(addr) {
		t.Fatalf("layer Addr = %s, want %s", got, addr)
	}

	const perPartition = 5
	var wg sync.WaitGroup
	for _, l := range []*RaftLayer{l1, l2} {
		for i := range perPartition {
			wg.Add(1)
			go func() {
				defer wg.Done()
				c, err := l.Dial(addr, time.Second)
				if err != nil {
					t.Errorf("dial: %v", err)
					return
				}
				fmt.Fprintf(c, "p%d-%d\n", l.pid, i)
			}()
		}
	}
	for _, l := range []*RaftLayer{l1, l2} {
		for range perPartition {
			c := acceptOne(t, l)
			buf := make([]byte, 5)
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, err := io.ReadFull(c, buf); err != nil {
				t.Fatal(err)
			}
			if want := fmt.Sprintf("p%d-", l.pid); string(buf[:3]) != want {
				t.Fatalf("partition %d accepted a connection for %q", l.pid, buf)
			}
		}
	}
	wg.Wait()
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestBadHeaders_AreDroppedAndMuxKeepsServing(t *testing.T) {
	defer goleak.VerifyNone(t)
	m := newMux(t, WithHeaderTimeout(500*time.Millisecond))
	l := m.Raft(7)
	addr := m.Addr().String()

	bad := map[string][]byte{
		"unknown kind":      AppendHeader(nil, 'Z', 7),
		"reserved kind":     AppendHeader(nil, KindGate, 7),
		"unknown partition": AppendHeader(nil, KindRaft, 8),
		"short header":      {KindRaft, 0},
		"nothing":           nil,
	}
	for name, hdr := range bad {
		t.Run(name, func(t *testing.T) {
			c := dialAs(t, "client", addr)
			defer c.Close()
			if _, err := c.Write(hdr); err != nil {
				t.Fatal(err)
			}
			waitClosed(t, c)
		})
	}
	// A byte-at-a-time header is fine.
	c := dialAs(t, "client", addr)
	defer c.Close()
	for _, b := range AppendHeader(nil, KindRaft, 7) {
		c.Write([]byte{b})
		time.Sleep(10 * time.Millisecond)
	}
	c.Write([]byte("ok"))
	got := acceptOne(t, l)
	buf := make([]byte, 2)
	got.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(got, buf); err != nil || string(buf) != "ok" {
		t.Fatalf("read %q, %v", buf, err)
	}
	m.Close()
	waitClosed(t, c) // closing the mux closes accepted connections
}

func TestHandle_GetsKindArgAndConn(t *testing.T) {
	defer goleak.VerifyNone(t)
	m := newMux(t)
	got := make(chan uint16, 1)
	m.Handle(KindGate, func(c net.Conn, arg uint16) {
		defer c.Close()
		got <- arg
		io.Copy(c, c) // echo until closed
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := Dial(ctx, testSec(t, "client"), m.Addr().String(), KindGate, 0xBEEF)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if arg := <-got; arg != 0xBEEF {
		t.Fatalf("arg = %#x", arg)
	}
	c.Write([]byte("ping"))
	buf := make([]byte, 4)
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("echo %q, %v", buf, err)
	}
	// Close must close the handler's connection and wait for it.
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	waitClosed(t, c)
}

func TestHandle_PanicsOnRaftOrDuplicate(t *testing.T) {
	defer goleak.VerifyNone(t)
	m := newMux(t)
	mustPanic := func(name string, f func()) {
		t.Helper()
		defer func() {
			if recover() == nil {
				t.Errorf("%s: no panic", name)
			}
		}()
		f()
	}
	fn := func(c net.Conn, _ uint16) { c.Close() }
	mustPanic("raft", func() { m.Handle(KindRaft, fn) })
	mustPanic("nil", func() { m.Handle(KindAdmin, nil) })
	m.Handle(KindAdmin, fn)
	mustPanic("duplicate", func() { m.Handle(KindAdmin, fn) })
	m.Close()
}

func TestClose_UnblocksEveryAccept(t *testing.T) {
	defer goleak.VerifyNone(t)
	m := newMux(t)
	const n = 4
	errs := make(chan error, n)
	for pid := range uint16(n) {
		l := m.Raft(pid)
		go func() {
			_, err := l.Accept()
			errs <- err
		}()
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	for range n {
		select {
		case err := <-errs:
			if !errors.Is(err, net.ErrClosed) || !errors.Is(err, ErrClosed) {
				t.Fatalf("Accept after Close: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Accept still blocked after Close")
		}
	}
	l := m.Raft(9) // after Close: already closed
	if _, err := l.Accept(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Accept on layer made after Close: %v", err)
	}
	if _, err := l.Dial(raft.ServerAddress(m.Addr().String()), time.Second); !errors.Is(err, ErrClosed) {
		t.Fatalf("Dial on layer made after Close: %v", err)
	}
}

func TestRaftLayerClose_ClosesItsConnsAndReleasesPartition(t *testing.T) {
	defer goleak.VerifyNone(t)
	m := newMux(t)
	addr := raft.ServerAddress(m.Addr().String())
	l := m.Raft(3)
	out, err := l.Dial(addr, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	in := acceptOne(t, l)
	// Raw client connections see the close of both ends of the layer.
	raw, err := Dial(context.Background(), testSec(t, "client"), string(addr), KindRaft, 3)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	acceptOne(t, l)

	l.Close()
	l.Close()
	waitClosed(t, raw)
	if _, err := out.Write([]byte("x")); err == nil {
		// the dialed conn was closed locally: writes fail at once
		t.Fatal("write on a dialed conn after layer Close succeeded")
	}
	if _, err := in.Read(make([]byte, 1)); err == nil {
		t.Fatal("read on an accepted conn after layer Close succeeded")
	}
	// The partition is free again: a new dial is dropped until a new
	// layer is opened.
	c, err := Dial(context.Background(), testSec(t, "client"), string(addr), KindRaft, 3)
	if err != nil {
		t.Fatal(err)
	}
	waitClosed(t, c)
	c.Close()
	l2 := m.Raft(3)
	if l2 == l {
		t.Fatal("Raft(3) returned the closed layer")
	}
	if _, err := l2.Dial(addr, time.Second); err != nil {
		t.Fatal(err)
	}
	acceptOne(t, l2)
	m.Close()
}

// TestRaftTransport_OverMux runs real raft NetworkTransport RPCs between two
// muxes, the way partitions of two nodes talk.
func TestRaftTransport_OverMux(t *testing.T) {
	defer goleak.VerifyNone(t)
	ma, mb := newMux(t), newMux(t)
	newTrans := func(m *Mux, pid uint16) *raft.NetworkTransport {
		return raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
			Stream:  m.Raft(pid),
			MaxPool: 2,
			Timeout: 5 * time.Second,
		})
	}
	for _, pid := range []uint16{0, 1} {
		ta, tb := newTrans(ma, pid), newTrans(mb, pid)
		if ta.LocalAddr() != raft.ServerAddress(ma.Addr().String()) {
			t.Fatalf("LocalAddr = %s", ta.LocalAddr())
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			for range 3 {
				rpc := <-tb.Consumer()
				req := rpc.Command.(*raft.AppendEntriesRequest)
				rpc.Respond(&raft.AppendEntriesResponse{Term: req.Term + uint64(pid), Success: true}, nil)
			}
		}()
		for i := range 3 {
			var resp raft.AppendEntriesResponse
			req := raft.AppendEntriesRequest{Term: uint64(10 + i)}
			if err := ta.AppendEntries("b", tb.LocalAddr(), &req, &resp); err != nil {
				t.Fatal(err)
			}
			if !resp.Success || resp.Term != req.Term+uint64(pid) {
				t.Fatalf("partition %d: resp %+v", pid, resp)
			}
		}
		<-done
		ta.Close()
		tb.Close()
	}
	ma.Close()
	mb.Close()
}
