package node

import (
	"errors"
	"math"
	"sync"
	"time"

	"github.com/roamhq/roam/wire"
)

// Client placement: where a node sends its clients (PROTOCOL.md §10.2).
//
// Every node gossips its session count (the meta's Load). A node turns a
// session away right after it is established (vlr Config.Place) when
//
//   - the node drains or leaves (reason "drain"), or
//   - it holds more than Overload (1.2) times the mean and at least Slack
//     sessions above it (reason "load"),
//
// and its balancer moves sessions already here, a few per Interval, while
// it holds more than Rebalance (1.15) times the mean and Slack above it
// (a node that just joined fills up this way), or, while draining, all of
// them over DrainSpread after DrainWait (drain.go).
//
// The target is always the live, not leaving, not draining node with the
// fewest sessions, counting the ones this node sent it that its gossip
// does not show yet (sent): picking the least loaded one at a time spreads
// a burst over every node, where the old shutdown sent every client to
// the same one.

// ClientsConfig tunes client placement and drain.
type ClientsConfig struct {
	// Interval is how often the balancer looks at the loads and gossips
	// this node's session count.
	Interval time.Duration
	// Overload: a session established here is sent elsewhere while this
	// node holds more than Overload times the mean (and Slack above it).
	Overload float64
	// Rebalance: the balancer moves sessions away while this node holds
	// more than Rebalance times the mean (and Slack above it), down to
	// the mean.
	Rebalance float64
	// Slack is how many sessions above the mean a node may always hold:
	// small differences are not worth a reconnect.
	Slack int
	// MovesPerInterval bounds the sessions the balancer moves per
	// Interval (a drain's spread is not bounded by it).
	MovesPerInterval int
	// DrainWait is how long a drain waits, after handing off its
	// leaderships, before it moves its clients; DrainSpread is the time
	// it spreads their moves over.
	DrainWait   time.Duration
	DrainSpread time.Duration
	// Affinity sends a session established here to the node that leads
	// the user's home partition (reason "affinity"), unless that node
	// holds more than Overload times the mean: the user's own reads and
	// writes (login, sync, cursors, lease renewals) and the deliveries to
	// it are then local to that node. Off by default (affinity.go).
	Affinity bool
}

// DefaultClientsConfig returns the defaults.
func DefaultClientsConfig() ClientsConfig {
	return ClientsConfig{
		Interval:         500 * time.Millisecond,
		Overload:         1.2,
		Rebalance:        1.15,
		Slack:            50,
		MovesPerInterval: 200,
		DrainWait:        10 * time.Second,
		DrainSpread:      60 * time.Second,
	}
}

// Validate checks the configuration.
func (c ClientsConfig) Validate() error {
	if c.Interval <= 0 || c.Overload < 1 || c.Rebalance < 1 || c.Slack < 0 || c.MovesPerInterval < 1 || c.DrainWait < 0 || c.DrainSpread < 0 {
		return errors.New("node: Clients: Interval and MovesPerInterval must be positive, Overload and Rebalance at least 1, the rest not negative")
	}
	return nil
}

// placement is the balancer's memory of the sessions this node sent to
// other nodes that their gossiped counts may not show yet.
type placement struct {
	mu   sync.Mutex
	sent map[string]sentLoad // by node id
}

type sentLoad struct {
	base uint32 // the node's gossiped count when counting began
	n    int    // sessions sent since
}

// nodeLoad is one candidate's load as this node reckons it.
type nodeLoad struct {
	id, addr string
	load     int
}

// loadsLocked returns this node's session count and the other candidate
// nodes' counts (with what was sent to them added).
func (n *Node) loadsLocked() (self int, others []nodeLoad) {
	self = n.vlr.Sessions()
	if n.place.sent == nil {
		n.place.sent = map[string]sentLoad{}
	}
	for _, m := range n.aliveMembers() {
		if m.ID == n.meta.NodeID || m.Leaving || m.Draining || m.Meta.ClientAddr == "" || n.leftPeer(m.ID) {
			continue
		}
		load := int(m.Meta.Load)
		if s, ok := n.place.sent[m.ID]; ok {
			if s.base == m.Meta.Load {
				load += s.n
			} else {
				delete(n.place.sent, m.ID) // its gossip caught up
			}
		}
		others = append(others, nodeLoad{id: m.ID, addr: m.Meta.ClientAddr, load: load})
	}
	return self, others
}

