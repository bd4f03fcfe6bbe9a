package node

import (
	"sync"
	"time"

	"github.com/roamhq/roam/hlr"
	"github.com/roamhq/roam/vlr"
)

// pendingTable is a partition leader's memory of what it forwarded to
// devices on other nodes and has not seen acknowledged: per device (user,
// device), the location it went to (node, epoch), the highest sequence
// number forwarded (or, after a leadership change, the inbox head), and
// when to send a notice if no acknowledgement comes. One table per node
// serves every partition the node leads; entries carry their partition so
// that they go when the node stops leading it.
//
// It is pure (no goroutines, no clock of its own); the delivery loop
// (delivery.go) drives it. All methods are safe for concurrent use; mu is
// a leaf lock.
type pendingTable struct {
	cfg DeliveryConfig

	mu sync.Mutex
	m  map[pendKey]*pendEntry
	st DeliveryStats
}

type pendKey struct{ user, device string }

type pendEntry struct {
	pid      uint16
	node     string // node id the device is at
	epoch    uint64
	seq      uint64    // highest sequence number forwarded or known to exist
	acked    uint64    // highest sequence number acknowledged
	since    time.Time // when the oldest unacknowledged forward (or the last progress) happened
	next     time.Time // when to send the next notice
	attempts int       // notices sent since the last progress
}

// DeliveryStats count a node's delivery repair since start (see
// Node.DeliveryStats).
type DeliveryStats struct {
	Pending   int    // devices with an unacknowledged forward now
	Tracked   uint64 // entries created (a device with an unacknowledged forward)
	Untracked uint64 // forwards not tracked because the table was full
	Notices   uint64 // notices sent
	Acked     uint64 // entries cleared by an acknowledgement
	Gone      uint64 // entries cleared because the node had no such session
	GaveUp    uint64 // entries dropped after GiveUpAfter without an acknowledgement
	Dropped   uint64 // entries dropped: leadership lost, node gone, location changed
}

func newPendingTable(cfg DeliveryConfig) *pendingTable {
	return &pendingTable{cfg: cfg, m: make(map[pendKey]*pendEntry)}
}

// forwarded records that message seq of user was forwarded to loc by the
// leader of pid at now. A forward to a new location (another node or
// epoch) replaces the device's entry.
func (t *pendingTable) forwarded(pid uint16, user string, loc hlr.Location, seq uint64, now time.Time) {
	t.track(pid, user, loc, seq, now, now.Add(t.cfg.AckTimeout))
}

// seed records, for a new leader, that loc may be missing messages up to
// head: a notice goes at the next repair pass.
func (t *pendingTable) seed(pid uint16, user string, loc hlr.Location, head uint64, now time.Time) {
	t.track(pid, user, loc, head, now, now)
}

func (t *pendingTable) track(pid uint16, user string, loc hlr.Location, seq uint64, now, next time.Time) {
	k := pendKey{user, loc.Device}
	t.mu.Lock()
	defer t.mu.Unlock()
	e := t.m[k]
	if e != nil && (e.node != loc.Node || e.epoch != loc.Epoch) {
		if loc.Epoch < e.epoch {
			return // an older location than the one tracked: stale
		}
		delete(t.m, k)
		t.st.Dropped++
		e = nil
	}
	if e == nil {
		if len(t.m) >= t.cfg.MaxPending {
			t.st.Untracked++
			return
		}
		t.m[k] = &pendEntry{pid: pid, node: loc.Node, epoch: loc.Epoch, seq: seq, since: now, next: next}
		t.st.Tracked++
		return
	}
	if seq > e.seq {
		e.seq = seq
	}
	if next.Before(e.next) {
		e.next = next
	}
}

// ack applies acknowledgements from node: an entry of the same location is
// cleared once everything forwarded is acknowledged, or when the node has
// no such session; partial progress restarts its timer.
func (t *pendingTable) ack(node string, acks []vlr.DeliveryAck, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, a := range acks {
		k := pendKey{a.User, a.Device}
		e := t.m[k]
		if e == nil || e.node != node || e.epoch != a.Epoch {
			continue
		}
		switch {
		case a.Gone:
			delete(t.m, k)
			t.st.Gone++
		case a.Seq >= e.seq:
			delete(t.m, k)
			t.st.Acked++
		case a.Seq > e.acked:
			e.acked = a.Seq
			e.since, e.attempts = now, 0
			e.next = now.Add(t.cfg.AckTimeout)
		}
	}
}

// due returns the notices to send now, by node id. Entries of partitions
// this node no longer leads (leads reports which it does) are dropped,
// and so are entries unacknowledged for GiveUpAfter. Each notice backs
// its entry off: AckTimeout doubling up to MaxBackoff.
func (t *pendingTable) due(now time.Time, leads func(pid uint16) bool) map[string][]vlr.Notice {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out map[string][]vlr.Notice
	for k, e := range t.m {
		switch {
		case !leads(e.pid):
			delete(t.m, k)
			t.st.Dropped++
			continue
		case now.Before(e.next):
			continue
		case now.Sub(e.since) >= t.cfg.GiveUpAfter:
			delete(t.m, k)
			t.st.GaveUp++
			continue
		}
		if out == nil {
			out = make(map[string][]vlr.Notice)
		}
		out[e.node] = append(out[e.node], vlr.Notice{User: k.user, Device: k.device, Epoch: e.epoch, Head: e.seq})
		t.st.Notices++
		e.attempts++
		e.next = now.Add(t.cfg.noticeDelay(e.attempts))
	}
	return out
}

// dropPartition forgets the entries of pid (leadership lost).
func (t *pendingTable) dropPartition(pid uint16) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for k, e := range t.m {
		if e.pid == pid {
			delete(t.m, k)
			t.st.Dropped++
		}
	}
}

// dropNode forgets the entries of devices at node (it left the cluster:
// its devices sync from their cursors wherever they reconnect).
func (t *pendingTable) dropNode(node string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for k, e := range t.m {
		if e.node == node {
			delete(t.m, k)
			t.st.Dropped++
		}
	}
}

func (t *pendingTable) len() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.m)
}

func (t *pendingTable) stats() DeliveryStats {
	t.mu.Lock()
	defer t.mu.Unlock()
	st := t.st
	st.Pending = len(t.m)
	return st
}
