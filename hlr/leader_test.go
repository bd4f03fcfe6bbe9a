package hlr

import (
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/vfs"
)

// leaderLog records OnLeader calls.
type leaderLog struct {
	mu    sync.Mutex
	calls []leaderCall
}

type leaderCall struct {
	pid    uint16
	leader bool
}

func (l *leaderLog) hook(pid uint16, leader bool) {
	l.mu.Lock()
	l.calls = append(l.calls, leaderCall{pid, leader})
	l.mu.Unlock()
}

func (l *leaderLog) last(pid uint16) (leaderCall, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	var out leaderCall
	for _, c := range l.calls {
		if c.pid == pid {
			out = c
			n++
		}
	}
	return out, n
}

// TestOnLeader_ReportsGainAndLoss: the hook hears that a node leads a
// partition once it does, that it stopped after a leadership transfer (and
// the new leader hears it leads), and that it stopped when the partition
// closes or the host shuts down; calls alternate per partition.
func TestOnLeader_ReportsGainAndLoss(t *testing.T) {
	la, lb := &leaderLog{}, &leaderLog{}
	a := newTestNode(t, "a", vfs.NewMem())
	b := newTestNode(t, "b", vfs.NewMem())
	a.hook = func(h *Host) { h.OnLeader(la.hook) }
	b.hook = func(h *Host) { h.OnLeader(lb.hook) }
	a.start()
	b.start()
	a.trans.Connect(b.addr, b.trans)
	b.trans.Connect(a.addr, a.trans)
	pa := a.open(testPID, a.self())
	waitLeader(t, pa)
	waitFor(t, "a to hear it leads", 5*time.Second, func() bool {
		c, n := la.last(testPID)
		return n == 1 && c.leader
	})
	pb := b.open(testPID, nil)
	if err := pa.Raft().AddVoter("b", b.addr, 0, 10*time.Second).Error(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "b to catch up", 10*time.Second, func() bool { return pb.AppliedIndex() >= pa.AppliedIndex() })
	if err := pa.Raft().LeadershipTransfer().Error(); err != nil {
		t.Fatal(err)
	}
	waitLeader(t, pb)
	waitFor(t, "both to hear of the transfer", 5*time.Second, func() bool {
		ca, na := la.last(testPID)
		cb, nb := lb.last(testPID)
		return na == 2 && !ca.leader && nb == 1 && cb.leader
	})
	// A second partition on b alone: closing it reports the loss.
	p2 := b.open(testPID+1, b.self())
	waitLeader(t, p2)
	waitFor(t, "b to lead the second partition", 5*time.Second, func() bool {
		c, n := lb.last(testPID + 1)
		return n == 1 && c.leader
	})
	if err := b.host.Close(testPID+1, false); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the close to be reported", 5*time.Second, func() bool {
		c, n := lb.last(testPID + 1)
		return n == 2 && !c.leader
	})
	// Shutdown reports the loss of what b still leads.
	b.stop()
	if c, n := lb.last(testPID); n != 2 || c.leader {
		t.Fatalf("after shutdown b's last call for %d is %+v (%d calls)", testPID, c, n)
	}
	for _, l := range []*leaderLog{la, lb} {
		l.mu.Lock()
		seen := map[uint16]bool{}
		for _, c := range l.calls {
			if seen[c.pid] == c.leader {
				t.Fatalf("calls do not alternate: %+v", l.calls)
			}
			seen[c.pid] = c.leader
		}
		l.mu.Unlock()
	}
}

// TestOnLeader_LateSubscriberHearsCurrentLeaderships: a subscriber added
// while the node already leads is told so at once, next to one that was
// there from the start, and both hear the loss at shutdown.
func TestOnLeader_LateSubscriberHearsCurrentLeaderships(t *testing.T) {
	early, late := &leaderLog{}, &leaderLog{}
	a := newTestNode(t, "a", vfs.NewMem())
	a.hook = func(h *Host) { h.OnLeader(early.hook) }
	a.start()
	p := a.open(testPID, a.self())
	waitLeader(t, p)
	waitFor(t, "the early subscriber to hear it leads", 5*time.Second, func() bool {
		c, n := early.last(testPID)
		return n == 1 && c.leader
	})
	a.host.OnLeader(late.hook)
	waitFor(t, "the late subscriber to hear it leads", 5*time.Second, func() bool {
		c, n := late.last(testPID)
		return n == 1 && c.leader
	})
	a.stop()
	for name, l := range map[string]*leaderLog{"early": early, "late": late} {
		if c, n := l.last(testPID); n != 2 || c.leader {
			t.Fatalf("%s subscriber: last call %+v after %d calls, want a loss as the second", name, c, n)
		}
	}
}
