package node

import (
	"slices"
	"time"

	"github.com/hashicorp/raft"

	"github.com/roamhq/roam/node/gossip"
	"github.com/roamhq/roam/ring"
)

// The reconciler is the node's one goroutine of its own. On every
// membership change and every ReconcileInterval it:
//
//  1. recomputes the ring placement from gossip (clusterView);
//  2. opens, without bootstrapping, every partition placed on this node
//     that is not open yet (the leader will add it);
//  3. for each partition this node leads, makes at most one membership
//     change toward the placement: add a missing replica as a non-voter;
//     promote a non-voter once it has caught up; and only when every
//     placed replica is a voter, remove one server that is not placed
//     (transferring leadership first if that server is this node). A
//     partition is therefore never reconfigured below R voters, and a dead
//     node is replaced only after DeadGrace, when placement drops it;
//  4. deletes its copy of a partition it is not placed on once the leader
//     confirms this node is no longer a member;
//  5. hands the leadership of a settled partition (voters = placement) to
//     the placement's preferred replica, a few partitions per round, so
//     leaders — and so the write load — spread over the nodes instead of
//     staying on the node that created the cluster;
//  6. tells presence about new and gone nodes, and gossips its load.

// catchUpSlack is how many log entries a non-voter may trail the leader
// by and still be promoted.
const catchUpSlack = 64

// changeTimeout bounds one membership change.
const changeTimeout = 5 * time.Second

// maxTransfersPerRound bounds the leadership hand-offs to preferred
// replicas one node starts per reconcile round.
const maxTransfersPerRound = 4

func (n *Node) reconcileLoop() {
	t := time.NewTicker(n.cfg.ReconcileInterval)
	defer t.Stop()
	n.reconcileOnce()
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-t.C:
		case <-n.gossip.Changes():
		}
		n.reconcileOnce()
	}
}

func (n *Node) reconcileOnce() {
	pl := n.refreshView()
	n.view.mu.Lock()
	members := n.view.members
	n.view.mu.Unlock()
	n.presence.membersChanged(members)
	n.gossip.SetLoad(uint32(n.vlr.Sessions()))
	if pl == nil {
		return
	}
	me := n.meta.NodeID
	transfers := 0
	for pid := 0; pid < n.meta.Partitions && n.ctx.Err() == nil; pid++ {
		pid := uint16(pid)
		placed := slices.Contains(pl.Replicas(pid), me)
		p, open := n.host.Partition(pid)
		switch {
		case placed && !open:
			if err := n.openPartition(pid, nil); err != nil {
				n.log.Warn("open placed partition", "partition", pid, "err", err)
			}
		case open && p.IsLeader():
			if settled := n.reconcilePartition(pid, p.Raft(), pl); settled && transfers < maxTransfersPerRound {
				if n.preferLeader(pid, p.Raft(), pl) {
					transfers++
				}
			}
		case open && !placed:
			n.maybeDrop(pid)
		}
	}
}

// reconcilePartition makes at most one membership change of pid, which
// this node leads. It reports whether the partition is settled: its
// voters are exactly the placement and nothing needed changing.
func (n *Node) reconcilePartition(pid uint16, r *raft.Raft, pl *ring.Placement) (settled bool) {
	f := r.GetConfiguration()
	if f.Error() != nil {
		return false
	}
	cfg, idx := f.Configuration(), f.Index()
	servers := make(map[string]raft.Server, len(cfg.Servers))
	for _, s := range cfg.Servers {
		servers[string(s.ID)] = s
	}
	desired := pl.Replicas(pid)
	log := n.log.With("partition", pid)
	change := func(what string, fut raft.IndexFuture, id string) {
		if err := fut.Error(); err != nil {
			log.Debug("membership change failed", "change", what, "server", id, "err", err)
			return
		}
		log.Info("membership changed", "change", what, "server", id)
	}

	// 1. A placed replica that is not in the configuration: add it as a
	// non-voter so it catches up without counting toward quorum.
	for _, id := range desired {
		if _, ok := servers[id]; ok {
			continue
		}
		addr := n.internalAddrOf(id)
		if addr == "" {
			continue
		}
		change("add-nonvoter", r.AddNonvoter(raft.ServerID(id), raft.ServerAddress(addr), idx, changeTimeout), id)
		return false
	}
	// 2. A placed non-voter that has caught up: promote it.
	for _, id := range desired {
		s := servers[id]
		if s.Suffrage != raft.Nonvoter {
			continue
		}
		st, err := n.askStatus(n.ctx, string(s.Address), pid)
		if err != nil || !st.Open || st.LastIndex+catchUpSlack < r.LastIndex() {
			continue
		}
		change("promote", r.AddVoter(s.ID, s.Address, idx, changeTimeout), id)
		return false
	}
	// 3. Remove a server that is not placed, only once every placed
	// replica is a voter: the group never drops below R voters.
	for _, id := range desired {
		if servers[id].Suffrage != raft.Voter {
			return false
		}
	}
	for _, s := range cfg.Servers {
		if slices.Contains(desired, string(s.ID)) {
			continue
		}
		if string(s.ID) == n.meta.NodeID {
			// Hand leadership to a placed voter; the new leader removes us.
			if err := r.LeadershipTransfer().Error(); err != nil {
				log.Debug("leadership transfer failed", "err", err)
			} else {
				log.Info("leadership transferred before leaving the partition")
			}
			return false
		}
		change("remove", r.RemoveServer(s.ID, idx, changeTimeout), string(s.ID))
		return false
	}
	// 4. A placed voter whose address changed (a restart on a new port).
	for _, id := range desired {
		s := servers[id]
		if addr := n.internalAddrOf(id); addr != "" && string(s.Address) != addr {
			change("readdress", r.AddVoter(s.ID, raft.ServerAddress(addr), idx, changeTimeout), id)
			return false
		}
	}
	return true
}

