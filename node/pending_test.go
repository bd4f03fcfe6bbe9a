package node

import (
	"fmt"
	"testing"
	"time"

	"github.com/roamhq/roam/hlr"
	"github.com/roamhq/roam/vlr"
)

func testDeliveryConfig() DeliveryConfig {
	c := DefaultDeliveryConfig()
	c.MaxPending = 4
	c.FastNotices = 0 // the table below pins the back-off alone
	return c
}

// TestPendingTable_Table drives the leader's pending-delivery table
// through forwards, acknowledgements, notices and their back-off, with a
// fake clock (AckTimeout 500ms, MaxBackoff 4s, GiveUpAfter 30s).
func TestPendingTable_Table(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	loc := hlr.Location{Device: "phone", Node: "n2", Epoch: 3}
	all := func(uint16) bool { return true }
	type check struct {
		at      time.Duration
		notices int    // notices due at that time
		head    uint64 // head of the first notice, if any
		left    int    // entries left after
	}
	cases := []struct {
		name   string
		run    func(p *pendingTable)
		checks []check
	}{
		{"acknowledged in time: nothing due, entry gone", func(p *pendingTable) {
			p.forwarded(1, "ann", loc, 5, at(0))
			p.ack("n2", []vlr.DeliveryAck{{User: "ann", Device: "phone", Epoch: 3, Seq: 5}}, at(100*time.Millisecond))
		}, []check{{at: time.Second, notices: 0, left: 0}}},
		{"unacknowledged: a notice after AckTimeout with the highest seq", func(p *pendingTable) {
			p.forwarded(1, "ann", loc, 5, at(0))
			p.forwarded(1, "ann", loc, 6, at(10*time.Millisecond))
		}, []check{
			{at: 400 * time.Millisecond, notices: 0, left: 1},
			{at: 500 * time.Millisecond, notices: 1, head: 6, left: 1},
			{at: 900 * time.Millisecond, notices: 0, left: 1},           // backed off to 1s
			{at: 1500 * time.Millisecond, notices: 1, head: 6, left: 1}, // then 2s
			{at: 3000 * time.Millisecond, notices: 0, left: 1},
			{at: 3500 * time.Millisecond, notices: 1, head: 6, left: 1},
		}},
		{"back-off stops at MaxBackoff, and gives up after GiveUpAfter", func(p *pendingTable) {
			p.forwarded(1, "ann", loc, 5, at(0))
			for _, d := range []time.Duration{500, 1500, 3500, 7500, 11500, 15500} {
				p.due(at(d*time.Millisecond), all)
			}
		}, []check{
			{at: 19500 * time.Millisecond, notices: 1, left: 1}, // 4s after the last
			{at: 30 * time.Second, notices: 0, left: 0},
		}},
		{"partial ack restarts the timer", func(p *pendingTable) {
			p.forwarded(1, "ann", loc, 5, at(0))
			p.forwarded(1, "ann", loc, 9, at(0))
			p.ack("n2", []vlr.DeliveryAck{{User: "ann", Device: "phone", Epoch: 3, Seq: 7}}, at(400*time.Millisecond))
		}, []check{
			{at: 600 * time.Millisecond, notices: 0, left: 1},
			{at: 900 * time.Millisecond, notices: 1, head: 9, left: 1},
		}},
		{"gone clears; acks from another node or epoch do not", func(p *pendingTable) {
			p.forwarded(1, "ann", loc, 5, at(0))
			p.ack("n3", []vlr.DeliveryAck{{User: "ann", Device: "phone", Epoch: 3, Seq: 5}}, at(0))
			p.ack("n2", []vlr.DeliveryAck{{User: "ann", Device: "phone", Epoch: 2, Seq: 5}}, at(0))
			p.forwarded(1, "bob", loc, 1, at(0))
			p.ack("n2", []vlr.DeliveryAck{{User: "bob", Device: "phone", Epoch: 3, Gone: true}}, at(0))
		}, []check{{at: 500 * time.Millisecond, notices: 1, head: 5, left: 1}}},
		{"a new location replaces the entry; an older one is ignored", func(p *pendingTable) {
			p.forwarded(1, "ann", loc, 5, at(0))
			p.forwarded(1, "ann", hlr.Location{Device: "phone", Node: "n3", Epoch: 4}, 6, at(200*time.Millisecond))
			p.forwarded(1, "ann", loc, 7, at(300*time.Millisecond))
		}, []check{{at: 500 * time.Millisecond, notices: 0, left: 1}, {at: 700 * time.Millisecond, notices: 1, head: 6, left: 1}}},
		{"seeded entries are due at once", func(p *pendingTable) {
			p.seed(1, "ann", loc, 40, at(0))
		}, []check{{at: 0, notices: 1, head: 40, left: 1}}},
		{"the cap: further devices are not tracked", func(p *pendingTable) {
			for i := 0; i < 6; i++ {
				p.forwarded(1, fmt.Sprint("u", i), loc, 1, at(0))
			}
		}, []check{{at: 500 * time.Millisecond, notices: 4, left: 4}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := newPendingTable(testDeliveryConfig())
			tc.run(p)
			for i, c := range tc.checks {
				due := p.due(at(c.at), all)
				n := 0
				var head uint64
				for _, ns := range due {
					n += len(ns)
					if len(ns) > 0 && head == 0 {
						head = ns[0].Head
					}
				}
				if n != c.notices || (c.head != 0 && head != c.head) || p.len() != c.left {
					t.Fatalf("check %d at %v: %d notices (head %d), %d entries; want %d (head %d), %d", i, c.at, n, head, p.len(), c.notices, c.head, c.left)
				}
			}
		})
	}
}

