package gossip

import (
	"sort"
	"time"

	"github.com/hashicorp/memberlist"
)

// State is a member's state as this node sees it.
type State int

// Member states.
const (
	// StateAlive: the node answers probes (or has not yet been found out).
	StateAlive State = iota
	// StateSuspect is reserved. memberlist v0.5.4 neither reports suspicion
	// to delegates nor exposes per-node state (hashicorp/memberlist#293,
	// #321), so this package never reports it: a node goes from Alive
	// straight to Dead when its suspicion times out.
	StateSuspect
	// StateDead: the node stopped answering and its suspicion timed out.
	// It may come back (same NodeID) and be Alive again.
	StateDead
	// StateLeft: the node called Leave.
	StateLeft
)

func (s State) String() string {
	switch s {
	case StateAlive:
		return "alive"
	case StateSuspect:
		return "suspect"
	case StateDead:
		return "dead"
	case StateLeft:
		return "left"
	}
	return "unknown"
}

// Member is one node as this node sees it.
type Member struct {
	ID         string    // NodeID
	GossipAddr string    // "ip:port" of its memberlist
	Meta       Meta      // last metadata received
	State      State     // current state
	Since      time.Time // when it entered State, by this node's clock
	// Leaving: the node has announced that it is leaving (Leave) and is
	// handing off its work; it is still Alive until its leave completes.
	Leaving bool
	// Draining: the node is draining (SetDraining): it moves its clients
	// away and hands off its leaderships; send it neither.
	Draining bool
}

// forgetAfter is how long a Dead or Left member is still listed.
const forgetAfter = 24 * time.Hour

// observe records what memberlist told us about n. It runs inside
// memberlist's event callbacks, with memberlist's node lock held: it must
// not call back into memberlist.
func (g *Gossip) observe(n *memberlist.Node, st State) {
	nm, err := decodeMeta(n.Meta)

	g.mu.Lock()
	now := g.now()
	m, ok := g.members[n.Name]
	if !ok {
		m = &Member{ID: n.Name, State: st, Since: now}
		g.members[n.Name] = m
	}
	if err == nil {
		m.Meta, m.Leaving, m.Draining = nm.Meta, nm.leaving(), nm.draining()
	}
	m.GossipAddr = n.Address()
	changed := !ok || m.State != st
	if changed {
		m.State, m.Since = st, now
	}
	g.pruneLocked(now)
	g.mu.Unlock()

	if err != nil {
		g.log.Warn("undecodable meta", "member", n.Name, "err", err)
	}
	if changed && n.Name != g.cfg.NodeID {
		lvl := "member " + st.String()
		if st == StateDead {
			g.log.Warn(lvl, "member", n.Name, "addr", m.GossipAddr)
		} else {
			g.log.Info(lvl, "member", n.Name, "addr", m.GossipAddr)
		}
	}
	g.signal()
}

// pruneLocked forgets members that have been Dead or Left for forgetAfter.
func (g *Gossip) pruneLocked(now time.Time) {
	for id, m := range g.members {
		if (m.State == StateDead || m.State == StateLeft) && now.Sub(m.Since) > forgetAfter {
			delete(g.members, id)
		}
	}
}

// Members returns every member this node knows, itself included, sorted by
// ID. Dead and Left members stay listed, with the time they entered that
// state, for 24 hours (so callers can apply a grace period); a member that
// comes back is Alive again.
func (g *Gossip) Members() []Member {
	g.mu.Lock()
	g.pruneLocked(g.now())
	out := make([]Member, 0, len(g.members))
	for _, m := range g.members {
		out = append(out, *m)
	}
	g.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// Changes returns a channel with capacity 1 that receives a value (without
// blocking the sender) after any join, leave, death, metadata update, or
// when the cluster params become known. Several changes may coalesce into
// one signal: on receipt, read Members.
func (g *Gossip) Changes() <-chan struct{} { return g.changes }

// Poke wakes the readers of Changes as a membership change would (the
// node learned something about a member another way).
func (g *Gossip) Poke() { g.signal() }

func (g *Gossip) signal() {
	select {
	case g.changes <- struct{}{}:
	default:
	}
}
