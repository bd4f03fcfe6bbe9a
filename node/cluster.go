package node

import (
	"sort"
	"sync"
	"time"

	"github.com/roamhq/roam/hlr/keyspace"
	"github.com/roamhq/roam/node/gossip"
	"github.com/roamhq/roam/ring"
)

// clusterView turns gossip membership into the ring placement. A member
// counts for placement while it is alive or suspect, and for DeadGrace
// after gossip declares it dead (so a short outage does not move its
// replicas); a member that leaves gracefully stops counting as soon as it
// announces its leave.
type clusterView struct {
	mu        sync.Mutex
	sig       uint64 // signature of the eligible member set
	placement *ring.Placement
	members   map[string]gossip.Member // every known member by id
}

// refresh recomputes the placement from gossip. It returns the placement
// (nil while the member list is empty).
func (n *Node) refreshView() *ring.Placement {
	ms := n.gossip.Members()
	now := time.Now()
	var eligible []ring.Member
	byID := make(map[string]gossip.Member, len(ms))
	for _, m := range ms {
		n.applyConfirmed(&m, now) // a dead node that answers is not dead (confirm.go)
		n.applyLeft(&m)           // a leave told over the internal port (leave.go)
		byID[m.ID] = m
		if n.eligible(m, now) {
			eligible = append(eligible, ring.Member{ID: m.ID})
		}
	}
	v := &n.view
	v.mu.Lock()
	defer v.mu.Unlock()
	v.members = byID
	if len(eligible) == 0 {
		return v.placement
	}
	sort.Slice(eligible, func(i, j int) bool { return eligible[i].ID < eligible[j].ID })
	sig := memberSignature(eligible)
	if v.placement != nil && sig == v.sig {
		return v.placement
	}
	pl, err := ring.Place(n.meta.Partitions, n.meta.Replicas, eligible)
	if err != nil {
		n.log.Error("placement failed", "err", err)
		return v.placement
	}
	if v.placement != nil {
		n.log.Info("placement changed", "members", len(eligible), "signature", pl.Signature())
	}
	v.sig, v.placement = sig, pl
	return pl
}

func (n *Node) eligible(m gossip.Member, now time.Time) bool {
	switch m.State {
	case gossip.StateAlive, gossip.StateSuspect:
		// A node that announced its leave is out at once, before its
		// leave completes (and even if this node misses that message).
		return !m.Leaving
	case gossip.StateDead:
		// A node that said it leaves is out, even if gossip missed the
		// leave and saw it die (leave.go).
		return !m.Leaving && now.Sub(m.Since) < n.cfg.DeadGrace
	}
	return false
}

func memberSignature(ms []ring.Member) uint64 {
	h := uint64(14695981039346656037)
	for _, m := range ms {
		h = ring.Hash64(append([]byte(m.ID), byte(h), byte(h>>8), byte(h>>16), byte(h>>24), byte(h>>32), byte(h>>40), byte(h>>48), byte(h>>56)))
	}
	return h
}

// currentPlacement returns the last computed placement (may be nil).
func (n *Node) currentPlacement() *ring.Placement {
	n.view.mu.Lock()
	defer n.view.mu.Unlock()
	return n.view.placement
}

// member returns what gossip knows of node id. Before the reconciler
// first refreshes the view, it asks gossip itself: a restarting node opens
// its partitions first, and may lead some of them — forwarding their
// messages and repairing their deliveries to other nodes — seconds before
// its reconciler starts.
func (n *Node) member(id string) (gossip.Member, bool) {
	n.view.mu.Lock()
	ms := n.view.members
	m, ok := ms[id]
	n.view.mu.Unlock()
	if ms != nil || n.gossip == nil {
		return m, ok
	}
	for _, m := range n.gossip.Members() {
		if m.ID == id {
			return m, true
		}
	}
	return gossip.Member{}, false
}

// internalAddrOf returns the internal address of node id ("" if unknown).
func (n *Node) internalAddrOf(id string) string {
	if id == n.meta.NodeID {
		return n.internalAddr
	}
	if m, ok := n.member(id); ok {
		return m.Meta.InternalAddr
	}
	return ""
}

// aliveMembers returns the members gossip reports alive, this node first;
// other nodes that are leaving are left out.
func (n *Node) aliveMembers() []gossip.Member {
	n.view.mu.Lock()
	defer n.view.mu.Unlock()
	var out []gossip.Member
	for _, m := range n.view.members {
		if m.State == gossip.StateAlive && (!m.Leaving || m.ID == n.meta.NodeID) {
			out = append(out, m)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if (out[i].ID == n.meta.NodeID) != (out[j].ID == n.meta.NodeID) {
			return out[i].ID == n.meta.NodeID
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// clientAddrs lists the client addresses of the live nodes that take
// clients, this one first (the Welcome frame's node list): a draining
// node other than this one is left out.
func (n *Node) clientAddrs() []string {
	var out []string
	for _, m := range n.aliveMembers() {
		if m.Draining && m.ID != n.meta.NodeID {
			continue
		}
		out = append(out, m.Meta.ClientAddr)
	}
	return out
}

// otherClientAddr returns a live node's client address other than this
// node's, for redirecting clients at shutdown ("" if there is none).
func (n *Node) otherClientAddr() string {
	for _, m := range n.aliveMembers() {
		if m.ID != n.meta.NodeID {
			return m.Meta.ClientAddr
		}
	}
	return ""
}

func keyspaceStableRange(pid uint16) (lo, hi []byte) {
	return keyspace.Range(pid, keyspace.KindStable)
}
