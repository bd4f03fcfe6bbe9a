package node

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/roamhq/roam/hlr"
	"github.com/roamhq/roam/node/gossip"
	"github.com/roamhq/roam/vlr"
)

// Bounded delivery: a partition leader remembers what it forwarded to
// devices on other nodes until their node acknowledges it (pendingTable),
// and re-sends what is not acknowledged as a notice — user, device, epoch
// and how far the stream goes, not the messages — to which the node
// answers by catching the session up from the inbox and acknowledging.
// A new leader seeds the table from the online devices and inbox heads it
// holds, so that what the old leader committed but never forwarded still
// reaches them. The other half is in vlr (delivery.go, session.go).
//
// One goroutine per node (loop) flushes acknowledgements every
// AckInterval and runs a repair pass every RepairInterval; seeding a new
// leadership runs in a goroutine of its own. See ARCHITECTURE.md, "How
// delivery and revocation are bounded".

// DeliveryConfig tunes delivery repair.
type DeliveryConfig struct {
	// AckTimeout: a forward not acknowledged within it is followed by a
	// notice. Notices for one device then back off, doubling up to
	// MaxBackoff, and stop after GiveUpAfter without progress (the device
	// gets the rest at its next message or sync).
	AckTimeout  time.Duration
	MaxBackoff  time.Duration
	GiveUpAfter time.Duration
	// FastNotices is how many notices follow one another RepairInterval
	// apart before the back-off starts: a device whose notices are lost
	// on the way (one-way items dropped while the connection stays up)
	// still catches up within the delivery bound, while a device that
	// never answers (its node is gone) costs little after that.
	FastNotices int
	// RepairInterval is how often the repair pass looks for overdue
	// entries; AckInterval how long acknowledgements wait to be batched
	// per leader node (or until AckBatch are waiting).
	RepairInterval time.Duration
	AckInterval    time.Duration
	AckBatch       int
	// MaxPending caps the devices a node tracks for all the partitions
	// it leads. Beyond it, forwards are sent but not tracked (counted):
	// a lost one then waits for the device's next message or sync.
	MaxPending int
}

// DefaultDeliveryConfig returns the production settings.
func DefaultDeliveryConfig() DeliveryConfig {
	return DeliveryConfig{
		AckTimeout:     500 * time.Millisecond,
		MaxBackoff:     4 * time.Second,
		FastNotices:    6,
		GiveUpAfter:    30 * time.Second,
		RepairInterval: 250 * time.Millisecond,
		AckInterval:    100 * time.Millisecond,
		AckBatch:       1024,
		MaxPending:     1 << 18,
	}
}

func (c *DeliveryConfig) validate() error {
	switch {
	case c.AckTimeout <= 0 || c.MaxBackoff < c.AckTimeout || c.GiveUpAfter < c.MaxBackoff:
		return errors.New("node: Delivery: AckTimeout must be positive, MaxBackoff at least AckTimeout and GiveUpAfter at least MaxBackoff")
	case c.FastNotices < 0:
		return errors.New("node: Delivery: FastNotices must not be negative")
	case c.RepairInterval <= 0 || c.AckInterval <= 0 || c.AckBatch < 1 || c.MaxPending < 1:
		return errors.New("node: Delivery: RepairInterval, AckInterval, AckBatch and MaxPending must be positive")
	}
	return nil
}

// delivery is the node's delivery repair.
type delivery struct {
	n       *Node
	cfg     DeliveryConfig
	pending *pendingTable

	ackMu sync.Mutex
	acks  map[string]map[ackKey]vlr.DeliveryAck // leader node id → coalesced acks

	// Seeding goroutines, waited for by loop when the node stops.
	spawnMu  sync.Mutex
	stopping bool
	spawns   sync.WaitGroup
}

type ackKey struct {
	user, device string
	epoch        uint64
}

func newDelivery(n *Node, cfg DeliveryConfig) *delivery {
	return &delivery{n: n, cfg: cfg, pending: newPendingTable(cfg), acks: make(map[string]map[ackKey]vlr.DeliveryAck)}
}

// DeliveryStats returns the counters of this node's delivery repair
// (as a partition leader).
func (n *Node) DeliveryStats() DeliveryStats { return n.dl.pending.stats() }

// forwarded records forwards by the leader of pid to devices on another
// node (the gate path).
func (d *delivery) forwarded(pid uint16, user string, locs []hlr.Location, seq uint64) {
	now := time.Now()
	for _, l := range locs {
		d.pending.forwarded(pid, user, l, seq, now)
	}
}

// queueAcks batches acknowledgements for the leader node `to`; a full
// batch goes at once. This node's own deliveries to its own sessions need
// none: the pending table tracks devices on other nodes only.
func (d *delivery) queueAcks(to string, acks []vlr.DeliveryAck) {
	if len(acks) == 0 || to == "" || to == d.n.meta.NodeID {
		return
	}
	d.ackMu.Lock()
	m := d.acks[to]
	if m == nil {
		m = make(map[ackKey]vlr.DeliveryAck)
		d.acks[to] = m
	}
	for _, a := range acks {
		k := ackKey{a.User, a.Device, a.Epoch}
		if old, ok := m[k]; ok && (old.Gone || old.Seq > a.Seq) {
			continue
		}
		m[k] = a
	}
	full := len(m) >= d.cfg.AckBatch
	if full {
		delete(d.acks, to)
	}
	d.ackMu.Unlock()
	if full {
		d.sendAcks(to, m)
	}
}

