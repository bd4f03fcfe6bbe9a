package raftnet

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"go.uber.org/goleak"

	"github.com/roamhq/roam/node/mux"
	"github.com/roamhq/roam/node/pki"
)

var (
	keyA = bytes.Repeat([]byte{0xA}, 32)
	keyB = bytes.Repeat([]byte{0xB}, 32) // another cluster's
)

// testNode is a mux on loopback with mutual TLS and a Net behind it.
type testNode struct {
	id    string
	m     *mux.Mux
	n     *Net
	addr  raft.ServerAddress
	conns atomic.Int64 // RPC streams served
}

func startNode(t *testing.T, id string, key []byte, mod func(*Config)) *testNode {
	t.Helper()
	ident, err := pki.Derived(key, id)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m, err := mux.New(ln, mux.Security{Identity: ident}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tn := &testNode{id: id, m: m, addr: raft.ServerAddress(ln.Addr().String())}
	cfg := DefaultConfig()
	cfg.LocalID, cfg.LocalAddr = id, ln.Addr().String()
	cfg.Dial = func(ctx context.Context, addr string, stream uint16) (net.Conn, error) {
		return m.Dial(ctx, addr, mux.KindRaftNet, stream)
	}
	cfg.Identify = mux.PeerNodeID
	cfg.Timeout, cfg.HeartbeatTimeout = 5*time.Second, time.Second
	if mod != nil {
		mod(&cfg)
	}
	if tn.n, err = New(cfg); err != nil {
		t.Fatal(err)
	}
	m.Handle(mux.KindRaftNet, func(c net.Conn, stream uint16) {
		if stream == StreamRPC {
			tn.conns.Add(1)
		}
		tn.n.Serve(c, stream)
	})
	t.Cleanup(tn.stop)
	return tn
}

func (tn *testNode) stop() {
	tn.n.Close()
	tn.m.Close()
}

func (tn *testNode) trans(t *testing.T, pid uint16) *Transport {
	t.Helper()
	tr, err := tn.n.Transport(pid)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tr.Close() })
	return tr
}

func hdr(id string) raft.RPCHeader {
	return raft.RPCHeader{ProtocolVersion: raft.ProtocolVersionMax, ID: []byte(id), Addr: []byte(id + "-addr")}
}

// serve answers every RPC of tr with fn until the test ends.
func serve(t *testing.T, tr *Transport, fn func(raft.RPC)) {
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case rpc := <-tr.Consumer():
				fn(rpc)
			case <-stop:
				return
			}
		}
	}()
	t.Cleanup(func() { close(stop); wg.Wait() })
}

func TestAppendEntries_RoundTripsEveryField(t *testing.T) {
	a, b := startNode(t, "a", keyA, nil), startNode(t, "b", keyA, nil)
	ta, tb := a.trans(t, 7), b.trans(t, 7)
	at := time.Unix(0, time.Now().UnixNano())
	req := &raft.AppendEntriesRequest{
		RPCHeader: hdr("a"), Term: 9, Leader: []byte("a-addr"), PrevLogEntry: 41, PrevLogTerm: 8, LeaderCommitIndex: 40,
		Entries: []*raft.Log{
			{Index: 42, Term: 9, Type: raft.LogCommand, Data: []byte("hello"), Extensions: []byte("ext"), AppendedAt: at},
			{Index: 43, Term: 9, Type: raft.LogNoop},
		},
	}
	got := make(chan *raft.AppendEntriesRequest, 1)
	serve(t, tb, func(rpc raft.RPC) {
		got <- rpc.Command.(*raft.AppendEntriesRequest)
		rpc.Respond(&raft.AppendEntriesResponse{RPCHeader: hdr("b"), Term: 9, LastLog: 43, Success: true, NoRetryBackoff: true}, nil)
	})
	var resp raft.AppendEntriesResponse
	if err := ta.AppendEntries("b", b.addr, req, &resp); err != nil {
		t.Fatal(err)
	}
	if want := (raft.AppendEntriesResponse{RPCHeader: hdr("b"), Term: 9, LastLog: 43, Success: true, NoRetryBackoff: true}); fmt.Sprint(resp) != fmt.Sprint(want) {
		t.Fatalf("response %+v, want %+v", resp, want)
	}
	r := <-got
	if fmt.Sprintf("%+v", r.RPCHeader) != fmt.Sprintf("%+v", req.RPCHeader) || r.Term != 9 || string(r.Leader) != "a-addr" ||
		r.PrevLogEntry != 41 || r.PrevLogTerm != 8 || r.LeaderCommitIndex != 40 || len(r.Entries) != 2 {
		t.Fatalf("request %+v", r)
	}
	e := r.Entries[0]
	if e.Index != 42 || e.Term != 9 || e.Type != raft.LogCommand || string(e.Data) != "hello" || string(e.Extensions) != "ext" || !e.AppendedAt.Equal(at) {
		t.Fatalf("entry %+v", e)
	}
	if e := r.Entries[1]; e.Index != 43 || e.Type != raft.LogNoop || e.Data != nil || !e.AppendedAt.IsZero() {
		t.Fatalf("entry %+v", e)
	}
}

