package node

import (
	"context"
	"errors"
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
// "not leader" replies and local Raft state.
type leaderHints struct {
	mu sync.Mutex
	m  map[uint16]string // pid → internal address
}

func (h *leaderHints) get(pid uint16) string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.m[pid]
}

func (h *leaderHints) set(pid uint16, addr string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.m == nil {
		h.m = make(map[uint16]string)
	}
	if addr == "" {
		delete(h.m, pid)
	} else {
		h.m[pid] = addr
	}
}

// leaderAddr picks where to send a request for pid on the given attempt:
// the local partition's view of its leader, the last hint, or else the
// placement's replicas in turn. It returns "" when nothing is known.
func (n *Node) leaderAddr(pid uint16, attempt int) string {
	if p, ok := n.host.Partition(pid); ok {
		if id, addr := p.Leader(); id != "" && id != n.meta.NodeID {
			return addr
		}
	}
	if a := n.hints.get(pid); a != "" && attempt%4 != 3 {
		return a
	}
	pl := n.currentPlacement()
	if pl == nil {
		return ""
	}
	reps := pl.Replicas(pid)
	for i := range reps {
		id := reps[(attempt+i)%len(reps)]
		if id == n.meta.NodeID {
			continue
		}
		if a := n.internalAddrOf(id); a != "" {
			return a
		}
	}
	return ""
}

// exec implements remoteCaller.
func (n *Node) exec(ctx context.Context, pid uint16, cmd hlr.Cmd, attempt int) (hlr.Result, bool, error) {
	addr := n.leaderAddr(pid, attempt)
	if addr == "" {
		return hlr.Result{}, false, nil
	}
	res, err := n.gate.Exec(ctx, addr, pid, cmd)
	return res, true, n.remoteErr(pid, addr, err)
}

// query implements remoteCaller.
func (n *Node) query(ctx context.Context, pid uint16, q hlr.Query, attempt int) (*hlr.Answer, bool, error) {
	addr := n.leaderAddr(pid, attempt)
	if addr == "" {
		return nil, false, nil
	}
	ans, err := n.gate.Query(ctx, addr, pid, q)
	return ans, true, n.remoteErr(pid, addr, err)
}

// remoteErr learns from a remote answer: a "not leader" reply with a hint
// moves the hint; an unreachable node drops it. Both become ErrNotLeader,
// which the router retries.
func (n *Node) remoteErr(pid uint16, addr string, err error) error {
	if err == nil {
		n.hints.set(pid, addr)
		return nil
	}
	var nl *gate.NotLeaderError
	switch {
	case errors.As(err, &nl):
		n.hints.set(pid, nl.LeaderAddr)
		return hlr.ErrNotLeader
	case errors.Is(err, gate.ErrUnreachable), errors.Is(err, hlr.ErrUnknownPartition), errors.Is(err, hlr.ErrClosed):
		n.hints.set(pid, "")
		return hlr.ErrNotLeader
	}
	return err
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

// Deliver implements gate.Handler: a message forwarded through the jump
// gate to the sessions of this node. The sessions' acknowledgements go
// back to the leader that forwarded it, batched.
func (n *Node) Deliver(from, user string, locs []hlr.Location, m *hlr.Message) {
	n.dl.queueAcks(from, n.vlr.Deliver(user, locs, m))
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

// Cancel implements gate.Handler (Cancel Location).
func (n *Node) Cancel(user string, loc hlr.Location, reason string) {
	n.vlr.Cancel(user, loc, reason)
}

// Notify implements gate.Handler.
func (n *Node) Notify(user string, locs []hlr.Location, event, peer string) {
	n.vlr.Notify(user, locs, event, peer)
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

// The effects' gateSender: forward to the node holding the devices.

func (n *Node) deliver(node, user string, locs []hlr.Location, m *hlr.Message) {
	if addr := n.internalAddrOf(node); addr != "" {
		n.gate.Deliver(addr, user, locs, m)
		n.dl.forwarded(user, locs, m.Seq) // until the node acknowledges (delivery.go)
	}
}

func (n *Node) cancel(node, user string, loc hlr.Location, reason string) {
	if addr := n.internalAddrOf(node); addr != "" {
		n.gate.Cancel(addr, user, loc, reason)
	}
}

func (n *Node) notify(node, user string, locs []hlr.Location, event, peer string) {
	if addr := n.internalAddrOf(node); addr != "" {
		n.gate.Notify(addr, user, locs, event, peer)
	}
}
