package node

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/roamhq/roam/hlr"
	"github.com/roamhq/roam/node/gate"
	"github.com/roamhq/roam/vlr"
)

// Requests for partitions led elsewhere, and the effects that travel
// through the jump gate. The node is the gate's Handler (serving other
// nodes) and the router's remoteCaller (asking them).

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
	res, err := n.gate.Exec(actx, addr, pid, cmd)
	cut := w.stop()
	cancel()
	out, err := n.remoteErr(ctx, pid, addr, err, cut)
	return res, out, err
}

// query implements remoteCaller.
func (n *Node) query(ctx context.Context, pid uint16, q hlr.Query, attempt int) (*hlr.Answer, sendOutcome, error) {
	addr := n.leaderAddr(pid, attempt)
	if addr == "" {
		return nil, notSent, nil
	}
	actx, cancel := context.WithCancel(ctx)
	w := n.watchAttempt(pid, addr, cancel)
	ans, err := n.gate.Query(actx, addr, pid, q)
	cut := w.stop()
	cancel()
	out, err := n.remoteErr(ctx, pid, addr, err, cut)
	return ans, out, err
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

// Exec implements gate.Handler: a command from another node for a
// partition this node should lead.
func (n *Node) Exec(ctx context.Context, pid uint16, cmd hlr.Cmd) (hlr.Result, error) {
	p, ok := n.host.Partition(pid)
	if !ok || !p.IsLeader() {
		return hlr.Result{}, n.notLeader(pid)
	}
	res, err := p.Exec(ctx, cmd)
	if errors.Is(err, hlr.ErrNotLeader) {
		return res, n.notLeader(pid)
	}
	return res, err
}

// Query implements gate.Handler.
func (n *Node) Query(ctx context.Context, pid uint16, q hlr.Query) (*hlr.Answer, error) {
	p, ok := n.host.Partition(pid)
	if !ok || !p.IsLeader() {
		return nil, n.notLeader(pid)
	}
	ans, err := p.Query(ctx, q)
	if errors.Is(err, hlr.ErrNotLeader) {
		return nil, n.notLeader(pid)
	}
	return ans, err
}

// Deliver implements gate.Handler (handleDeliver).
func (n *Node) Deliver(from, user string, locs []hlr.Location, m *hlr.Message) {
	n.handleDeliver(from, &deliverBody{User: user, Locs: locs, Msg: m})
}

// Notice implements gate.Handler: a partition leader's delivery-repair
// notices, answered like deliveries.
func (n *Node) Notice(from string, ns []vlr.Notice) {
	n.dl.queueAcks(from, n.vlr.Notice(ns))
}

// Ack implements gate.Handler: what the devices at node from have taken
// of what this node forwarded as a partition leader.
func (n *Node) Ack(from string, acks []vlr.DeliveryAck) {
	n.dl.pending.ack(from, acks, time.Now())
}

// GateStats returns the counters of this node's gate (tests, operators).
func (n *Node) GateStats() gate.Stats { return n.gate.Stats() }

// Cancel implements gate.Handler (handleCancel).
func (n *Node) Cancel(user string, loc hlr.Location, reason string) {
	n.handleCancel("", &cancelBody{User: user, Loc: loc, Reason: reason})
}

// Notify implements gate.Handler (handleFriend).
func (n *Node) Notify(user string, locs []hlr.Location, event, peer string) {
	n.handleFriend("", &friendBody{User: user, Locs: locs, Event: event, Peer: peer})
}

// Presence implements gate.Handler.
func (n *Node) Presence(from string, ups []vlr.PresenceUpdate, full bool) {
	if full {
		n.vlr.DropNode(from)
	}
	for _, u := range ups {
		n.vlr.RemotePresence(from, u)
	}
}