// TestPendingTable_LeadershipAndNodes: entries go with the leadership of
// their partition and with the node of their device.
func TestPendingTable_LeadershipAndNodes(t *testing.T) {
	p := newPendingTable(DefaultDeliveryConfig())
	now := time.Unix(1000, 0)
	p.forwarded(1, "ann", hlr.Location{Device: "d", Node: "n2", Epoch: 1}, 1, now)
	p.forwarded(2, "bob", hlr.Location{Device: "d", Node: "n2", Epoch: 1}, 1, now)
	p.forwarded(2, "cat", hlr.Location{Device: "d", Node: "n3", Epoch: 1}, 1, now)
	due := p.due(now.Add(time.Second), func(pid uint16) bool { return pid == 2 })
	if len(due["n2"]) != 1 || due["n2"][0].User != "bob" || len(due["n3"]) != 1 || p.len() != 2 {
		t.Fatalf("due %+v, %d left", due, p.len())
	}
	p.dropNode("n3")
	if p.len() != 1 {
		t.Fatalf("%d left after dropping n3", p.len())
	}
	p.dropPartition(2)
	if p.len() != 0 {
		t.Fatalf("%d left after dropping partition 2", p.len())
	}
	if st := p.stats(); st.Tracked != 3 || st.Dropped != 3 || st.Notices != 2 {
		t.Fatalf("stats %+v", st)
	}
}

// BenchmarkPendingTable_ForwardAck is the leader's bookkeeping per
// message delivered to a device on another node: the forward is recorded,
// and the acknowledgement clears it (acks arrive batched: here every 64
// forwards, over 1024 devices).
func BenchmarkPendingTable_ForwardAck(b *testing.B) {
	p := newPendingTable(DefaultDeliveryConfig())
	const devices, batch = 1024, 64
	users := make([]string, devices)
	for i := range users {
		users[i] = fmt.Sprintf("user%04d", i)
	}
	loc := hlr.Location{Device: "phone", Node: "n2", Epoch: 1}
	acks := make([]vlr.DeliveryAck, 0, batch)
	now := time.Now()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		u := users[i%devices]
		seq := uint64(i/devices + 1)
		p.forwarded(1, u, loc, seq, now)
		acks = append(acks, vlr.DeliveryAck{User: u, Device: "phone", Epoch: 1, Seq: seq})
		if len(acks) == batch {
			p.ack("n2", acks, now)
			acks = acks[:0]
		}
	}
}

// TestPendingTable_FastNoticesBeforeBackoff: the first FastNotices notices
// come RepairInterval apart, so a device whose notices are lost at random
// still gets one through within the delivery bound; only then do they
// back off (AckTimeout doubling to MaxBackoff).
func TestPendingTable_FastNoticesBeforeBackoff(t *testing.T) {
	cfg := DefaultDeliveryConfig() // AckTimeout 500ms, RepairInterval 250ms, FastNotices 6
	p := newPendingTable(cfg)
	t0 := time.Unix(1000, 0)
	all := func(uint16) bool { return true }
	p.forwarded(1, "ann", hlr.Location{Device: "phone", Node: "n2", Epoch: 3}, 5, t0)
	var sent []time.Duration
	for d := time.Duration(0); d <= 6*time.Second; d += 50 * time.Millisecond {
		for _, ns := range p.due(t0.Add(d), all) {
			for range ns {
				sent = append(sent, d)
			}
		}
	}
	want := []time.Duration{500, 750, 1000, 1250, 1500, 1750, 2000, 3000, 5000}
	if len(sent) != len(want) {
		t.Fatalf("notices at %v, want %v ms", sent, want)
	}
	for i, w := range want {
		if sent[i] != w*time.Millisecond {
			t.Fatalf("notices at %v, want %v ms", sent, want)
		}
	}
}

// TestDeliveryRepair_KeepsEntriesOfANodeNotKnownYet: a repair entry for a
// device on a node gossip has not told this one about yet (a restarting
// node leads before it has heard of every member) waits for the node's
// address instead of being dropped as if the node had left the cluster.
func TestDeliveryRepair_KeepsEntriesOfANodeNotKnownYet(t *testing.T) {
	n := startNode(t, testConfig(t, t.TempDir()))
	defer shutdown(t, n)
	pid := n.rt.partitionOf("ann")
	n.dl.pending.seed(pid, "ann", hlr.Location{Device: "phone", Node: "not-heard-of-yet", Epoch: 1}, 7, time.Now())
	n.dl.repair()
	if got := n.dl.pending.len(); got != 1 {
		t.Fatalf("%d entries after a repair pass, want the one for the node not known yet", got)
	}
	if st := n.dl.pending.stats(); st.Dropped != 0 {
		t.Fatalf("stats %+v: want nothing dropped", st)
	}
}
