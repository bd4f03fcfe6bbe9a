package node

import (
	"time"

	"github.com/hashicorp/raft"
)

// Elections after a restart. A Raft follower waits a random 1-2 heartbeat
// timeouts (1-2 s by default) without hearing from a leader before it
// stands for election, and a split or refused vote costs 1-2 election
// timeouts more. That is the right pace for noticing a dead leader (the
// heartbeat timeout also sets how often leaders send heartbeats, which
// idle CPU pays for), but after a restart — a power cut of the whole
// cluster — no partition has a leader and every second of it is downtime.
//
// So the partitions a node opens at start that still know no leader a
// fifth of a heartbeat timeout later (two leader heartbeats: a live leader
// would have been heard from) run with short timeouts — half the
// heartbeat timeout, but not below the leader lease, which raft requires
// — until they have a leader, for at most boostFor; then they go back to
// the configured timing. raft applies a shorter heartbeat timeout at
// once, so a boosted follower that has not heard from a leader stands at
// once; pre-vote keeps that from disturbing a partition whose leader is
// alive.

// boostFor bounds how long a partition runs with boosted timing.
const boostFor = 30 * time.Second

// boostCheck is how often boosted partitions are checked for a leader.
const boostCheck = 100 * time.Millisecond

// electionBoost is the reconciler's record of boosted partitions (owned
// by the reconciler goroutine; no lock).
type electionBoost struct {
	opened  time.Time // when the node started
	applied bool
	since   map[uint16]time.Time
}

// boostTiming returns the shortened heartbeat and election timeout, or
// ok=false when the configured timing cannot be shortened.
func (n *Node) boostTiming() (time.Duration, bool) {
	t := n.cfg.HLR.Raft
	d := max(t.HeartbeatTimeout/2, t.LeaderLeaseTimeout)
	return d, d < t.HeartbeatTimeout
}

func newElectionBoost() *electionBoost { return &electionBoost{opened: time.Now()} }

// apply boosts every open partition that knows no leader.
func (b *electionBoost) apply(n *Node) {
	b.applied = true
	d, ok := n.boostTiming()
	if !ok {
		return
	}
	b.since = map[uint16]time.Time{}
	for _, pid := range n.openPids() {
		p, open := n.host.Partition(pid)
		if !open {
			continue
		}
		if id, _ := p.Leader(); id != "" {
			continue
		}
		if err := setElectionTiming(p.Raft(), d, d); err != nil {
			n.log.Debug("boost elections", "partition", pid, "err", err)
			continue
		}
		b.since[pid] = time.Now()
	}
	if len(b.since) > 0 {
		n.log.Info("partitions without a leader at start: shorter election timing until they have one", "partitions", len(b.since), "timeout", d)
	}
}

// pending reports whether the boost still needs checks.
func (b *electionBoost) pending() bool { return !b.applied || len(b.since) > 0 }

// tick applies the boost once the grace after the start has passed, and
// restores the configured timing of boosted partitions that have a leader
// now, or that have been boosted for boostFor.
func (b *electionBoost) tick(n *Node) {
	if !b.applied {
		if time.Since(b.opened) < n.cfg.HLR.Raft.HeartbeatTimeout/5 {
			return
		}
		b.apply(n)
	}
	t := n.cfg.HLR.Raft
	for pid, since := range b.since {
		p, open := n.host.Partition(pid)
		if !open {
			delete(b.since, pid)
			continue
		}
		if id, _ := p.Leader(); id == "" && time.Since(since) < boostFor {
			continue
		}
		if err := setElectionTiming(p.Raft(), t.HeartbeatTimeout, t.ElectionTimeout); err != nil {
			n.log.Warn("restore election timing", "partition", pid, "err", err)
		}
		delete(b.since, pid)
	}
}

// setElectionTiming changes a running group's heartbeat and election
// timeouts, keeping its other reloadable settings.
func setElectionTiming(r *raft.Raft, heartbeat, election time.Duration) error {
	rc := r.ReloadableConfig()
	rc.HeartbeatTimeout, rc.ElectionTimeout = heartbeat, election
	return r.ReloadConfig(rc)
}
