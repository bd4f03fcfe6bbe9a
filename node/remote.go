package node

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/roamhq/roam/hlr"
	"github.com/roamhq/roam/node/gate"
)

// Requests for partitions led elsewhere: the node is the router's
// remoteCaller (asking other nodes, through the gate's request kinds) and
// serves the same kinds for them.

// leaderHints remembers where each partition's leader was last seen, from
// replies ("not leader" hints, and successes) to this node's requests.
type leaderHints struct {
	mu sync.Mutex
	m  map[uint16]hint // pid → where and since when
}

type hint struct {
	addr string    // internal address
	at   time.Time // when the hint last changed
}

func (h *leaderHints) get(pid uint16) string {
	a, _ := h.getAt(pid)
	return a
}

// getAt returns the hint for pid and when it was learned.
func (h *leaderHints) getAt(pid uint16) (string, time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	x := h.m[pid]
	return x.addr, x.at
}

// set records addr as pid's leader ("" forgets the hint). It reports
// whether the hint changed.
func (h *leaderHints) set(pid uint16, addr string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.m == nil {
		h.m = make(map[uint16]hint)
	}
	if h.m[pid].addr == addr {
		return false
	}
	if addr == "" {
		delete(h.m, pid)
	} else {
		h.m[pid] = hint{addr: addr, at: time.Now()}
	}
	return true
}

// forget drops pid's hint if it still names addr.
func (h *leaderHints) forget(pid uint16, addr string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.m[pid].addr == addr {
		delete(h.m, pid)
	}
}

// leaderAddr picks where to send a request for pid on the given attempt:
// the local Raft group's view of its leader, the last hint (skipped on
// every fourth attempt, so that a stale hint cannot hold a request), or
// else the placement's replicas in turn. A candidate that is suspect
// (silent lately, see attempt.go) or that gossip reports dead is passed
// over while another one is left. It returns "" when nothing is known.
func (n *Node) leaderAddr(pid uint16, attempt int) string {
	now := time.Now()
	first := ""
	ok := func(a string) bool {
		if a == "" || a == n.internalAddr {
			return false
		}
		if first == "" {
			first = a
		}
		return !n.avoid(a, now)
	}
	if p, open := n.host.Partition(pid); open {
		if id, addr := p.Leader(); id != "" && id != n.meta.NodeID && ok(addr) {
			return addr
		}
	}
	if a := n.hints.get(pid); attempt%4 != 3 && ok(a) {
		return a
	}
	if pl := n.currentPlacement(); pl != nil {
		reps := pl.Replicas(pid)
		for i := range reps {
			id := reps[(attempt+i)%len(reps)]
			if id == n.meta.NodeID {
				continue
			}
			if a := n.internalAddrOf(id); ok(a) {
				return a
			}
		}
	}
	return first // every candidate is suspect: the best of them
}

// exec implements remoteCaller.
func (n *Node) exec(ctx context.Context, pid uint16, cmd hlr.Cmd, attempt int) (hlr.Result, sendOutcome, error) {
	addr := n.leaderAddr(pid, attempt)
	if addr == "" {
		return hlr.Result{}, notSent, nil
	}
	actx, cancel := context.WithCancel(ctx)
	w := n.watchAttempt(pid, addr, cancel)
	var resp execResp
	err := n.gate.Call(actx, addr, kindExec, &execReq{PID: pid, Cmd: cmd}, &resp)
	cut := w.stop()
	cancel()
	out, err := n.remoteErr(ctx, pid, addr, err, cut)
	if err != nil {
		return hlr.Result{}, out, err
	}
	return resp.result(), out, nil
}

// query implements remoteCaller.
func (n *Node) query(ctx context.Context, pid uint16, q hlr.Query, attempt int) (*hlr.Answer, sendOutcome, error) {
	addr := n.leaderAddr(pid, attempt)
	if addr == "" {
		return nil, notSent, nil
	}
	actx, cancel := context.WithCancel(ctx)
	w := n.watchAttempt(pid, addr, cancel)
	ans := &hlr.Answer{}
	err := n.gate.Call(actx, addr, kindQuery, &queryReq{PID: pid, Query: q}, ans)
	cut := w.stop()
	cancel()
	out, err := n.remoteErr(ctx, pid, addr, err, cut)
	if err != nil {
		return nil, out, err
	}
	return ans, out, nil
}

// remoteErr learns from the outcome of an attempt at addr: any answer
// shows the node alive; a "not leader" reply with a hint moves the hint;
// an unreachable or silent node, or one without the partition, loses it.
// Every failure worth another attempt becomes ErrNotLeader, which the
// router retries; the outcome says whether the next attempt may go at
// once (the leader is known to be elsewhere now).
func (n *Node) remoteErr(ctx context.Context, pid uint16, addr string, err error, cut cutReason) (sendOutcome, error) {
	now := time.Now()
	if answered(err) {
		n.rt.health.replied(addr, now)
	}
	var nl *gate.NotLeaderError
	switch {
	case err == nil:
		n.hints.set(pid, addr)
		return sent, nil
	case errors.As(err, &nl):
		if nl.LeaderAddr != "" && nl.LeaderAddr != addr {
			n.hints.set(pid, nl.LeaderAddr)
			return redirected, hlr.ErrNotLeader
		}
		n.hints.forget(pid, addr)
		return sent, hlr.ErrNotLeader
	case cut != cutNone && ctx.Err() == nil:
		n.hints.forget(pid, addr)
		return redirected, fmt.Errorf("%w: attempt at %s cut (%s)", hlr.ErrNotLeader, addr, cut)
	case errors.Is(err, gate.ErrUnreachable), errors.Is(err, hlr.ErrUnknownPartition), errors.Is(err, hlr.ErrClosed):
		n.hints.forget(pid, addr)
		return sent, hlr.ErrNotLeader
	}
	return sent, err
}

