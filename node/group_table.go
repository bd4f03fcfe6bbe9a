package node

import (
	"sort"
	"sync"
	"time"

	"github.com/roamhq/roam/hlr"
)

// groupTable is a partition leader's record of which nodes want which
// groups' entries (interest), and of what it forwarded to each of them
// that they have not acknowledged yet (for repair). It is volatile: a new
// leader starts empty and the nodes register again (group_interest.go).
//
// Interest is kept per (group, node) as the set of the node's members
// with a synced session there; each entry is forwarded once per
// interested node, carrying the users it is for (the members at the
// entry, so a message never reaches a member who had left when it was
// committed). A node that stops refreshing its registrations is
// forgotten after ttl.
type groupTable struct {
	mu     sync.Mutex
	groups map[string]*groupNodes // by stream key "g/" + name
	ttl    time.Duration
	rep    repairTiming
}

// repairTiming is when an unacknowledged forward is followed by a notice:
// FastNotices notices FastInterval apart, then backing off to MaxInterval.
type repairTiming struct {
	First       time.Duration
	FastNotices int
	Fast        time.Duration
	Max         time.Duration
}

type groupNodes struct {
	nodes map[string]*nodeInterest
}

// nodeInterest is one node's interest in one group.
type nodeInterest struct {
	users   map[string]struct{}
	seen    time.Time // last registration
	sent    uint64    // highest seq forwarded to the node
	acked   uint64    // highest seq the node acknowledged
	due     time.Time // when to notice, while sent > acked
	notices int       // notices since the last acknowledgement
}

func newGroupTable(ttl time.Duration, rep repairTiming) *groupTable {
	return &groupTable{groups: make(map[string]*groupNodes), ttl: ttl, rep: rep}
}

// register replaces node's interest in group g with users (none: the node
// has no member of g online any more).
func (t *groupTable) register(g, node string, users []string, now time.Time) {
	t.mu.Lock()
	defer t.mu.Unlock()
	gn := t.groups[g]
	if len(users) == 0 {
		if gn != nil {
			delete(gn.nodes, node)
			if len(gn.nodes) == 0 {
				delete(t.groups, g)
			}
		}
		return
	}
	if gn == nil {
		gn = &groupNodes{nodes: make(map[string]*nodeInterest)}
		t.groups[g] = gn
	}
	ni := gn.nodes[node]
	if ni == nil {
		ni = &nodeInterest{}
		gn.nodes[node] = ni
	}
	ni.users = make(map[string]struct{}, len(users))
	for _, u := range users {
		ni.users[u] = struct{}{}
	}
	ni.seen = now
}

// groupTarget is one forward of an entry: to node, for users.
type groupTarget struct {
	node  string
	users []string
}

// targets returns, for entry seq of g whose members are members, the
// interested nodes with the users the entry is for, and records the
// forwards (they are due for a notice until acknowledged).
func (t *groupTable) targets(g string, seq uint64, members *hlr.MemberSet, now time.Time) []groupTarget {
	t.mu.Lock()
	defer t.mu.Unlock()
	gn := t.groups[g]
	if gn == nil {
		return nil
	}
	var out []groupTarget
	for node, ni := range gn.nodes {
		var users []string
		for u := range ni.users {
			if members.Has(u) {
				users = append(users, u)
			}
		}
		if len(users) == 0 {
			continue
		}
		sort.Strings(users)
		out = append(out, groupTarget{node: node, users: users})
		if seq > ni.sent {
			if ni.sent <= ni.acked {
				ni.due, ni.notices = now.Add(t.rep.First), 0
			}
			ni.sent = seq
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].node < out[j].node })
	return out
}

// ack records that node has taken g through seq.
func (t *groupTable) ack(g, node string, seq uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	gn := t.groups[g]
	if gn == nil {
		return
	}
	ni := gn.nodes[node]
	if ni == nil || seq <= ni.acked {
		return
	}
	ni.acked = seq
	ni.notices = 0
}

// groupNotice tells node that g reaches head.
type groupNotice struct {
	node, group string
	head        uint64
}

// due returns the notices due at now, scheduling the next ones, and
// forgets nodes that have not registered within ttl.
func (t *groupTable) due(now time.Time) []groupNotice {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []groupNotice
	for g, gn := range t.groups {
		for node, ni := range gn.nodes {
			if now.Sub(ni.seen) > t.ttl {
				delete(gn.nodes, node)
				continue
			}
			if ni.sent <= ni.acked || now.Before(ni.due) {
				continue
			}
			out = append(out, groupNotice{node: node, group: g, head: ni.sent})
			ni.notices++
			wait := t.rep.Fast
			if ni.notices >= t.rep.FastNotices {
				wait = min(t.rep.Fast<<min(ni.notices-t.rep.FastNotices+1, 8), t.rep.Max)
			}
			ni.due = now.Add(wait)
		}
		if len(gn.nodes) == 0 {
			delete(t.groups, g)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].node != out[j].node {
			return out[i].node < out[j].node
		}
		return out[i].group < out[j].group
	})
	return out
}

// dropNode forgets every interest of node (it left or died).
func (t *groupTable) dropNode(node string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for g, gn := range t.groups {
		delete(gn.nodes, node)
		if len(gn.nodes) == 0 {
			delete(t.groups, g)
		}
	}
}

// dropGroups forgets the interest in every group for which keep returns
// false (the partitions this node no longer leads).
func (t *groupTable) dropGroups(keep func(g string) bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for g := range t.groups {
		if !keep(g) {
			delete(t.groups, g)
		}
	}
}

// interested reports how many nodes want g (tests, status).
func (t *groupTable) interested(g string) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	if gn := t.groups[g]; gn != nil {
		return len(gn.nodes)
	}
	return 0
}