func (d *delivery) flushAcks() {
	d.ackMu.Lock()
	all := d.acks
	d.acks = make(map[string]map[ackKey]vlr.DeliveryAck, len(all))
	d.ackMu.Unlock()
	for to, m := range all {
		d.sendAcks(to, m)
	}
}

func (d *delivery) sendAcks(to string, m map[ackKey]vlr.DeliveryAck) {
	out := make([]vlr.DeliveryAck, 0, len(m))
	for _, a := range m {
		out = append(out, a)
	}
	if to == d.n.meta.NodeID {
		d.pending.ack(to, out, time.Now())
		return
	}
	if addr := d.n.internalAddrOf(to); addr != "" {
		d.n.sendAcks(addr, out)
	}
}

// repair sends the notices that are due.
func (d *delivery) repair() {
	leads := d.leading()
	due := d.pending.due(time.Now(), func(pid uint16) bool { return leads[pid] })
	for node, ns := range due {
		if node == d.n.meta.NodeID {
			// A device here (seeded): no gate in between.
			d.pending.ack(node, d.n.vlr.Notice(ns), time.Now())
			continue
		}
		m, known := d.n.member(node)
		switch {
		case known && m.State == gossip.StateLeft:
			d.pending.dropNode(node) // gone from the cluster
		case known && m.Meta.InternalAddr != "":
			d.n.sendNotices(m.Meta.InternalAddr, ns)
		}
		// A node this one has not heard of yet (gossip forgets a node
		// only a day after it left or died) keeps its entries: the
		// notice goes once gossip knows where the node is, and
		// GiveUpAfter bounds the wait.
	}
}

// leading returns the partitions this node leads now.
func (d *delivery) leading() map[uint16]bool {
	out := make(map[uint16]bool)
	d.n.host.Each(func(p *hlr.Partition) {
		if p.IsLeader() {
			out[p.ID()] = true
		}
	})
	return out
}

// loop is the node's delivery goroutine. It returns when the node stops,
// after the seeding goroutines it started.
func (d *delivery) loop() {
	acks := time.NewTicker(d.cfg.AckInterval)
	defer acks.Stop()
	repair := time.NewTicker(d.cfg.RepairInterval)
	defer repair.Stop()
	for {
		select {
		case <-d.n.ctx.Done():
			d.spawnMu.Lock()
			d.stopping = true
			d.spawnMu.Unlock()
			d.spawns.Wait()
			return
		case <-acks.C:
			d.flushAcks()
		case <-repair.C:
			d.repair()
		}
	}
}

// onLeader subscribes to the hlr leadership hook (Host.OnLeader). A partition
// this node stops leading forgets its entries; one it starts leading is
// seeded in the background.
func (d *delivery) onLeader(pid uint16, leader bool) {
	if !leader {
		d.pending.dropPartition(pid)
		return
	}
	d.spawnMu.Lock()
	defer d.spawnMu.Unlock()
	if d.stopping || d.n.ctx.Err() != nil {
		return
	}
	d.spawns.Add(1)
	go func() {
		defer d.spawns.Done()
		d.seed(pid)
	}()
}

// seedTimeout bounds one seeding (a barrier and a scan of the partition).
const seedTimeout = 30 * time.Second

// seed makes a new leader of pid tell every online device of the
// partition how far its stream goes: an entry per device on another node
// (noticed at the next repair pass), a notice straight to the local VLR
// for devices here.
func (d *delivery) seed(pid uint16) {
	p, ok := d.n.host.Partition(pid)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(d.n.ctx, seedTimeout)
	defer cancel()
	v, err := p.View(ctx, true) // after the barrier: every committed message
	if err != nil {
		d.n.log.Debug("delivery seeding skipped", "partition", pid, "err", err)
		return
	}
	now := time.Now()
	self := d.n.meta.NodeID
	var local []vlr.Notice
	seeded := 0
	err = v.Heads(func(user string, head uint64) bool {
		locs, err := v.Locations(user)
		if err != nil {
			return false
		}
		for _, l := range locs {
			if l.Node == self {
				local = append(local, vlr.Notice{User: user, Device: l.Device, Epoch: l.Epoch, Head: head})
				continue
			}
			d.pending.seed(pid, user, l, head, now)
			seeded++
		}
		return ctx.Err() == nil
	})
	v.Close()
	if err != nil {
		d.n.log.Warn("delivery seeding failed", "partition", pid, "err", err)
	}
	if len(local) > 0 {
		d.n.vlr.Notice(local)
	}
	d.n.log.Debug("delivery seeded", "partition", pid, "remote", seeded, "local", len(local))
}

// noticeDelay is how long after its attempts-th notice an unacknowledged
// entry gets the next one: RepairInterval for the first FastNotices, then
// AckTimeout doubling up to MaxBackoff.
func (c *DeliveryConfig) noticeDelay(attempts int) time.Duration {
	if attempts <= c.FastNotices {
		return c.RepairInterval
	}
	return min(c.AckTimeout<<min(attempts-c.FastNotices, 16), c.MaxBackoff)
}
