package client

import (
	"context"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// freezer forwards TCP connections to target until frozen; a frozen
// freezer keeps the connections open and swallows everything both ways,
// as a SIGSTOPped or cut-off node would.
type freezer struct {
	ln     net.Listener
	target string
	frozen atomic.Bool
	mu     sync.Mutex
	conns  []net.Conn
}

func newFreezer(t *testing.T, target string) *freezer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &freezer{ln: ln, target: target}
	t.Cleanup(func() {
		ln.Close()
		f.mu.Lock()
		for _, c := range f.conns {
			c.Close()
		}
		f.mu.Unlock()
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			f.mu.Lock()
			f.conns = append(f.conns, c, u)
			f.mu.Unlock()
			go f.pipe(u, c)
			go f.pipe(c, u)
		}
	}()
	return f
}

func (f *freezer) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && !f.frozen.Load() {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			if err != io.EOF {
				dst.Close()
			}
			return
		}
	}
}

// TestSilentNodeIsLeftForAnother: a request that gets no reply while the
// server sends nothing at all moves the session to another node, so the
// send's retry succeeds there instead of waiting on the frozen one.
func TestSilentNodeIsLeftForAnother(t *testing.T) {
	n := startNode(t)
	setup := e2eClient(t, n, "setup")
	ctx := ctxT(t)
	for _, u := range []string{"frida", "fred"} {
		if err := setup.Register(ctx, u, "pw"); err != nil {
			t.Fatal(err)
		}
	}
	fz := newFreezer(t, n.ClientAddr())
	cfg := testConfig(t, fz.ln.Addr().String(), n.ClientAddr())
	cfg.RequestTimeout = 500 * time.Millisecond
	cfg.MaxSendAttempts = 4
	a := dialT(t, cfg)
	if err := a.Login(ctx, "frida", "pw"); err != nil {
		t.Fatal(err)
	}
	if a.Addr() != fz.ln.Addr().String() {
		t.Fatalf("logged in through %s, want the freezer first", a.Addr())
	}
	bcfg := testConfig(t, n.ClientAddr())
	bcfg.Device = "fred-phone"
	b := dialT(t, bcfg)
	if err := b.Login(ctx, "fred", "pw"); err != nil {
		t.Fatal(err)
	}
	if err := a.FriendRequest(ctx, "fred"); err != nil {
		t.Fatal(err)
	}
	if err := b.FriendAccept(ctx, "frida"); err != nil {
		t.Fatal(err)
	}
	fz.frozen.Store(true)
	ack, err := a.Send(ctx, "fred", []byte("are you there?"))
	if err != nil {
		t.Fatalf("send with the first node frozen: %v", err)
	}
	if a.Addr() != n.ClientAddr() {
		t.Fatalf("the session is on %s, want it moved to %s", a.Addr(), n.ClientAddr())
	}
	if ack.Seq != 1 {
		t.Fatalf("ack %+v, want seq 1", ack)
	}
}

// failoverBound is how soon a send must complete after the client's node
// froze: generous, but well below the 10 s RequestTimeout that the send
// waited out before the liveness probe.
const failoverBound = 6 * time.Second

// TestFailover_FrozenNodeMovesWithinProbe is the regression test for
// issue 12.6: with the default RequestTimeout (10 s), a client whose node
// stops answering (frozen, cut off) must move its session to another
// node on its own liveness probe, and the send complete there, instead of
// waiting out the request timeout.
func TestFailover_FrozenNodeMovesWithinProbe(t *testing.T) {
	n := startNode(t)
	setup := e2eClient(t, n, "setup")
	ctx := ctxT(t)
	for _, u := range []string{"frank", "fiona"} {
		if err := setup.Register(ctx, u, "pw"); err != nil {
			t.Fatal(err)
		}
	}
	fz := newFreezer(t, n.ClientAddr())
	cfg := testConfig(t, fz.ln.Addr().String(), n.ClientAddr())
	cfg.RequestTimeout = DefaultConfig().RequestTimeout
	a := dialT(t, cfg)
	if err := a.Login(ctx, "frank", "pw"); err != nil {
		t.Fatal(err)
	}
	if a.Addr() != fz.ln.Addr().String() {
		t.Fatalf("logged in through %s, want the freezer first", a.Addr())
	}
	bcfg := testConfig(t, n.ClientAddr())
	bcfg.Device = "fiona-phone"
	b := dialT(t, bcfg)
	if err := b.Login(ctx, "fiona", "pw"); err != nil {
		t.Fatal(err)
	}
	if err := a.FriendRequest(ctx, "fiona"); err != nil {
		t.Fatal(err)
	}
	if err := b.FriendAccept(ctx, "frank"); err != nil {
		t.Fatal(err)
	}
	fz.frozen.Store(true)
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	ack, err := a.Send(sctx, "fiona", []byte("still there?"))
	took := time.Since(start)
	if err != nil {
		t.Fatalf("send with the node frozen: %v (after %v)", err, took)
	}
	t.Logf("the send completed %v after the freeze, on %s", took.Round(time.Millisecond), a.Addr())
	if a.Addr() != n.ClientAddr() {
		t.Fatalf("the session is on %s, want it moved to %s", a.Addr(), n.ClientAddr())
	}
	if took > failoverBound {
		t.Fatalf("the send took %v, want the session moved within %v (RequestTimeout %v)", took, failoverBound, cfg.RequestTimeout)
	}
	if ack.Seq != 1 || ack.Dup {
		t.Fatalf("ack %+v, want seq 1, not a duplicate", ack)
	}
}
