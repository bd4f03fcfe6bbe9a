package client

import (
	"sort"

	"github.com/roamhq/roam/wire"
)

// The fake server's groups: enough of PROTOCOL.md §16.4 (list, sync,
// pushes after a complete sync, acks) to drive the client's group
// receive path where the real server cannot yet (pushes), or cannot on
// demand (duplicates, gaps).

type fakeGroup struct {
	members map[string]bool
	entries []wire.GroupMessage // seq i+1 at index i
}

// handleGroup answers the group frames (with cl.mu held); false for any
// other type.
func (c *fakeConn) handleGroup(t wire.Type, rid uint32, body any) bool {
	cl := c.n.cl
	switch t {
	case wire.TGroupList:
		r := wire.GroupListReply{Groups: []wire.GroupEntry{}}
		var names []string
		for name, g := range cl.groups {
			if g.members[c.user] {
				names = append(names, name)
			}
		}
		sort.Strings(names)
		for _, name := range names {
			g := cl.groups[name]
			r.Groups = append(r.Groups, wire.GroupEntry{Group: name, Role: "member", Members: uint32(len(g.members)), Head: uint64(len(g.entries)), Since: 1})
		}
		c.write(wire.TGroupListReply, rid, &r)
	case wire.TGroupSync:
		q := body.(*wire.GroupSync)
		cl.groupSyncs = append(cl.groupSyncs, *q)
		g := cl.groups[q.Group]
		if g == nil || !g.members[c.user] {
			c.fail(rid, wire.CodeRefused)
			return true
		}
		r := wire.GroupSyncReply{Group: q.Group, Messages: []wire.GroupMessage{}, Next: q.After + 1}
		for _, m := range g.entries {
			if m.Seq > q.After && len(r.Messages) < cl.page {
				r.Messages = append(r.Messages, m)
				r.Next = m.Seq + 1
			}
		}
		r.More = r.Next <= uint64(len(g.entries))
		c.n.mu.Lock()
		if c.gsynced == nil {
			c.gsynced = make(map[string]bool)
		}
		c.gsynced[q.Group] = !r.More
		c.n.mu.Unlock()
		c.write(wire.TGroupSyncReply, rid, &r)
	case wire.TGroupAck:
		cl.groupAcks = append(cl.groupAcks, *body.(*wire.GroupAck))
	default:
		return false
	}
	return true
}

// addGroup creates group name with members and no entries.
func (cl *fakeCluster) addGroup(name string, members ...string) {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	if cl.groups == nil {
		cl.groups = make(map[string]*fakeGroup)
	}
	g := &fakeGroup{members: make(map[string]bool)}
	for _, u := range members {
		g.members[u] = true
	}
	cl.groups[name] = g
}

// groupEntry appends an entry to group name's stream (its seq is the next
// one) and, with push, pushes it to the synced connections of the
// members; it returns the entry.
func (cl *fakeCluster) groupEntry(name string, m wire.GroupMessage, push bool) wire.GroupMessage {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	g := cl.groups[name]
	m.Group = name
	m.Seq = uint64(len(g.entries)) + 1
	m.ID = 5000 + m.Seq
	g.entries = append(g.entries, m)
	if push {
		cl.groupPushLocked(name, m)
	}
	return m
}

// groupPush pushes m as it is to the synced connections of group name.
func (cl *fakeCluster) groupPush(name string, m wire.GroupMessage) {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	cl.groupPushLocked(name, m)
}

func (cl *fakeCluster) groupPushLocked(name string, m wire.GroupMessage) {
	g := cl.groups[name]
	for _, n := range cl.nodes {
		for u := range g.members {
			for _, o := range n.conns(u) {
				n.mu.Lock()
				on := o.gsynced[name]
				n.mu.Unlock()
				if on {
					o.write(wire.TGroupMessage, 0, &m)
				}
			}
		}
	}
}
