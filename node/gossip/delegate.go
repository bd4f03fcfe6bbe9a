package gossip

import (
	"fmt"
	"time"

	"github.com/hashicorp/memberlist"
)

// delegate receives memberlist's callbacks. It is a separate type so that
// these methods stay out of Gossip's API.
//
// memberlist calls NotifyJoin/Leave/Update and NotifyAlive with its node
// lock held, and NodeMeta from inside UpdateNode: none of these may call
// back into memberlist, and none may be called with g.mu held (lock order:
// memberlist's node lock, then g.mu).
type delegate struct{ g *Gossip }

const conflictLogEvery = 10 * time.Second

var (
	_ memberlist.Delegate         = delegate{}
	_ memberlist.EventDelegate    = delegate{}
	_ memberlist.AliveDelegate    = delegate{}
	_ memberlist.ConflictDelegate = delegate{}
)

// NodeMeta implements memberlist.Delegate.
func (d delegate) NodeMeta(limit int) []byte {
	d.g.mu.Lock()
	b := d.g.self.encode()
	d.g.mu.Unlock()
	if len(b) > limit { // cannot happen: Validate bounds the size
		d.g.log.Error("meta over memberlist's limit", "size", len(b), "limit", limit)
		return nil
	}
	return b
}

// NotifyMsg implements memberlist.Delegate; no user messages are sent.
func (delegate) NotifyMsg([]byte) {}

// GetBroadcasts implements memberlist.Delegate; no user broadcasts.
func (delegate) GetBroadcasts(overhead, limit int) [][]byte { return nil }

// LocalState implements memberlist.Delegate: the cluster params, if known,
// ride on every push/pull exchange.
func (d delegate) LocalState(join bool) []byte {
	d.g.mu.Lock()
	defer d.g.mu.Unlock()
	if d.g.params == nil {
		return nil
	}
	return encodeParams(*d.g.params)
}

// MergeRemoteState implements memberlist.Delegate: adopt the first params
// received; report a different ClusterID.
func (d delegate) MergeRemoteState(buf []byte, join bool) {
	if len(buf) == 0 {
		return
	}
	g := d.g
	p, err := decodeParams(buf)
	if err != nil {
		g.log.Warn("ignoring cluster params from a peer", "err", err)
		return
	}
	g.mu.Lock()
	adopted := false
	switch {
	case g.params == nil:
		g.params = &p
		g.self.ClusterID = p.ClusterID
		close(g.paramsKnown)
		adopted = true
	case g.params.ClusterID != p.ClusterID:
		if join && g.joining > 0 {
			g.conflict = p.ClusterID
		}
		g.log.Warn("push/pull with a node of another cluster", "ours", g.params.ClusterID, "theirs", p.ClusterID)
	case *g.params != p:
		g.log.Error("same cluster id, different params", "ours", *g.params, "theirs", p)
	}
	g.mu.Unlock()
	if adopted {
		g.log.Info("learned cluster params", "cluster", p.ClusterID, "partitions", p.Partitions, "replicas", p.Replicas)
		g.signal()
		g.pushMeta() // advertise the cluster id in our meta
	}
}

// NotifyAlive implements memberlist.AliveDelegate. A node whose meta names
// another cluster is refused, so two clusters that share a key and label
// (say, an old node rejoining a re-created cluster) never merge their
// member lists. Nodes that do not know their cluster yet are accepted.
func (d delegate) NotifyAlive(n *memberlist.Node) error {
	nm, err := decodeMeta(n.Meta)
	if err != nil {
		return err
	}
	d.g.mu.Lock()
	var ours string
	if d.g.params != nil {
		ours = d.g.params.ClusterID
	}
	d.g.mu.Unlock()
	if ours != "" && nm.ClusterID != "" && nm.ClusterID != ours {
		return fmt.Errorf("%w: node %s is in cluster %q, not %q", ErrWrongCluster, n.Name, nm.ClusterID, ours)
	}
	return nil
}

// NotifyConflict implements memberlist.ConflictDelegate.
// memberlist reports a conflict for every alive message while it lasts, so
// it is logged at most once per conflictLogEvery per member.
func (d delegate) NotifyConflict(existing, other *memberlist.Node) {
	d.g.mu.Lock()
	now := d.g.now()
	last, seen := d.g.conflictLogged[existing.Name]
	quiet := seen && now.Sub(last) < conflictLogEvery
	if !quiet {
		d.g.conflictLogged[existing.Name] = now
	}
	d.g.mu.Unlock()
	if quiet {
		return
	}
	d.g.log.Warn("node id used by two addresses", "member", existing.Name,
		"known", existing.Address(), "other", other.Address())
}

// NotifyJoin implements memberlist.EventDelegate.
func (d delegate) NotifyJoin(n *memberlist.Node) { d.g.observe(n, StateAlive) }

// NotifyUpdate implements memberlist.EventDelegate; memberlist calls it
// when an alive node's meta changes.
func (d delegate) NotifyUpdate(n *memberlist.Node) { d.g.observe(n, StateAlive) }

// NotifyLeave implements memberlist.EventDelegate. memberlist calls it for
// dead and for left nodes alike, and in v0.5.4 n.State is always
// StateAlive (the real state is a shadowing field of an unexported type,
// hashicorp/memberlist#293). So Leave first gossips the leaving flag in its
// meta, and that flag, in the last meta seen, tells Left from Dead.
func (d delegate) NotifyLeave(n *memberlist.Node) {
	st := StateDead
	if n.State == memberlist.StateLeft {
		st = StateLeft // memberlist versions that fix #293
	} else if nm, err := decodeMeta(n.Meta); err == nil && nm.leaving() {
		st = StateLeft
	}
	d.g.observe(n, st)
}
