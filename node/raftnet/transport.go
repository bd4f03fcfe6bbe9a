package raftnet

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	"github.com/vmihailenco/msgpack/v5"
)

var (
	_ raft.Transport   = (*Transport)(nil)
	_ raft.WithPreVote = (*Transport)(nil)
	_ raft.WithClose   = (*Transport)(nil)
)

// Transport is one partition's raft.Transport. Every partition's
// Transport of a Net shares the Net's connections.
type Transport struct {
	n         *Net
	pid       uint16
	consumeCh chan raft.RPC
	hb        atomic.Pointer[func(raft.RPC)]
	term      atomic.Pointer[func() uint64] // the partition's current term (SetTermSource)
	ctx       context.Context               // cancelled by Close
	cancel    context.CancelFunc
}

func newTransport(n *Net, pid uint16) *Transport {
	t := &Transport{n: n, pid: pid, consumeCh: make(chan raft.RPC)}
	t.ctx, t.cancel = context.WithCancel(n.ctx)
	return t
}

// Partition returns the transport's partition id.
func (t *Transport) Partition() uint16 { return t.pid }

// Consumer returns the partition's incoming RPCs.
func (t *Transport) Consumer() <-chan raft.RPC { return t.consumeCh }

// LocalAddr returns this node's internal address.
func (t *Transport) LocalAddr() raft.ServerAddress { return raft.ServerAddress(t.n.cfg.LocalAddr) }

// EncodePeer and DecodePeer: a peer is its address.
func (t *Transport) EncodePeer(_ raft.ServerID, addr raft.ServerAddress) []byte { return []byte(addr) }

// DecodePeer is the inverse of EncodePeer.
func (t *Transport) DecodePeer(b []byte) raft.ServerAddress { return raft.ServerAddress(b) }

// SetHeartbeatHandler records raft's fast path for heartbeats: they are
// answered from the connection's reader, never queued behind the
// partition's disk writes.
func (t *Transport) SetHeartbeatHandler(cb func(raft.RPC)) { t.hb.Store(&cb) }

// SetTermSource gives the transport the partition's current term
// (raft.Raft.CurrentTerm), which decides whether a heartbeat may take
// the fast path (fastPath). Until it is set, none does.
func (t *Transport) SetTermSource(fn func() uint64) { t.term.Store(&fn) }

// fastPath reports whether a heartbeat of term may go to raft's
// heartbeat handler, which runs it on this connection's reader, beside
// raft's main goroutine. Only one that changes no term may: a heartbeat
// of a newer term steps the receiver down and sets its term there, and a
// leader of the old term that is dispatching an entry at that moment
// (its main goroutine reads the term just then) writes the entry under
// the new term, at an index where the new term's leader wrote another:
// raft skips the leader's entry as one it has, and the replicas' logs
// and state machines diverge (hashicorp/raft#695, #701). A newer term's
// heartbeat goes through the partition's queue to raft's main goroutine
// instead, as AppendEntries do. Terms never go back, so one not newer
// here now is not newer when the handler runs.
func (t *Transport) fastPath(term uint64) bool {
	p := t.term.Load()
	return p != nil && term <= (*p)()
}

func (t *Transport) heartbeatHandler() func(raft.RPC) {
	if p := t.hb.Load(); p != nil {
		return *p
	}
	return nil
}

// Close releases the partition: RPCs in flight and later fail with
// ErrClosed, and the partition's requests from peers are answered with
// an error. It is safe to call more than once.
func (t *Transport) Close() error {
	t.cancel()
	t.n.release(t)
	return nil
}

// AppendEntries sends an AppendEntries; heartbeats wait for the peer's
// heartbeat window and share its write with every other partition's.
func (t *Transport) AppendEntries(_ raft.ServerID, target raft.ServerAddress, args *raft.AppendEntriesRequest, resp *raft.AppendEntriesResponse) error {
	if isHeartbeat(args) {
		p, err := t.peer(target)
		if err != nil {
			return err
		}
		c := newCall(tHeartbeat, t.pid, resp)
		if err := p.heartbeat(c, args); err != nil {
			return err
		}
		return t.wait(p, c, t.n.cfg.HeartbeatTimeout)
	}
	return t.call(target, tAppend, func(dst []byte) []byte { return appendAppendReq(dst, args) }, resp, t.n.cfg.Timeout)
}

// RequestVote sends a RequestVote.
func (t *Transport) RequestVote(_ raft.ServerID, target raft.ServerAddress, args *raft.RequestVoteRequest, resp *raft.RequestVoteResponse) error {
	return t.callMsgpack(target, tVote, args, resp)
}

// RequestPreVote sends a RequestPreVote.
func (t *Transport) RequestPreVote(_ raft.ServerID, target raft.ServerAddress, args *raft.RequestPreVoteRequest, resp *raft.RequestPreVoteResponse) error {
	return t.callMsgpack(target, tPreVote, args, resp)
}

// TimeoutNow asks target to stand for election at once.
func (t *Transport) TimeoutNow(_ raft.ServerID, target raft.ServerAddress, args *raft.TimeoutNowRequest, resp *raft.TimeoutNowResponse) error {
	return t.callMsgpack(target, tTimeoutNow, args, resp)
}

func (t *Transport) peer(target raft.ServerAddress) (*peer, error) {
	if t.ctx.Err() != nil {
		return nil, ErrClosed
	}
	return t.n.peer(string(target))
}

func (t *Transport) callMsgpack(target raft.ServerAddress, typ byte, args, resp any) error {
	b, err := msgpack.Marshal(args)
	if err != nil {
		return err
	}
	return t.call(target, typ, func(dst []byte) []byte { return append(dst, b...) }, resp, t.n.cfg.Timeout)
}

func (t *Transport) call(target raft.ServerAddress, typ byte, enc func([]byte) []byte, resp any, timeout time.Duration) error {
	p, err := t.peer(target)
	if err != nil {
		return err
	}
	c := newCall(typ, t.pid, resp)
	if err := p.send(c, enc); err != nil {
		return err
	}
	return t.wait(p, c, timeout)
}

// wait waits for c's answer, at most timeout.
func (t *Transport) wait(p *peer, c *call, timeout time.Duration) error {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-c.done:
	case <-timer.C:
		p.timedOut(c, timeout)
		c.finish(nil, ErrTimeout)
	case <-t.ctx.Done():
		c.finish(nil, ErrClosed)
	}
	return c.err
}
