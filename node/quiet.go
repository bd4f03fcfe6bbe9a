package node

import (
	"time"

	"github.com/hashicorp/raft"

	"github.com/roamhq/roam/hlr"
)

// Quiet leaders. A Raft leader sends each follower a heartbeat every
// tenth to fifth of its heartbeat timeout, from a timer of its own per
// group and follower: with 64 partitions that wake-up, the heartbeat and
// its answer were most of an idle cluster's CPU. hashicorp/raft has no
// quiescence, but its heartbeat timeout is reloadable, and the leader's
// only sets how often it sends heartbeats; the followers' own timeout
// decides when they stand for election. So a leader runs with a longer
// heartbeat timeout — quietTiming — and every other replica with the
// configured one, and failover is as fast as before:
//
//   - followers still stand 1-2 configured heartbeat timeouts after the
//     last word from their leader, and the leader's heartbeats still come
//     well within that (at most lease/2 apart, the lease being at most
//     the heartbeat timeout);
//   - the leader still hears from a quorum well within its lease (raft
//     steps a leader down that has not): heartbeats at most lease/2 apart;
//   - appends are unaffected, and so are reads: VerifyLeader asks for a
//     heartbeat round at once, whatever the interval.
//
// The reconciler's goroutine is not involved: quietLoop checks every
// partition's state every quietCheck and switches a replica's timing when
// it wins or loses leadership (raft applies a shorter timeout at once, so
// a leader that steps down is a follower with the configured timeout at
// most quietCheck later). The election boost (boost.go) sets shorter
// timings only on partitions without a leader; a leader it resets is
// quietened again on the next check.

// quietCheck is how often partitions are checked for a change of
// leadership.
const quietCheck = 100 * time.Millisecond

// quietTiming returns the heartbeat timeout a leader runs with: 2.5
// leases, so that its heartbeats (every tenth to fifth of it) come at
// most half a lease apart. ok is false when that would not be longer
// than the configured timeout.
func quietTiming(t hlr.RaftTiming) (time.Duration, bool) {
	d := t.LeaderLeaseTimeout * 5 / 2
	return d, d > t.HeartbeatTimeout
}

// quietLoop keeps leaders on the quiet timing and everybody else on the
// configured one.
func (n *Node) quietLoop() {
	t := n.cfg.HLR.Raft
	quiet, ok := quietTiming(t)
	if !ok {
		return
	}
	tick := time.NewTicker(quietCheck)
	defer tick.Stop()
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-tick.C:
		}
		for _, pid := range n.openPids() {
			p, open := n.host.Partition(pid)
			if !open {
				continue
			}
			if err := applyQuiet(p.Raft(), quiet, t); err != nil {
				n.log.Debug("quiet leader timing", "partition", pid, "err", err)
			}
		}
	}
}

// applyQuiet puts r on the quiet timing if it leads, and back on the
// configured one if it has the quiet timing and does not.
func applyQuiet(r *raft.Raft, quiet time.Duration, t hlr.RaftTiming) error {
	hb := r.ReloadableConfig().HeartbeatTimeout
	switch leader := r.State() == raft.Leader; {
	case leader && hb != quiet:
		return setElectionTiming(r, quiet, max(quiet, t.ElectionTimeout))
	case !leader && hb == quiet:
		return setElectionTiming(r, t.HeartbeatTimeout, t.ElectionTimeout)
	}
	return nil
}