func TestVotesAndTimeoutNow_RoundTrip(t *testing.T) {
	a, b := startNode(t, "a", keyA, nil), startNode(t, "b", keyA, nil)
	ta, tb := a.trans(t, 1), b.trans(t, 1)
	serve(t, tb, func(rpc raft.RPC) {
		switch r := rpc.Command.(type) {
		case *raft.RequestVoteRequest:
			rpc.Respond(&raft.RequestVoteResponse{RPCHeader: hdr("b"), Term: r.Term, Granted: r.LeadershipTransfer}, nil)
		case *raft.RequestPreVoteRequest:
			rpc.Respond(&raft.RequestPreVoteResponse{RPCHeader: hdr("b"), Term: r.Term + 1, Granted: true}, nil)
		case *raft.TimeoutNowRequest:
			rpc.Respond(&raft.TimeoutNowResponse{RPCHeader: hdr("b")}, errors.New("not now"))
		}
	})
	var vr raft.RequestVoteResponse
	if err := ta.RequestVote("b", b.addr, &raft.RequestVoteRequest{RPCHeader: hdr("a"), Term: 5, LastLogIndex: 3, LeadershipTransfer: true}, &vr); err != nil {
		t.Fatal(err)
	}
	if vr.Term != 5 || !vr.Granted || string(vr.ID) != "b" {
		t.Fatalf("vote %+v", vr)
	}
	var pr raft.RequestPreVoteResponse
	if err := ta.RequestPreVote("b", b.addr, &raft.RequestPreVoteRequest{RPCHeader: hdr("a"), Term: 5}, &pr); err != nil {
		t.Fatal(err)
	}
	if pr.Term != 6 || !pr.Granted {
		t.Fatalf("pre-vote %+v", pr)
	}
	var tr raft.TimeoutNowResponse
	if err := ta.TimeoutNow("b", b.addr, &raft.TimeoutNowRequest{RPCHeader: hdr("a")}, &tr); err == nil || err.Error() != "not now" {
		t.Fatalf("TimeoutNow: %v", err)
	}
	if string(tr.ID) != "b" {
		t.Fatalf("TimeoutNow response %+v", tr)
	}
	// A partition the peer does not have is answered with an error.
	tx := a.trans(t, 2)
	if err := tx.RequestVote("b", b.addr, &raft.RequestVoteRequest{RPCHeader: hdr("a"), Term: 5}, &vr); err == nil {
		t.Fatal("a vote for a partition the peer does not have was answered")
	}
}