// pickLocked chooses the least loaded candidate and counts one session
// sent to it ("" if there is none).
func (n *Node) pickLocked(others []nodeLoad) string {
	best := -1
	for i, o := range others {
		if best < 0 || o.load < others[best].load {
			best = i
		}
	}
	if best < 0 {
		return ""
	}
	o := &others[best]
	s, ok := n.place.sent[o.id]
	if !ok {
		if m, known := n.member(o.id); known {
			s.base = m.Meta.Load
		}
	}
	s.n++
	n.place.sent[o.id] = s
	o.load++
	return o.addr
}

// over reports whether self sessions are more than factor times the mean
// of all (self and others) and more than Slack above it; and the excess
// over the mean.
func (n *Node) over(self int, others []nodeLoad, factor float64) (bool, int) {
	if len(others) == 0 {
		return false, 0
	}
	total := self
	for _, o := range others {
		total += o.load
	}
	mean := float64(total) / float64(len(others)+1)
	excess := int(math.Ceil(float64(self) - mean))
	return float64(self) > factor*mean && excess > n.cfg.Clients.Slack, excess
}

// placeSession is vlr Config.Place: where a session just established here
// should go instead ("" to stay).
func (n *Node) placeSession(user string) (addr, reason string) {
	n.place.mu.Lock()
	defer n.place.mu.Unlock()
	self, others := n.loadsLocked()
	if n.draining.Load() || n.closed.Load() {
		return n.pickLocked(others), wire.RedirectDrain
	}
	if ok, _ := n.over(self, others, n.cfg.Clients.Overload); !ok {
		if n.cfg.Clients.Affinity {
			return n.affinityLocked(user, self, others)
		}
		return "", ""
	}
	// Over 1.2x the mean, so the least loaded node holds fewer than
	// this one, even with this session.
	if addr := n.pickLocked(others); addr != "" {
		return addr, wire.RedirectLoad
	}
	return "", ""
}

// pickTarget chooses a node for one session moved for reason.
func (n *Node) pickTarget(reason string) (string, string) {
	n.place.mu.Lock()
	defer n.place.mu.Unlock()
	_, others := n.loadsLocked()
	return n.pickLocked(others), reason
}

// nodeLoads is vlr Config.Loads: the live nodes' client addresses and
// session counts, for the redirect push.
func (n *Node) nodeLoads() []wire.NodeLoad {
	var out []wire.NodeLoad
	for _, m := range n.aliveMembers() {
		if m.Leaving || m.Draining || m.Meta.ClientAddr == "" {
			continue
		}
		load := m.Meta.Load
		if m.ID == n.meta.NodeID {
			load = uint32(n.vlr.Sessions())
		}
		out = append(out, wire.NodeLoad{Addr: m.Meta.ClientAddr, Sessions: load})
	}
	return out
}

// balanceLoop gossips this node's session count every Interval and moves
// sessions away while it holds more than its share (not while it drains:
// drain.go moves them all).
func (n *Node) balanceLoop() {
	t := time.NewTicker(n.cfg.Clients.Interval)
	defer t.Stop()
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-t.C:
		}
		n.gossip.SetLoad(uint32(n.vlr.Sessions()))
		if n.draining.Load() {
			continue
		}
		n.place.mu.Lock()
		self, others := n.loadsLocked()
		ok, excess := n.over(self, others, n.cfg.Clients.Rebalance)
		n.place.mu.Unlock()
		if !ok {
			continue
		}
		moved := n.vlr.Redirect(min(excess, n.cfg.Clients.MovesPerInterval), func() (string, string) {
			n.place.mu.Lock()
			defer n.place.mu.Unlock()
			_, others := n.loadsLocked()
			return n.pickLocked(others), wire.RedirectLoad
		})
		if moved > 0 {
			n.log.Info("sessions moved for balance", "moved", moved, "sessions", self, "excess", excess)
		}
	}
}