// preferLeader hands the leadership of pid to the placement's preferred
// replica (its first) when that is another voter that has caught up. It
// reports whether a transfer was started.
func (n *Node) preferLeader(pid uint16, r *raft.Raft, pl *ring.Placement) bool {
	reps := pl.Replicas(pid)
	if len(reps) == 0 || reps[0] == n.meta.NodeID {
		return false
	}
	addr := n.internalAddrOf(reps[0])
	if addr == "" {
		return false
	}
	if m, ok := n.member(reps[0]); !ok || m.State != gossip.StateAlive {
		return false
	}
	st, err := n.askStatus(n.ctx, addr, pid)
	if err != nil || !st.Open || st.LastIndex+catchUpSlack < r.LastIndex() {
		return false
	}
	if err := r.LeadershipTransferToServer(raft.ServerID(reps[0]), raft.ServerAddress(addr)).Error(); err != nil {
		n.log.Debug("leadership transfer to the preferred replica failed", "partition", pid, "to", reps[0], "err", err)
		return false
	}
	n.log.Info("leadership moved to the preferred replica", "partition", pid, "to", reps[0])
	return true
}

// maybeDrop deletes this node's copy of pid, which placement no longer
// assigns here, once the partition's leader confirms this node is not in
// its configuration any more.
func (n *Node) maybeDrop(pid uint16) {
	if member, known := n.stillMember(pid); !known || member {
		return
	}
	if err := n.closePartition(pid); err != nil {
		n.log.Warn("drop partition", "partition", pid, "err", err)
		return
	}
	n.log.Info("partition handed off and dropped", "partition", pid)
}

// stillMember asks the current leader of pid whether this node is in the
// partition's configuration. A removed node may never see its removal
// (the leader stops replicating to it), so the leader is the one to ask:
// the one this node last saw, else the placed replicas in turn. known is
// false when no leader answered.
func (n *Node) stillMember(pid uint16) (member, known bool) {
	var cands []string
	if p, ok := n.host.Partition(pid); ok {
		if _, addr := p.Leader(); addr != "" && addr != n.internalAddr {
			cands = append(cands, addr)
		}
	}
	if pl := n.currentPlacement(); pl != nil {
		for _, id := range pl.Replicas(pid) {
			if a := n.internalAddrOf(id); a != "" && a != n.internalAddr && !slices.Contains(cands, a) {
				cands = append(cands, a)
			}
		}
	}
	for _, addr := range cands {
		st, err := n.askStatus(n.ctx, addr, pid)
		if err == nil && st.Leader {
			return slices.Contains(st.Servers, n.meta.NodeID), true
		}
	}
	return false, false
}

// drain hands this node's leaderships and replicas to the others before a
// graceful shutdown: gossip announces the leave (placement drops this node
// at once on every node), this node transfers the leadership of what it
// leads, and waits — up to the drain time — until the leaders have removed
// it from every partition.
func (n *Node) drain() {
	if len(n.aliveMembers()) < 2 {
		return // alone: nobody to hand anything to
	}
	deadline := time.Now().Add(n.drainTime())
	n.gossip.Leave(2 * time.Second)
	for time.Now().Before(deadline) {
		n.refreshView()
		if len(n.aliveMembers()) < 2 {
			n.log.Info("drain: no other live node to hand off to")
			return // the others are leaving too (a whole-cluster stop)
		}
		busy := 0
		for _, pid := range n.openPids() {
			p, ok := n.host.Partition(pid)
			if !ok {
				continue
			}
			if p.IsLeader() {
				busy++
				p.Raft().LeadershipTransfer()
				continue
			}
			if member, known := n.stillMember(pid); member || !known {
				busy++
			}
		}
		if busy == 0 {
			n.log.Info("drained: no partition has this node any more")
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	n.log.Warn("drain time ran out; stopping with replicas still here")
}

// drainTime bounds the hand-off at graceful shutdown.
func (n *Node) drainTime() time.Duration {
	return max(10*time.Second, 10*n.cfg.ReconcileInterval)
}