// TestHeartbeat_FastPath: heartbeats go to the handler raft set, not to
// the consumer, and are answered while the partition's consumer is busy.
func TestHeartbeat_FastPath(t *testing.T) {
	a, b := startNode(t, "a", keyA, nil), startNode(t, "b", keyA, nil)
	ta, tb := a.trans(t, 3), b.trans(t, 3)
	var beats atomic.Int64
	tb.SetHeartbeatHandler(func(rpc raft.RPC) {
		beats.Add(1)
		rpc.Respond(&raft.AppendEntriesResponse{Term: rpc.Command.(*raft.AppendEntriesRequest).Term, Success: true}, nil)
	})
	tb.SetTermSource(func() uint64 { return 6 }) // no heartbeat below brings a newer term
	// Nobody reads tb.Consumer(): a request that went there would hang.
	for i := range 3 {
		var resp raft.AppendEntriesResponse
		if err := ta.AppendEntries("b", b.addr, &raft.AppendEntriesRequest{RPCHeader: hdr("a"), Term: uint64(4 + i), Leader: []byte("a-addr")}, &resp); err != nil {
			t.Fatal(err)
		}
		if !resp.Success || resp.Term != uint64(4+i) {
			t.Fatalf("heartbeat answer %+v", resp)
		}
	}
	if beats.Load() != 3 {
		t.Fatalf("handler saw %d heartbeats", beats.Load())
	}
	if st := a.n.Stats(); st.Heartbeats != 3 {
		t.Fatalf("heartbeats counted: %d", st.Heartbeats)
	}
}

// TestHeartbeat_NewerTermTakesTheMainLoop: a heartbeat of a newer term
// than the receiver's goes to the partition's consumer (raft's main
// goroutine), not to the fast-path handler, which would change the term
// beside a leader loop writing an entry with it: a 5-node sim with pause
// faults found two replicas with different entries at the same index and
// term (hashicorp/raft#695), acked messages lost and seqs acked twice.
// Until raft's term is known, no heartbeat takes the fast path.
func TestHeartbeat_NewerTermTakesTheMainLoop(t *testing.T) {
	a, b := startNode(t, "a", keyA, nil), startNode(t, "b", keyA, nil)
	ta, tb := a.trans(t, 3), b.trans(t, 3)
	var fast atomic.Int64
	tb.SetHeartbeatHandler(func(rpc raft.RPC) {
		fast.Add(1)
		rpc.Respond(&raft.AppendEntriesResponse{Term: rpc.Command.(*raft.AppendEntriesRequest).Term, Success: true}, nil)
	})
	var slow atomic.Int64
	serve(t, tb, func(rpc raft.RPC) {
		slow.Add(1)
		rpc.Respond(&raft.AppendEntriesResponse{Term: rpc.Command.(*raft.AppendEntriesRequest).Term, Success: true}, nil)
	})
	beat := func(term uint64) {
		t.Helper()
		var resp raft.AppendEntriesResponse
		if err := ta.AppendEntries("b", b.addr, &raft.AppendEntriesRequest{RPCHeader: hdr("a"), Term: term, Leader: []byte("a-addr")}, &resp); err != nil {
			t.Fatal(err)
		}
		if !resp.Success || resp.Term != term {
			t.Fatalf("heartbeat answer %+v", resp)
		}
	}
	beat(3) // no term source yet
	if fast.Load() != 0 || slow.Load() != 1 {
		t.Fatalf("before the term is known: %d fast, %d through the main loop", fast.Load(), slow.Load())
	}
	var term atomic.Uint64
	term.Store(5)
	tb.SetTermSource(term.Load)
	beat(5)
	beat(4)
	if fast.Load() != 2 || slow.Load() != 1 {
		t.Fatalf("heartbeats of term 5 and 4 at term 5: %d fast, %d through the main loop", fast.Load(), slow.Load())
	}
	beat(6)
	if fast.Load() != 2 || slow.Load() != 2 {
		t.Fatalf("a heartbeat of term 6 at term 5: %d fast, %d through the main loop", fast.Load(), slow.Load())
	}
	term.Store(6)
	beat(6)
	if fast.Load() != 3 {
		t.Fatalf("term 6 at term 6: %d fast", fast.Load())
	}
}

