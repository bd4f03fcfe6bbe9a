package node

import (
	"context"
	"sync"
	"time"

	"github.com/roamhq/roam/node/gate"
	"github.com/roamhq/roam/node/gossip"
)

// A graceful leave is always seen as a leave. Gossip announces it (the
// leaving flag, then memberlist's leave, each also pushed over TCP), but
// gossip is UDP and best effort: a node that misses both, or whose gossip
// to the leaving node is cut, sees it dead instead. A dead node stays in
// the placement for DeadGrace, so the partitions that node leads keep the
// leaving node as a voter, and its hand-off times out with partitions
// still listing it.
//
// So the leaving node also tells every node it knows, over the internal
// port (kindLeaving, a request: it knows who heard), and tells again each
// round of its drain those that did not answer. A node told so treats the
// sender as leaving whatever gossip says (leftPeers, applied by
// refreshView), until gossip shows it alive again after that (a restart).

// leftPeers are the peers that told this node they are leaving, with when.
type leftPeers struct {
	mu sync.Mutex
	at map[string]time.Time
}

// leavingReq announces that the sender is leaving the cluster; the reply
// is empty.
type leavingReq struct {
	gate.Deadline `msgpack:",inline"`
}

type leavingAck struct{}

// serveLeaving records that the sending node is leaving and has the
// reconciler act on it at once.
func (n *Node) serveLeaving(_ context.Context, from string, _ *leavingReq) (*leavingAck, error) {
	n.left.mu.Lock()
	if n.left.at == nil {
		n.left.at = map[string]time.Time{}
	}
	_, had := n.left.at[from]
	if !had {
		n.left.at[from] = time.Now()
	}
	n.left.mu.Unlock()
	if !had {
		n.log.Info("peer says it is leaving", "peer", from)
	}
	n.gossip.Poke()
	return &leavingAck{}, nil
}

// leftPeer reports whether node id told us it is leaving (and has not
// come back since).
func (n *Node) leftPeer(id string) bool {
	n.left.mu.Lock()
	defer n.left.mu.Unlock()
	_, ok := n.left.at[id]
	return ok
}

// applyLeft marks m leaving if it told us so; a member gossip shows alive
// and not leaving since then has come back, and is forgotten.
func (n *Node) applyLeft(m *gossip.Member) {
	n.left.mu.Lock()
	defer n.left.mu.Unlock()
	at, ok := n.left.at[m.ID]
	if !ok {
		return
	}
	if m.State == gossip.StateAlive && !m.Leaving && m.Since.After(at) {
		delete(n.left.at, m.ID)
		return
	}
	m.Leaving = true
}

// announceLeave tells each node in addrs (id → internal address) that
// this node leaves, in parallel, and returns the ones that answered.
func (n *Node) announceLeave(addrs map[string]string) []string {
	var mu sync.Mutex
	var told []string
	var wg sync.WaitGroup
	for id, addr := range addrs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			defer cancel()
			if err := n.gate.Call(ctx, addr, kindLeaving, &leavingReq{}, &leavingAck{}); err != nil {
				n.log.Debug("leave: peer not told", "peer", id, "err", err)
				return
			}
			mu.Lock()
			told = append(told, id)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return told
}

// peersToTell lists every other node gossip knows of, whatever its
// state, with its internal address.
func (n *Node) peersToTell() map[string]string {
	out := map[string]string{}
	for _, m := range n.gossip.Members() {
		if m.ID != n.meta.NodeID && m.Meta.InternalAddr != "" && m.State != gossip.StateLeft {
			out[m.ID] = m.Meta.InternalAddr
		}
	}
	return out
}
