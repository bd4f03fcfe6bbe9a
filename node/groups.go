package node

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/roamhq/roam/hlr"
)

// Group fan-out by node interest (effect_group.go has the kinds).
//
//   - Each node's registrar (group_registrar.go) registers, with the
//     leader of each group's partition, the local members that have a
//     synced session in the group; the vlr reports them.
//   - The leader keeps that interest in its groupTable (volatile) and
//     sends each committed entry of a group once per interested node,
//     with the members at that node it is for (kindGroupDeliver); the
//     node hands it to its sessions. Inter-node cost is O(nodes), not
//     O(members).
//   - Repair: a node acknowledges each forward (kindGroupAck); a forward
//     not acknowledged in time is followed by a notice of the group's head
//     (kindGroupNotice), and the node's sessions catch up from the stream.
//   - A new leader starts with no interest: on winning a partition it asks
//     every node to register that partition's groups again
//     (kindGroupRegroup), and the heads it answers those registrations
//     with let the sessions catch up what was committed meanwhile. Nodes
//     also refresh every registration every RefreshInterval, and a leader
//     forgets a node that stopped refreshing after InterestTTL.
type groupFanout struct {
	n     *Node
	table *groupTable
	reg   *groupRegistrar
	cfg   GroupsConfig
}

// GroupsConfig tunes the group fan-out.
type GroupsConfig struct {
	// RefreshInterval is how often a node registers all its interest
	// again; InterestTTL how long a leader keeps a node's interest
	// without a registration.
	RefreshInterval time.Duration
	InterestTTL     time.Duration
	// Repair timing of unacknowledged forwards, as the 1:1 delivery's:
	// the first notice NoticeAfter after the forward, FastNotices more
	// NoticeAfter apart, then backing off to MaxNoticeInterval.
	NoticeAfter       time.Duration
	FastNotices       int
	MaxNoticeInterval time.Duration
	// RepairInterval is how often the leader looks for notices due.
	RepairInterval time.Duration
}

// DefaultGroupsConfig returns the defaults.
func DefaultGroupsConfig() GroupsConfig {
	return GroupsConfig{
		RefreshInterval:   3 * time.Second,
		InterestTTL:       10 * time.Second,
		NoticeAfter:       250 * time.Millisecond,
		FastNotices:       6,
		MaxNoticeInterval: 2 * time.Second,
		RepairInterval:    50 * time.Millisecond,
	}
}

// Validate checks the configuration.
func (c GroupsConfig) Validate() error {
	switch {
	case c.RefreshInterval <= 0 || c.InterestTTL < 2*c.RefreshInterval:
		return errors.New("node: Groups.RefreshInterval must be positive and InterestTTL at least twice it")
	case c.NoticeAfter <= 0 || c.FastNotices < 0 || c.MaxNoticeInterval < c.NoticeAfter || c.RepairInterval <= 0:
		return errors.New("node: Groups repair timing out of range")
	}
	return nil
}

func newGroupFanout(n *Node, cfg GroupsConfig) *groupFanout {
	g := &groupFanout{n: n, cfg: cfg}
	g.table = newGroupTable(cfg.InterestTTL, repairTiming{
		First: cfg.NoticeAfter, FastNotices: cfg.FastNotices, Fast: cfg.NoticeAfter, Max: cfg.MaxNoticeInterval,
	})
	g.reg = newGroupRegistrar(int(n.meta.Partitions), cfg.RefreshInterval, g.register,
		func(group string, head uint64) { n.vlr.GroupNotice(group, head) })
	return g
}

// run runs the registrar and the repair until the node stops.
func (g *groupFanout) run() {
	g.n.goFunc(func() { g.reg.loop(g.n.ctx) })
	g.n.goFunc(g.repairLoop)
}

