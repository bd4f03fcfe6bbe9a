package node

import (
	"context"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/hashicorp/raft"

	"github.com/roamhq/roam/hlr"
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
//     change toward the placement, the one plan (reconcile_plan.go, a
//     pure function) picks: add a missing replica as a non-voter; promote
//     a non-voter once it has caught up; and only when every placed
//     replica is a voter, remove one server that is not placed
//     (transferring leadership first if that server is this node), never
//     one whose removal would leave the voters without a live majority;
//     re-address a voter that moved. A partition is therefore never
//     reconfigured below R voters, and a dead node is replaced only after
//     DeadGrace, when placement drops it;
//  4. deletes its copy of a partition it is not placed on once the leader
//     confirms this node is no longer a member;
//  5. balances leaderships (balance.go): a leader hands a settled
//     partition to another voter that leads at least two fewer, the
//     placement's preferred replica if it qualifies, or the least loaded
//     one when this node leads more than its share; a few per round;
//  6. tells presence about new and gone nodes, and gossips its load and
//     how many partitions it leads.
//
// Right after the node starts it also shortens the election timing of
// the partitions that know no leader, until they have one (boost.go).

// catchUpSlack is how many log entries a non-voter may trail the leader
// by and still be promoted.
const catchUpSlack = 64

// changeTimeout bounds one membership change.
const changeTimeout = 5 * time.Second

// transferCheckTimeout bounds the question whether a transfer target has
// caught up.
const transferCheckTimeout = 500 * time.Millisecond

// maxTransfersPerRound bounds the leadership hand-offs for balance one
// node starts per reconcile round (at most one to each other node).
const maxTransfersPerRound = 4

func (n *Node) reconcileLoop() {
	t := time.NewTicker(n.cfg.ReconcileInterval)
	defer t.Stop()
	boost := newElectionBoost() // see boost.go
	bt := time.NewTicker(boostCheck)
	defer bt.Stop()
	n.reconcileOnce()
	for {
		var boostC <-chan time.Time
		if boost.pending() {
			boostC = bt.C
		}
		select {
		case <-n.ctx.Done():
			return
		case <-boostC:
			boost.tick(n)
			continue
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
		n.gossip.SetLeaders(n.countLeaders())
		return
	}
	me := n.meta.NodeID
	var settled []uint16
	for pid := 0; pid < n.meta.Partitions && n.ctx.Err() == nil; pid++ {
		pid := uint16(pid)
		placed := slices.Contains(pl.Replicas(pid), me)
		p, open := n.host.Partition(pid)
		switch {
		case placed && !open:
			if err := n.openPartition(pid, nil); err != nil {
				n.log.Warn("open placed partition", "partition", pid, "err", err)
			}
		case open && p.IsLeader() && p.TransferStuck(n.stuckTransferLimit()):
			n.restartPartition(pid) // transfer_stuck.go
		case open && p.IsLeader():
			if n.reconcilePartition(pid, p.Raft(), pl) {
				settled = append(settled, pid)
			}
		case open && !placed:
			n.maybeDrop(pid)
		}
	}
	n.balanceLeaders(pl, settled)
}

// countLeaders counts the partitions this node leads.
func (n *Node) countLeaders() int {
	led := 0
	n.host.Each(func(p *hlr.Partition) {
		if p.IsLeader() {
			led++
		}
	})
	return led
}

// leaderCounts returns the leader counts other live nodes gossip (nodes
// that say nothing are left out) and how many nodes are live, this one
// included. A node that is leaving is not live.
func (n *Node) leaderCounts() (map[string]int, int) {
	counts := map[string]int{}
	live := 0
	for _, m := range n.aliveMembers() {
		if m.Leaving || (m.Draining && m.ID != n.meta.NodeID) {
			continue // a draining node takes no leaderships (drain.go)
		}
		live++
		if m.ID != n.meta.NodeID && m.Meta.Leaders >= 0 {
			counts[m.ID] = m.Meta.Leaders
		}
	}
	return counts, max(live, 1)
}

// liveVoters lists the voters of r's configuration, other than this node,
// that gossip reports alive and not leaving.
func (n *Node) liveVoters(r *raft.Raft) []string {
	f := r.GetConfiguration()
	if f.Error() != nil {
		return nil
	}
	var out []string
	for _, s := range f.Configuration().Servers {
		id := string(s.ID)
		if s.Suffrage != raft.Voter || id == n.meta.NodeID {
			continue
		}
		if m, ok := n.member(id); ok && m.State == gossip.StateAlive && !m.Leaving && !m.Draining {
			out = append(out, id)
		}
	}
	return out
}

// balanceLeaders hands some of the settled partitions this node leads to
// other voters (see balance.go), and gossips the count it leads.
func (n *Node) balanceLeaders(pl *ring.Placement, settled []uint16) {
	mine := n.countLeaders()
	n.gossip.SetLeaders(mine)
	if len(settled) == 0 {
		return
	}
	counts, live := n.leaderCounts()
	limit := leadershipLimit(n.meta.Partitions, live)
	used := map[string]bool{}
	moves := 0
	for _, pid := range settled {
		if moves >= maxTransfersPerRound || n.ctx.Err() != nil {
			break
		}
		p, ok := n.host.Partition(pid)
		if !ok || !p.IsLeader() {
			continue
		}
		r := p.Raft()
		for _, to := range transferTargets(mine, n.liveVoters(r), pl.Leader(pid), counts, limit) {
			if used[to] {
				continue
			}
			used[to] = true // one hand-off (or failed try) per node and round
			started, tried := n.transferTo(pid, r, to, "balance")
			if started {
				mine--
				counts[to]++
				moves++
				n.gossip.SetLeaders(mine)
			}
			if tried {
				break
			}
		}
	}
}

// transferTo hands the leadership of pid to voter to, if it has caught up.
// tried is false when it had not (the caller may pick another voter);
// started says the transfer went through.
func (n *Node) transferTo(pid uint16, r *raft.Raft, to, why string) (started, tried bool) {
	addr := n.internalAddrOf(to)
	if addr == "" || n.rt.health.suspect(addr, time.Now()) {
		return false, false
	}
	// A live node answers at once; one that does not (stopped, cut off)
	// must not hold the reconciler for the whole admin timeout.
	ctx, cancel := context.WithTimeout(n.ctx, transferCheckTimeout)
	st, err := n.askStatus(ctx, addr, pid)
	cancel()
	if err != nil || !st.Open || st.LastIndex+catchUpSlack < r.LastIndex() {
		return false, false
	}
	if n.transferHeld(pid, why) {
		return false, true
	}
	if err := r.LeadershipTransferToServer(raft.ServerID(to), raft.ServerAddress(addr)).Error(); err != nil {
		n.log.Debug("leadership transfer failed", "partition", pid, "to", to, "why", why, "err", err)
		n.transferFailed(pid)
		return false, true
	}
	n.log.Info("leadership transferred", "partition", pid, "to", to, "why", why)
	n.changes.count("transfer")
	return true, true
}

// handOff hands the leadership of pid, which this node leads, to the live
// voter that leads the fewest partitions and has caught up, else to
// whichever voter raft picks. It reports whether a transfer went through.
func (n *Node) handOff(pid uint16, r *raft.Raft, why string) bool {
	counts, _ := n.leaderCounts()
	voters := n.liveVoters(r)
	if len(voters) > 1 {
		// Rotate by partition, so that many hand-offs in one round (with
		// the same, stale, counts) do not all pick the same node.
		k := int(pid) % len(voters)
		voters = append(voters[k:], voters[:k]...)
	}
	sort.SliceStable(voters, func(i, j int) bool {
		ci, oki := counts[voters[i]]
		cj, okj := counts[voters[j]]
		if oki != okj {
			return oki
		}
		return ci < cj
	})
	for _, to := range voters {
		if started, tried := n.transferTo(pid, r, to, why); tried {
			return started
		}
	}
	if n.transferHeld(pid, why) {
		return false
	}
	if err := r.LeadershipTransfer().Error(); err != nil {
		n.log.Debug("leadership transfer failed", "partition", pid, "why", why, "err", err)
		n.transferFailed(pid)
		return false
	}
	n.log.Info("leadership transferred", "partition", pid, "why", why)
	n.changes.count("transfer")
	return true
}

// reconcilePartition makes at most one membership change of pid, which
// this node leads: it gathers what plan needs (reconcile_plan.go), asks
// it which change to make and makes it. It reports whether the partition
// is settled: its voters are exactly the placement and nothing needed
// changing.
func (n *Node) reconcilePartition(pid uint16, r *raft.Raft, pl *ring.Placement) (settled bool) {
	f := r.GetConfiguration()
	if f.Error() != nil {
		return false
	}
	cfg, idx := f.Configuration(), f.Index()
	conf := make([]confServer, 0, len(cfg.Servers))
	for _, s := range cfg.Servers {
		conf = append(conf, confServer{ID: string(s.ID), Addr: string(s.Address), Voter: s.Suffrage == raft.Voter})
	}
	var placed []placedReplica
	for _, id := range pl.Replicas(pid) {
		placed = append(placed, placedReplica{ID: id, Addr: n.internalAddrOf(id)})
	}
	c := plan(conf, placed, n.planStatus(pid, r, conf, placed))

	log := n.log.With("partition", pid)
	done := func(fut raft.IndexFuture) {
		if err := fut.Error(); err != nil {
			log.Debug("membership change failed", "change", c.Kind.String(), "server", c.ID, "err", err)
			return
		}
		log.Info("membership changed", "change", c.Kind.String(), "server", c.ID)
		n.changes.count(c.Kind.String())
	}
	id, addr := raft.ServerID(c.ID), raft.ServerAddress(c.Addr)
	switch c.Kind {
	case changeNone:
		return true
	case changeAddNonvoter:
		done(r.AddNonvoter(id, addr, idx, changeTimeout))
	case changePromote, changeReaddress:
		done(r.AddVoter(id, addr, idx, changeTimeout))
	case changeRemove:
		done(r.RemoveServer(id, idx, changeTimeout))
	case changeTransferThenRemove:
		// Hand leadership to a placed voter; the new leader removes us.
		n.handOff(pid, r, "leaving the partition")
	}
	return false
}

// planStatus gathers what plan knows of the servers of pid beyond its
// configuration: gossip's view of every configured and placed node, and
// the progress of each placed non-voter (asked over the admin stream; one
// that does not answer, or has not opened the partition, is unknown).
func (n *Node) planStatus(pid uint16, r *raft.Raft, conf []confServer, placed []placedReplica) planStatus {
	st := planStatus{Self: n.meta.NodeID, Leader: true, Servers: map[string]serverStatus{}}
	look := func(id string) {
		if _, ok := st.Servers[id]; ok {
			return
		}
		var ss serverStatus
		if m, ok := n.member(id); ok {
			ss.Leaving = m.Leaving
			switch m.State {
			case gossip.StateAlive:
				ss.Live = livenessAlive
			case gossip.StateSuspect:
				ss.Live = livenessSuspect
			case gossip.StateDead:
				ss.Live = livenessDead
			}
		}
		if id == n.meta.NodeID {
			ss.Live = livenessAlive
		}
		st.Servers[id] = ss
	}
	for _, s := range conf {
		look(s.ID)
	}
	for _, p := range placed {
		look(p.ID)
	}
	for _, s := range conf {
		if s.Voter || !slices.ContainsFunc(placed, func(p placedReplica) bool { return p.ID == s.ID }) {
			continue
		}
		if ps, err := n.askStatus(n.ctx, s.Addr, pid); err == nil && ps.Open {
			ss := st.Servers[s.ID]
			ss.Known, ss.Match = true, ps.LastIndex
			st.Servers[s.ID] = ss
		}
	}
	st.LastIndex = r.LastIndex()
	return st
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
	n.changes.count("drop")
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
// graceful shutdown: gossip announces the leave (the leaving flag, then
// the leave, each also pushed to every live node over TCP, so no node
// misses it and takes this one for dead; placement drops a leaving node
// at once on every node, and no node hands it a leadership), this node
// transfers the leadership of what it leads to the least loaded live
// voters, several at a time, and waits — up to the drain time — until the
// leaders have removed it from every partition.
func (n *Node) drain() {
	if n.otherLive() == 0 {
		return // alone: nobody to hand anything to
	}
	start := time.Now()
	deadline := start.Add(n.drainTime())
	n.gossip.Leave(2 * time.Second)
	// Gossip may not reach every node: tell each over the internal port
	// too, again every round those that did not answer (leave.go).
	untold := n.peersToTell()
	out := map[uint16]bool{} // partitions whose leader confirmed this node is out
	for time.Now().Before(deadline) {
		if len(untold) > 0 {
			for _, id := range n.announceLeave(untold) {
				delete(untold, id)
			}
		}
		n.refreshView()
		if n.otherLive() == 0 {
			n.log.Info("drain: no other live node to hand off to")
			return // the others are leaving too (a whole-cluster stop)
		}
		var lead []uint16
		busy := 0
		for _, pid := range n.openPids() {
			p, ok := n.host.Partition(pid)
			if !ok || out[pid] {
				continue
			}
			if p.IsLeader() {
				lead = append(lead, pid)
				busy++
				continue
			}
			if member, known := n.stillMember(pid); member || !known {
				busy++
			} else {
				out[pid] = true
			}
		}
		n.handOffAll(lead)
		if busy == 0 {
			n.log.Info("drained: no partition has this node any more", "took", time.Since(start).Round(time.Millisecond))
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	n.log.Warn("drain time ran out; stopping with replicas still here")
}

// otherLive counts the other nodes gossip reports alive and not leaving.
// (Not aliveMembers()-1: once its leave is under way this node may not
// list itself alive.)
func (n *Node) otherLive() int {
	k := 0
	for _, m := range n.aliveMembers() {
		if m.ID != n.meta.NodeID {
			k++
		}
	}
	return k
}

// handOffAll hands off the leadership of pids, a few at a time, and
// returns when every transfer has ended.
func (n *Node) handOffAll(pids []uint16) {
	const parallel = 8
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	for _, pid := range pids {
		p, ok := n.host.Partition(pid)
		if !ok || !p.IsLeader() {
			continue
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			n.handOff(pid, p.Raft(), whyLeavingCluster)
		}()
	}
	wg.Wait()
}

// drainTime bounds the hand-off at graceful shutdown.
func (n *Node) drainTime() time.Duration {
	return max(10*time.Second, 10*n.cfg.ReconcileInterval)
}
