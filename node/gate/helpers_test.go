package gate

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/roamhq/roam/hlr"
	"github.com/roamhq/roam/node/mux"
	"github.com/roamhq/roam/node/pki"
	"github.com/roamhq/roam/vlr"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// tWriter sends log lines to t.Log until the test ends.
type tWriter struct {
	t    testing.TB
	mu   *sync.Mutex
	done *bool
}

func (w tWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !*w.done {
		w.t.Log(string(bytes.TrimRight(p, "\n")))
	}
	return len(p), nil
}

func testLogger(t testing.TB, level slog.Level) *slog.Logger {
	mu, done := new(sync.Mutex), new(bool)
	t.Cleanup(func() { mu.Lock(); *done = true; mu.Unlock() })
	return slog.New(slog.NewTextHandler(tWriter{t, mu, done}, &slog.HandlerOptions{Level: level}))
}

// item is one one-way call received by a fakeHandler.
type item struct {
	Kind    string
	User    string
	Locs    []hlr.Location
	Msg     *hlr.Message
	Loc     hlr.Location
	Reason  string
	Event   string
	Peer    string
	From    string
	Ups     []vlr.PresenceUpdate
	Full    bool
	Notices []vlr.Notice
	Acks    []vlr.DeliveryAck
}

// fakeHandler stands in for the node. exec and query default to echoing
// the command.
type fakeHandler struct {
	exec  func(ctx context.Context, pid uint16, cmd hlr.Cmd) (hlr.Result, error)
	query func(ctx context.Context, pid uint16, q hlr.Query) (*hlr.Answer, error)

	// discard counts one-way items in n instead of recording them.
	discard bool
	n       atomic.Int64

	mu    sync.Mutex
	items []item
}

func (h *fakeHandler) Exec(ctx context.Context, pid uint16, cmd hlr.Cmd) (hlr.Result, error) {
	if h.exec != nil {
		return h.exec(ctx, pid, cmd)
	}
	return hlr.Result{Status: hlr.StatusOK, Seq: cmd.Seq, MsgID: uint64(pid)}, nil
}

func (h *fakeHandler) Query(ctx context.Context, pid uint16, q hlr.Query) (*hlr.Answer, error) {
	if h.query != nil {
		return h.query(ctx, pid, q)
	}
	return &hlr.Answer{Cursor: q.After + uint64(pid)}, nil
}

func (h *fakeHandler) add(it item) {
	if h.discard {
		h.n.Add(1)
		return
	}
	h.mu.Lock()
	h.items = append(h.items, it)
	h.mu.Unlock()
}

func (h *fakeHandler) Deliver(from, user string, locs []hlr.Location, m *hlr.Message) {
	h.add(item{Kind: "deliver", From: from, User: user, Locs: locs, Msg: m})
}

func (h *fakeHandler) Cancel(user string, loc hlr.Location, reason string) {
	h.add(item{Kind: "cancel", User: user, Loc: loc, Reason: reason})
}

func (h *fakeHandler) Notify(user string, locs []hlr.Location, event, peer string) {
	h.add(item{Kind: "notify", User: user, Locs: locs, Event: event, Peer: peer})
}

func (h *fakeHandler) Presence(from string, ups []vlr.PresenceUpdate, full bool) {
	h.add(item{Kind: "presence", From: from, Ups: ups, Full: full})
}

func (h *fakeHandler) Notice(from string, ns []vlr.Notice) {
	h.add(item{Kind: "notice", From: from, Notices: ns})
}

func (h *fakeHandler) Ack(from string, acks []vlr.DeliveryAck) {
	h.add(item{Kind: "ack", From: from, Acks: acks})
}

func (h *fakeHandler) received() []item {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]item(nil), h.items...)
}

func (h *fakeHandler) count() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.items)
}

// testNode is a mux on real loopback TCP with a gate on it.
type testNode struct {
	id   string
	addr string
	mux  *mux.Mux
	gate kindGate
	h    *fakeHandler
}

// startNode starts a node listening on addr ("" picks a port). mod may
// adjust the gate's config.
func startNode(t testing.TB, id, addr string, h *fakeHandler, mod func(*Config)) *testNode {
	t.Helper()
	return startNodeWith(t, id, addr, h, mod, nil)
}

// startNodeWith is startNode with more kinds: extra registers them before
// the gate starts.
func startNodeWith(t testing.TB, id, addr string, h *fakeHandler, mod func(*Config), extra func(*Gate)) *testNode {
	t.Helper()
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	var ln net.Listener
	var err error
	for deadline := time.Now().Add(5 * time.Second); ; {
		ln, err = net.Listen("tcp", addr)
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond) // the old listener of a restarted node may linger
	}
	if err != nil {
		t.Fatal(err)
	}
	logger := testLogger(t, slog.LevelInfo)
	m, err := mux.New(ln, testSec(t, id), logger)
	if err != nil {
		t.Fatal(err)
	}
	if h == nil {
		h = &fakeHandler{}
	}
	cfg := DefaultConfig()
	cfg.NodeID = id
	cfg.Mux = m
	cfg.Logger = logger
	if mod != nil {
		mod(&cfg)
	}
	g, err := New(cfg)
	if err != nil {
		m.Close()
		t.Fatal(err)
	}
	registerTestKinds(g, h)
	if extra != nil {
		extra(g)
	}
	g.Start()
	n := &testNode{id: id, addr: m.Addr().String(), mux: m, gate: kindGate{g}, h: h}
	t.Cleanup(n.stop)
	return n
}

func (n *testNode) stop() {
	n.gate.Close()
	n.mux.Close()
}

// waitFor polls cond until it holds, failing the test after d.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// testKey is the cluster key of the test nodes.
var testKey = bytes.Repeat([]byte{7}, 32)

// testSec is the internal-port security of node id in the test cluster:
// mutual TLS with a certificate derived from testKey.
func testSec(t testing.TB, id string) mux.Security {
	t.Helper()
	ident, err := pki.Derived(testKey, id)
	if err != nil {
		t.Fatal(err)
	}
	return mux.Security{Identity: ident}
}

// faultDialer records the connections it opens so tests can break them.
// It dials as node "a" of the test cluster.
type faultDialer struct {
	mu    sync.Mutex
	conns []net.Conn
	block bool // dial blocks until its context ends
	sec   mux.Security
}

func (d *faultDialer) dial(ctx context.Context, addr string) (net.Conn, error) {
	d.mu.Lock()
	block := d.block
	d.mu.Unlock()
	if block {
		<-ctx.Done()
		return nil, fmt.Errorf("blackholed: %w", ctx.Err())
	}
	if d.sec.Identity == nil {
		id, err := pki.Derived(testKey, "a")
		if err != nil {
			return nil, err
		}
		d.mu.Lock()
		d.sec = mux.Security{Identity: id}
		d.mu.Unlock()
	}
	c, err := mux.Dial(ctx, d.sec, addr, mux.KindGate, protoVersion)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	d.conns = append(d.conns, c)
	d.mu.Unlock()
	return c, nil
}

func (d *faultDialer) breakAll() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, c := range d.conns {
		c.Close()
	}
}