// onLeader (hlr.Host.OnLeader): a partition won asks every node for its
// interest in the partition's groups; a partition lost forgets it.
func (g *groupFanout) onLeader(pid uint16, leader bool) {
	if !leader {
		g.table.dropGroups(func(key string) bool { return g.n.rt.partitionOf(key) != pid })
		return
	}
	g.reg.regroup(pid) // this node's own sessions
	ms := g.n.aliveMembers()
	if len(ms) == 0 && g.n.gossip != nil {
		// Before the reconciler's first pass (a restarting node leads
		// before it has a view): gossip itself.
		ms = g.n.gossip.Members()
	}
	for _, m := range ms {
		if m.ID != g.n.meta.NodeID && m.Meta.InternalAddr != "" {
			g.n.gate.Send(m.Meta.InternalAddr, kindGroupRegroup, &groupRegroupBody{PID: pid})
		}
	}
}

// register sends regs to the leader of pid (this node's partition, or
// another node's through the gate) and returns the groups' heads.
func (g *groupFanout) register(ctx context.Context, pid uint16, regs []groupReg) ([]uint64, error) {
	n := g.n
	req := &groupInterestReq{PID: pid, Regs: regs}
	backoff := 0
	for attempt := 0; ; attempt++ {
		if p, ok := n.host.Partition(pid); ok && p.IsLeader() {
			resp, err := g.serve(ctx, n.meta.NodeID, req)
			if err == nil {
				return resp.Heads, nil
			}
		} else if addr := n.leaderAddr(pid, attempt); addr != "" {
			var resp groupInterestResp
			err := n.gate.Call(ctx, addr, kindGroupInterest, req, &resp)
			if _, err = n.remoteErr(ctx, pid, addr, err, cutNone); err == nil {
				return resp.Heads, nil
			}
		}
		if err := wait(ctx, backoff); err != nil {
			return nil, err
		}
		backoff++
	}
}

// serve records node's registrations at this node, which must lead the
// partition, and answers the groups' heads.
func (g *groupFanout) serve(ctx context.Context, node string, r *groupInterestReq) (*groupInterestResp, error) {
	n := g.n
	p, ok := n.host.Partition(r.PID)
	if !ok || !p.IsLeader() {
		return nil, n.notLeader(r.PID)
	}
	v, err := p.View(ctx, false)
	if err != nil {
		if errors.Is(err, hlr.ErrNotLeader) {
			return nil, n.notLeader(r.PID)
		}
		return nil, err
	}
	defer v.Close()
	now := time.Now()
	resp := &groupInterestResp{Heads: make([]uint64, len(r.Regs))}
	for i, reg := range r.Regs {
		key := hlr.GroupKey(reg.Group)
		if n.rt.partitionOf(key) != r.PID {
			return nil, fmt.Errorf("%w: group %q is not in partition %d", hlr.ErrBadEntry, reg.Group, r.PID)
		}
		g.table.register(key, node, reg.Users, now)
		if resp.Heads[i], err = v.GroupHead(reg.Group); err != nil {
			return nil, err
		}
	}
	return resp, nil
}

// repairLoop sends the notices the table finds due.
func (g *groupFanout) repairLoop() {
	t := time.NewTicker(g.cfg.RepairInterval)
	defer t.Stop()
	for {
		select {
		case <-g.n.ctx.Done():
			return
		case <-t.C:
		}
		byNode := map[string][]groupNoticeItem{}
		for _, nt := range g.table.due(time.Now()) {
			byNode[nt.node] = append(byNode[nt.node], groupNoticeItem{Group: nt.group[len(hlr.GroupKeyPrefix):], Head: nt.head})
		}
		for node, items := range byNode {
			b := &groupNoticeBody{Notices: items}
			if node == g.n.meta.NodeID {
				g.n.handleGroupNotice(node, b)
				continue
			}
			g.n.sendTo(node, kindGroupNotice, b)
		}
	}
}

// GroupInterest reports, for group name, how many local users this node
// has registered interest for, and — if this node leads the group's
// partition — how many nodes have registered interest with it.
func (n *Node) GroupInterest(name string) (localUsers, interestedNodes int) {
	return n.groups.reg.localUsers(name), n.groups.table.interested(hlr.GroupKey(name))
}
