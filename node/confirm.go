package node

import (
	"context"
	"sync"
	"time"

	"github.com/roamhq/roam/node/gate"
	"github.com/roamhq/roam/node/gossip"
)

// Confirming a death over the internal port. Gossip declares a node dead
// when its probes go unanswered, but gossip can be cut while the node and
// its internal port are fine (a firewall rule for UDP, a lossy link).
// Such a node kept in the placement only for DeadGrace, and seen dead by
// the plan's live-majority rule, blocks the membership changes it is
// part of — a leave among them: its hand-off timed out with partitions
// still listing it.
//
// So while gossip reports a member dead, the reconciler asks it directly
// (kindAlive, gate kind 24) every confirmAfter; a node that answers is
// alive as far as the view is concerned (refreshView), and leaving if it
// says so. The answer is good for confirmTTL; a node that stops
// answering is dead again after that. Members dead for longer than
// confirmFor without ever answering are not asked any more.

const (
	confirmAfter   = time.Second      // how often a dead member is asked
	confirmTTL     = 3 * time.Second  // how long an answer counts
	confirmTimeout = time.Second      // bound of one question
	confirmFor     = 10 * time.Minute // dead members older than this are left alone
)

// aliveReq asks whether the node is up; aliveAck answers.
type aliveReq struct {
	gate.Deadline `msgpack:",inline"`
}

type aliveAck struct {
	Leaving bool `msgpack:"l,omitempty"` // the node is shutting down gracefully
}

// serveAlive answers an aliveReq.
func (n *Node) serveAlive(context.Context, string, *aliveReq) (*aliveAck, error) {
	return &aliveAck{Leaving: n.closed.Load()}, nil
}

// confirmations remembers the answers of members gossip reports dead.
type confirmations struct {
	mu     sync.Mutex
	answer map[string]confirmed
	asking map[string]bool
}

type confirmed struct {
	at      time.Time // when it last answered
	asked   time.Time // when it was last asked
	leaving bool
}

// applyConfirmed overrides gossip's verdict on m (dead) with a fresh
// answer from the node itself, and starts a new question when one is
// due.
func (n *Node) applyConfirmed(m *gossip.Member, now time.Time) {
	if m.State != gossip.StateDead || m.ID == n.meta.NodeID || m.Meta.InternalAddr == "" {
		return
	}
	c := &n.confirm
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.answer == nil {
		c.answer, c.asking = map[string]confirmed{}, map[string]bool{}
	}
	a := c.answer[m.ID]
	if !a.at.IsZero() && now.Sub(a.at) < confirmTTL {
		m.State = gossip.StateAlive
		m.Leaving = m.Leaving || a.leaving
	}
	if c.asking[m.ID] || now.Sub(a.asked) < confirmAfter || (a.at.IsZero() && now.Sub(m.Since) > confirmFor) || n.ctx.Err() != nil {
		return
	}
	a.asked = now
	c.answer[m.ID] = a
	c.asking[m.ID] = true
	id, addr := m.ID, m.Meta.InternalAddr
	n.goFunc(func() { n.askAlive(id, addr) })
}

// askAlive asks node id at addr whether it is up and records the answer.
func (n *Node) askAlive(id, addr string) {
	ctx, cancel := context.WithTimeout(n.ctx, confirmTimeout)
	defer cancel()
	var ack aliveAck
	err := n.gate.Call(ctx, addr, kindAlive, &aliveReq{}, &ack)
	c := &n.confirm
	c.mu.Lock()
	delete(c.asking, id)
	a := c.answer[id]
	fresh := err == nil && a.at.IsZero()
	if err == nil {
		a.at, a.leaving = time.Now(), ack.Leaving
		c.answer[id] = a
	}
	c.mu.Unlock()
	if fresh {
		n.log.Info("gossip says dead, but the node answers on the internal port", "peer", id, "leaving", ack.Leaving)
		n.gossip.Poke()
	}
}