// TestManyPartitions_ShareOneConnection: 64 partitions' appends and
// heartbeats to one peer travel on one connection, and the heartbeats
// queued in one window leave in one write.
func TestManyPartitions_ShareOneConnection(t *testing.T) {
	const parts = 64
	a := startNode(t, "a", keyA, func(c *Config) { c.HeartbeatWindow = 100 * time.Millisecond })
	b := startNode(t, "b", keyA, nil)
	ta, tb := make([]*Transport, parts), make([]*Transport, parts)
	for pid := range parts {
		ta[pid], tb[pid] = a.trans(t, uint16(pid)), b.trans(t, uint16(pid))
		tb[pid].SetHeartbeatHandler(func(rpc raft.RPC) { rpc.Respond(&raft.AppendEntriesResponse{Success: true}, nil) })
		serve(t, tb[pid], func(rpc raft.RPC) {
			req := rpc.Command.(*raft.AppendEntriesRequest)
			rpc.Respond(&raft.AppendEntriesResponse{Success: true, LastLog: req.PrevLogEntry + uint64(len(req.Entries))}, nil)
		})
	}
	run := func(heartbeat bool) {
		var wg sync.WaitGroup
		errs := make(chan error, parts)
		for pid := range parts {
			wg.Add(1)
			go func() {
				defer wg.Done()
				req := &raft.AppendEntriesRequest{RPCHeader: hdr("a"), Term: 2, Leader: []byte("a-addr")}
				if !heartbeat {
					req.PrevLogEntry, req.LeaderCommitIndex = uint64(pid), 1
					req.Entries = []*raft.Log{{Index: uint64(pid) + 1, Term: 2, Data: []byte("x")}}
				}
				var resp raft.AppendEntriesResponse
				if err := ta[pid].AppendEntries("b", b.addr, req, &resp); err != nil {
					errs <- err
				} else if !resp.Success {
					errs <- fmt.Errorf("partition %d: %+v", pid, resp)
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
	}
	run(false)
	before := a.n.Stats()
	run(true)
	after := a.n.Stats()
	if after.Dials != 1 || b.conns.Load() != 1 {
		t.Fatalf("%d dials, %d connections served for %d partitions", after.Dials, b.conns.Load(), parts)
	}
	if after.Heartbeats-before.Heartbeats != parts {
		t.Fatalf("%d heartbeats sent", after.Heartbeats-before.Heartbeats)
	}
	// 64 heartbeats queued well within the 100 ms window: a write or two.
	if w := after.Writes - before.Writes; w > 4 {
		t.Fatalf("%d heartbeats took %d writes", parts, w)
	}
	t.Logf("appends: %d frames in %d writes; heartbeats: %d in %d writes",
		before.Frames, before.Writes, after.Frames-before.Frames, after.Writes-before.Writes)
}

func TestInstallSnapshot_Streams(t *testing.T) {
	a, b := startNode(t, "a", keyA, nil), startNode(t, "b", keyA, nil)
	ta, tb := a.trans(t, 5), b.trans(t, 5)
	data := make([]byte, 3<<20+17)
	rand.Read(data)
	got := make(chan []byte, 1)
	serve(t, tb, func(rpc raft.RPC) {
		req := rpc.Command.(*raft.InstallSnapshotRequest)
		buf, err := io.ReadAll(rpc.Reader)
		got <- buf
		rpc.Respond(&raft.InstallSnapshotResponse{RPCHeader: hdr("b"), Term: req.Term, Success: err == nil && int64(len(buf)) == req.Size}, nil)
	})
	var resp raft.InstallSnapshotResponse
	req := &raft.InstallSnapshotRequest{RPCHeader: hdr("a"), SnapshotVersion: 1, Term: 3, Leader: []byte("a-addr"),
		LastLogIndex: 100, LastLogTerm: 3, Configuration: []byte("cfg"), ConfigurationIndex: 90, Size: int64(len(data))}
	if err := ta.InstallSnapshot("b", b.addr, req, &resp, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	if !resp.Success || resp.Term != 3 {
		t.Fatalf("response %+v", resp)
	}
	if !bytes.Equal(<-got, data) {
		t.Fatal("the snapshot arrived changed")
	}
	if st := a.n.Stats(); st.Snapshots != 1 {
		t.Fatalf("snapshot streams: %d", st.Snapshots)
	}
}

// TestPipeline_KeepsOrder: pipelined appends reach the follower and
// come back to the consumer in the order they were sent.
func TestPipeline_KeepsOrder(t *testing.T) {
	a := startNode(t, "a", keyA, func(c *Config) { c.MaxInFlight = 4 })
	b := startNode(t, "b", keyA, nil)
	ta, tb := a.trans(t, 0), b.trans(t, 0)
	var seen []uint64
	serve(t, tb, func(rpc raft.RPC) {
		req := rpc.Command.(*raft.AppendEntriesRequest)
		seen = append(seen, req.PrevLogEntry)
		rpc.Respond(&raft.AppendEntriesResponse{Term: 1, Success: true, LastLog: req.PrevLogEntry + 1}, nil)
	})
	pl, err := ta.AppendEntriesPipeline("b", b.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer pl.Close()
	const n = 200
	done := make(chan error, 1)
	go func() {
		for i := range uint64(n) {
			f := <-pl.Consumer()
			if err := f.Error(); err != nil {
				done <- err
				return
			}
			if f.Request().PrevLogEntry != i || f.Response().LastLog != i+1 {
				done <- fmt.Errorf("future %d: request %d, response %+v", i, f.Request().PrevLogEntry, f.Response())
				return
			}
		}
		done <- nil
	}()
	for i := range uint64(n) {
		req := &raft.AppendEntriesRequest{RPCHeader: hdr("a"), Term: 1, PrevLogEntry: i, PrevLogTerm: 1, LeaderCommitIndex: 1,
			Entries: []*raft.Log{{Index: i + 1, Term: 1, Data: []byte("x")}}}
		if _, err := pl.AppendEntries(req, new(raft.AppendEntriesResponse)); err != nil {
			t.Fatal(err)
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	for i, v := range seen {
		if v != uint64(i) {
			t.Fatalf("follower saw append %d at position %d", v, i)
		}
	}
	if len(seen) != n {
		t.Fatalf("follower saw %d appends", len(seen))
	}
	if _, err := ta.AppendEntriesPipeline("b", b.addr); err != nil {
		t.Fatal(err)
	}
	one := startNode(t, "c", keyA, nil) // MaxInFlight 1: no pipelining
	if _, err := one.trans(t, 0).AppendEntriesPipeline("b", b.addr); !errors.Is(err, raft.ErrPipelineReplicationNotSupported) {
		t.Fatalf("MaxInFlight 1: %v", err)
	}
}

// TestPipeline_FailedAppendDoesNotDeadlock is the pipeline deadlock of
// raft v1.7.3: raft's decoder stops reading futures after a failed one
// while its sender keeps appending. The sender must get an error at
// once, not wait for room that will never come.
func TestPipeline_FailedAppendDoesNotDeadlock(t *testing.T) {
	a := startNode(t, "a", keyA, func(c *Config) { c.MaxInFlight = 2; c.Timeout = 30 * time.Second })
	b := startNode(t, "b", keyA, nil)
	ta, tb := a.trans(t, 0), b.trans(t, 0)
	serve(t, tb, func(rpc raft.RPC) {
		req := rpc.Command.(*raft.AppendEntriesRequest)
		rpc.Respond(&raft.AppendEntriesResponse{Term: 1, Success: req.PrevLogEntry != 0}, nil) // the first fails
	})
	pl, err := ta.AppendEntriesPipeline("b", b.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer pl.Close()
	decoded := make(chan raft.AppendFuture, 1)
	go func() { decoded <- <-pl.Consumer() }() // raft's decoder: returns after the failure
	start := time.Now()
	var sendErr error
	for i := uint64(0); i < 10 && sendErr == nil; i++ {
		req := &raft.AppendEntriesRequest{RPCHeader: hdr("a"), Term: 1, PrevLogEntry: i, LeaderCommitIndex: 1,
			Entries: []*raft.Log{{Index: i + 1, Term: 1}}}
		_, sendErr = pl.AppendEntries(req, new(raft.AppendEntriesResponse))
	}
	if sendErr == nil {
		t.Fatal("ten appends into a pipeline nobody reads any more were all accepted")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("the sender waited %v for room (Timeout is 30s): the deadlock", d)
	}
	if f := <-decoded; f.Response().Success {
		t.Fatalf("the first future should have failed: %+v", f.Response())
	}
}

// TestPipeline_PeerDiesMidway: the follower's node goes away with
// appends in flight; every future is delivered, in order, the ones
// without an answer failed, and sending fails fast afterwards.
func TestPipeline_PeerDiesMidway(t *testing.T) {
	a := startNode(t, "a", keyA, func(c *Config) { c.MaxInFlight = 8 })
	b := startNode(t, "b", keyA, nil)
	ta, tb := a.trans(t, 0), b.trans(t, 0)
	release := make(chan struct{})
	var answered atomic.Int64
	serve(t, tb, func(rpc raft.RPC) {
		req := rpc.Command.(*raft.AppendEntriesRequest)
		if req.PrevLogEntry >= 3 {
			<-release // the node dies before answering these
			rpc.Respond(nil, ErrClosed)
			return
		}
		answered.Add(1)
		rpc.Respond(&raft.AppendEntriesResponse{Term: 1, Success: true}, nil)
	})
	pl, err := ta.AppendEntriesPipeline("b", b.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer pl.Close()
	for i := range uint64(6) {
		req := &raft.AppendEntriesRequest{RPCHeader: hdr("a"), Term: 1, PrevLogEntry: i, LeaderCommitIndex: 1,
			Entries: []*raft.Log{{Index: i + 1, Term: 1}}}
		if _, err := pl.AppendEntries(req, new(raft.AppendEntriesResponse)); err != nil {
			t.Fatal(err)
		}
	}
	for answered.Load() < 3 {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // the answers reach a
	go func() { time.Sleep(100 * time.Millisecond); close(release) }()
	b.stop() // closes the connections; the consumer is released later
	for i := range uint64(6) {
		select {
		case f := <-pl.Consumer():
			if f.Request().PrevLogEntry != i {
				t.Fatalf("future %d delivered at position %d", f.Request().PrevLogEntry, i)
			}
			if ok := f.Error() == nil && f.Response().Success; ok != (i < 3) {
				t.Fatalf("future %d: err %v, response %+v", i, f.Error(), f.Response())
			}
			if i >= 3 {
				// raft's decoder returns here; the pipeline is broken.
				if _, err := pl.AppendEntries(&raft.AppendEntriesRequest{RPCHeader: hdr("a"), Term: 1, PrevLogEntry: 9, LeaderCommitIndex: 1}, new(raft.AppendEntriesResponse)); err == nil {
					t.Fatal("an append into a broken pipeline was accepted")
				}
				start := time.Now()
				var resp raft.AppendEntriesResponse
				if err := ta.AppendEntries("b", b.addr, &raft.AppendEntriesRequest{RPCHeader: hdr("a"), Term: 1, PrevLogEntry: 1, LeaderCommitIndex: 1}, &resp); err == nil {
					t.Fatal("an append to a dead node succeeded")
				}
				if d := time.Since(start); d > 3*time.Second {
					t.Fatalf("an append to a dead node took %v to fail", d)
				}
				return
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("future %d never delivered", i)
		}
	}
}

// TestRefused_NotAMemberOrAnotherMember: a node of another cluster
// cannot even connect; a member cannot send RPCs under another member's
// Raft id. Said as itself, the same member is served.
func TestRefused_NotAMemberOrAnotherMember(t *testing.T) {
	b := startNode(t, "b", keyA, nil)
	tb := b.trans(t, 0)
	var got atomic.Int64
	serve(t, tb, func(rpc raft.RPC) {
		got.Add(1)
		rpc.Respond(&raft.RequestVoteResponse{Term: 1, Granted: true}, nil)
	})
	tb.SetHeartbeatHandler(func(rpc raft.RPC) {
		got.Add(1)
		rpc.Respond(&raft.AppendEntriesResponse{Success: true}, nil)
	})

	stranger := startNode(t, "a", keyB, nil)
	var vr raft.RequestVoteResponse
	if err := stranger.trans(t, 0).RequestVote("b", b.addr, &raft.RequestVoteRequest{RPCHeader: hdr("a"), Term: 1 << 60}, &vr); err == nil {
		t.Fatal("another cluster's node got its vote answered")
	}

	impostor := startNode(t, "c", keyA, nil) // a member, speaking as "a"
	ti := impostor.trans(t, 0)
	if err := ti.RequestVote("b", b.addr, &raft.RequestVoteRequest{RPCHeader: hdr("a"), Term: 1 << 60}, &vr); err == nil || vr.Granted {
		t.Fatalf("a vote as a with c's certificate: %v %+v", err, vr)
	}
	var ar raft.AppendEntriesResponse
	if err := ti.AppendEntries("b", b.addr, &raft.AppendEntriesRequest{RPCHeader: hdr("a"), Term: 1 << 60, Leader: []byte("x")}, &ar); err == nil || ar.Success {
		t.Fatalf("a heartbeat as a with c's certificate: %v %+v", err, ar)
	}
	if got.Load() != 0 {
		t.Fatalf("raft saw %d forged requests", got.Load())
	}
	if r := b.n.Stats().Refused; r != 2 {
		t.Fatalf("refused: %d", r)
	}
	if err := ti.RequestVote("b", b.addr, &raft.RequestVoteRequest{RPCHeader: hdr("c"), Term: 1}, &vr); err != nil || !vr.Granted {
		t.Fatalf("c as itself: %v %+v", err, vr)
	}
}

// TestTimeout_SilentPeerIsRedialled: an RPC the peer never answers
// times out; with nothing else heard on the connection it is dropped and
// the next RPC dials again.
func TestTimeout_SilentPeerIsRedialled(t *testing.T) {
	a := startNode(t, "a", keyA, func(c *Config) { c.Timeout = 300 * time.Millisecond })
	b := startNode(t, "b", keyA, nil)
	ta, tb := a.trans(t, 0), b.trans(t, 0)
	var calls atomic.Int64
	serve(t, tb, func(rpc raft.RPC) {
		if calls.Add(1) == 1 {
			return // never answered
		}
		rpc.Respond(&raft.RequestVoteResponse{Term: 1, Granted: true}, nil)
	})
	var vr raft.RequestVoteResponse
	start := time.Now()
	if err := ta.RequestVote("b", b.addr, &raft.RequestVoteRequest{RPCHeader: hdr("a"), Term: 1}, &vr); !errors.Is(err, ErrTimeout) {
		t.Fatalf("unanswered vote: %v", err)
	}
	if d := time.Since(start); d < 300*time.Millisecond || d > 2*time.Second {
		t.Fatalf("timed out after %v", d)
	}
	if err := ta.RequestVote("b", b.addr, &raft.RequestVoteRequest{RPCHeader: hdr("a"), Term: 1}, &vr); err != nil || !vr.Granted {
		t.Fatalf("second vote: %v %+v (stats %+v, calls %d)", err, vr, a.n.Stats(), calls.Load())
	}
	if d := a.n.Stats().Dials; d != 2 {
		t.Fatalf("dials: %d", d)
	}
}

// TestClose_FailsCallsInFlight: closing a transport releases a caller
// waiting on an answer.
func TestClose_FailsCallsInFlight(t *testing.T) {
	a, b := startNode(t, "a", keyA, nil), startNode(t, "b", keyA, nil)
	ta, tb := a.trans(t, 0), b.trans(t, 0)
	serve(t, tb, func(raft.RPC) {}) // never answers
	errc := make(chan error, 1)
	go func() {
		var vr raft.RequestVoteResponse
		errc <- ta.RequestVote("b", b.addr, &raft.RequestVoteRequest{RPCHeader: hdr("a"), Term: 1}, &vr)
	}()
	time.Sleep(100 * time.Millisecond)
	ta.Close()
	select {
	case err := <-errc:
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("after Close: %v", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Close did not release the caller")
	}
	if _, err := a.n.Transport(0); err != nil {
		t.Fatalf("partition not released: %v", err)
	}
}

// TestMain checks that no test leaves a goroutine behind (after the
// tests' cleanups, which stop the nodes).
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