// answered reports whether err (or nil) is something the remote node
// said, as opposed to a failure to reach it or to hear back in time.
func answered(err error) bool {
	switch {
	case err == nil:
		return true
	case errors.Is(err, gate.ErrUnreachable), errors.Is(err, gate.ErrClosed),
		errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return false
	}
	return true
}

// notLeader describes this node's view of pid's leader for a caller.
func (n *Node) notLeader(pid uint16) error {
	if p, ok := n.host.Partition(pid); ok {
		id, addr := p.Leader()
		if id == n.meta.NodeID {
			id, addr = "", ""
		}
		return &gate.NotLeaderError{LeaderID: id, LeaderAddr: addr}
	}
	return &gate.NotLeaderError{}
}

// Exec and Query at a partition leader: the gate's request kinds
// kindExec and kindQuery. The bodies keep the layout of the first gate
// version ({p, t, c} and {p, t, q}; the answer of a query under the
// reply's "a"), so that nodes of both versions understand each other.

// execReq is the request of kindExec: run Cmd at this node's leader of
// PID.
type execReq struct {
	gate.Deadline `msgpack:",inline"`
	PID           uint16  `msgpack:"p"`
	Cmd           hlr.Cmd `msgpack:"c"`
}

// execResp is the reply of kindExec: what the caller of a command needs
// (the keys of hlr.Result's fields), never the effects or the message.
type execResp struct {
	Status  hlr.Status `msgpack:"s"`
	MsgID   uint64     `msgpack:"i,omitempty"`
	Seq     uint64     `msgpack:"q,omitempty"`
	Dup     bool       `msgpack:"d,omitempty"`
	Epoch   uint64     `msgpack:"e,omitempty"`
	CredGen uint64     `msgpack:"g,omitempty"`
	More    bool       `msgpack:"M,omitempty"`
	// Sched is the schedule of a schedule command (scheduled messages).
	Sched *hlr.Schedule `msgpack:"S,omitempty"`
	// Login is what a login or resume needs next (hlr.LoginView).
	Login *hlr.LoginView `msgpack:"l,omitempty"`
	// Claim and Role of a role command (roles).
	Claim *hlr.RoleClaim `msgpack:"rc,omitempty"`
	Role  *hlr.Role      `msgpack:"ro,omitempty"`
}

func newExecResp(r hlr.Result) *execResp {
	return &execResp{Status: r.Status, MsgID: r.MsgID, Seq: r.Seq, Dup: r.Dup, Epoch: r.Epoch, CredGen: r.CredGen, More: r.More, Sched: r.Sched,
		Login: r.Login, Claim: r.Claim, Role: r.Role}
}

func (r *execResp) result() hlr.Result {
	return hlr.Result{Status: r.Status, MsgID: r.MsgID, Seq: r.Seq, Dup: r.Dup, Epoch: r.Epoch, CredGen: r.CredGen, More: r.More, Sched: r.Sched,
		Login: r.Login, Claim: r.Claim, Role: r.Role}
}

// queryReq is the request of kindQuery; the reply is an *hlr.Answer.
type queryReq struct {
	gate.Deadline `msgpack:",inline"`
	PID           uint16    `msgpack:"p"`
	Query         hlr.Query `msgpack:"q"`
}

// serveExec runs a command from another node at this node's leader of
// the partition, or says who leads it.
func (n *Node) serveExec(ctx context.Context, _ string, r *execReq) (*execResp, error) {
	p, ok := n.host.Partition(r.PID)
	if !ok || !p.IsLeader() {
		return nil, n.notLeader(r.PID)
	}
	res, err := p.Exec(ctx, r.Cmd)
	if errors.Is(err, hlr.ErrNotLeader) {
		return nil, n.notLeader(r.PID)
	}
	if err != nil {
		return nil, err
	}
	return newExecResp(res), nil
}

// serveQuery answers a read from another node, like serveExec.
func (n *Node) serveQuery(ctx context.Context, _ string, r *queryReq) (*hlr.Answer, error) {
	p, ok := n.host.Partition(r.PID)
	if !ok || !p.IsLeader() {
		return nil, n.notLeader(r.PID)
	}
	ans, err := p.Query(ctx, r.Query)
	if errors.Is(err, hlr.ErrNotLeader) {
		return nil, n.notLeader(r.PID)
	}
	return ans, err
}

// GateStats returns the counters of this node's gate (tests, operators).
func (n *Node) GateStats() gate.Stats { return n.gate.Stats() }
