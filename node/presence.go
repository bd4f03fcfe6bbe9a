package node

import (
	"sync"
	"time"

	"github.com/roamhq/roam/node/gossip"
	"github.com/roamhq/roam/vlr"
)

// presenceBus carries this node's presence changes to every other live
// node through the gate (batched per node there). A node that appears, or
// comes back, first gets this node's full presence; a node that dies or
// leaves has its announcements dropped. Presence is volatile: nothing here
// touches Raft.
type presenceBus struct {
	n      *Node
	mu     sync.Mutex
	synced map[string]string // node id → internal address it was fully synced at
}

func (b *presenceBus) init(n *Node) {
	b.n = n
	b.synced = make(map[string]string)
}

// Publish implements vlr.PresenceBus.
func (b *presenceBus) Publish(u vlr.PresenceUpdate) {
	b.mu.Lock()
	peers := make([]string, 0, len(b.synced))
	for _, addr := range b.synced {
		peers = append(peers, addr)
	}
	b.mu.Unlock()
	for _, addr := range peers {
		b.n.sendPresence(addr, []vlr.PresenceUpdate{u}, false)
	}
}

// resyncLoop sends every synced peer this node's whole presence as a
// replacement every interval (anti-entropy): a presence item lost on a
// connection that stays up (the gate resyncs only after losing a
// connection or overflowing a queue) is repaired within an interval.
func (b *presenceBus) resyncLoop(interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-b.n.ctx.Done():
			return
		case <-t.C:
		}
		b.mu.Lock()
		peers := make([]string, 0, len(b.synced))
		for _, addr := range b.synced {
			peers = append(peers, addr)
		}
		b.mu.Unlock()
		if len(peers) == 0 {
			continue
		}
		all := b.n.vlr.LocalPresence()
		for _, addr := range peers {
			b.n.sendPresenceReplace(addr, all)
		}
	}
}

// membersChanged brings the set of peers up to date with gossip: new live
// peers get a full sync, gone peers are forgotten.
func (b *presenceBus) membersChanged(members map[string]gossip.Member) {
	n := b.n
	var fresh []string
	var gone []string
	b.mu.Lock()
	for id, m := range members {
		if id == n.meta.NodeID {
			continue
		}
		addr, known := b.synced[id]
		switch {
		case m.State == gossip.StateAlive && (!known || addr != m.Meta.InternalAddr):
			b.synced[id] = m.Meta.InternalAddr
			fresh = append(fresh, m.Meta.InternalAddr)
		case m.State != gossip.StateAlive && m.State != gossip.StateSuspect && known:
			delete(b.synced, id)
			gone = append(gone, id)
		}
	}
	for id := range b.synced {
		if _, ok := members[id]; !ok {
			delete(b.synced, id)
			gone = append(gone, id)
		}
	}
	b.mu.Unlock()
	if len(fresh) > 0 {
		all := n.vlr.LocalPresence()
		for _, addr := range fresh {
			n.sendPresence(addr, all, true)
		}
	}
	for _, id := range gone {
		n.vlr.DropNode(id)
	}
}
