package node

import (
	"github.com/roamhq/roam/ring"
	"github.com/roamhq/roam/wire"
)

// Affinity (ClientsConfig.Affinity): a session belongs at the node that
// leads its user's home partition, where the user's own commands and
// reads are local and a message for it is pushed without a hop between
// nodes. placeSession asks affinityLocked only when this node is not
// overloaded; the leader must not be either, counting the session: load
// balance wins over affinity. A leadership that moves later does not move
// the sessions (the balancer moves sessions only for load).

// affinityLocked returns the client address of the node leading user's
// home partition, if that is another node that takes the session
// (n.place.mu held).
func (n *Node) affinityLocked(user string, self int, others []nodeLoad) (string, string) {
	id := n.homeLeader(ring.PartitionOf(user, n.meta.Partitions))
	if id == "" || id == n.meta.NodeID {
		return "", ""
	}
	for i := range others {
		if others[i].id != id {
			continue
		}
		// The leader with this session must stay within Overload of the
		// mean (which does not change: the session only moves).
		total := self
		for _, o := range others {
			total += o.load
		}
		mean := float64(total) / float64(len(others)+1)
		if float64(others[i].load+1) > n.cfg.Clients.Overload*mean && others[i].load+1-int(mean) > n.cfg.Clients.Slack {
			return "", ""
		}
		s := n.place.sent[id]
		if s.n == 0 {
			if m, ok := n.member(id); ok {
				s.base = m.Meta.Load
			}
		}
		s.n++
		n.place.sent[id] = s
		return others[i].addr, wire.RedirectAffinity
	}
	return "", "" // leaving, draining or not live
}

// homeLeader returns the id of the node leading pid as far as this node
// knows ("" if it does not).
func (n *Node) homeLeader(pid uint16) string {
	if p, open := n.host.Partition(pid); open {
		id, _ := p.Leader()
		return id
	}
	addr := n.hints.get(pid)
	if addr == "" {
		return ""
	}
	for _, m := range n.aliveMembers() {
		if m.Meta.InternalAddr == addr {
			return m.ID
		}
	}
	return ""
}
