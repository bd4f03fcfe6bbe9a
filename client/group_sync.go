package client

import (
	"context"
	"errors"

	"github.com/roamhq/roam/wire"
)

// The receive path of groups (PROTOCOL.md §16.4): each group is a stream
// of its own, read and pushed like the inbox (inbox.go), with its own
// position, gap detection and acknowledgement.
//
// After a login or resume the session loop syncs the inbox, then runs the
// groups flow: GroupList (every page), then a GroupSync of every listed
// group (and of every group this client knew that the list no longer
// shows, which the server answers refused if it is gone) from the last
// entry delivered, the server's cursor for the device, or the floor set
// with SetGroupCursors, whichever is highest. Each GroupSync loops on
// more, asking for the next page only when the application has taken
// most of the entries queued (maxQueuedSync), as the inbox sync does.
// When every group is read, EventGroupsSynced follows.

// groupState is the client's view of the user's group streams. It is
// guarded by Client.mu.
type groupState struct {
	id       uint64 // inbox.id the state belongs to (changes with the user)
	on       bool   // the session receives groups (not SkipInbox or SkipGroups)
	m        map[string]*groupPos
	floors   map[string]uint64 // SetGroupCursors: applied by the next list
	wantList bool              // the groups flow is due
	flowing  bool              // a flow is running: EventGroupsSynced at its end
	fails    int               // consecutive failed lists
	unacked  int               // entries handed since the last GroupAcks
}

// groupPos is one group's stream on this client.
//
// Invariants as the inbox's: acked <= handed <= last; an entry is queued
// only if its seq is last+1 (a push) or it comes from a GroupSync, so the
// application sees each seq of a group once and in order.
type groupPos struct {
	last    uint64 // highest seq queued (or known passed)
	handed  uint64 // highest seq the application has received
	acked   uint64 // highest seq sent in a GroupAck (or the server's cursor)
	want    bool   // a GroupSync is needed
	syncing bool   // a GroupSync is running
	synced  bool   // the server pushes the group on this session
	live    bool   // the server has a stream of the group on this session: GroupAcks count
	gone    bool   // the member's stream ended (left, kicked, deleted, refused)
	dropped uint64 // highest pushed seq dropped while a sync was due
	fails   int    // consecutive failed GroupSyncs
	limit   uint32 // GroupSync.limit; 0 is the server's maximum
}

// startGroupsLocked prepares the groups for a new session; the inbox has
// been started (c.in.id tells whether the user changed).
func (c *Client) startGroupsLocked(on bool) {
	g := &c.grp
	if g.id != c.in.id || g.m == nil {
		g.id = c.in.id
		g.m = make(map[string]*groupPos)
	}
	g.on = on
	g.wantList = on
	g.flowing = false
	g.fails = 0
	g.unacked = 0
	for _, p := range g.m {
		p.want, p.syncing, p.synced, p.live = false, false, false, false
		p.acked = 0
		p.dropped, p.fails, p.limit = 0, 0, 0
	}
}

// stopGroupsLocked stops every group sync (the session ended).
func (c *Client) stopGroupsLocked() {
	g := &c.grp
	g.wantList, g.flowing = false, false
	for _, p := range g.m {
		p.want, p.syncing, p.synced, p.live = false, false, false, false
	}
}

// forgetGroupsLocked drops the group state (logout, account deletion).
func (c *Client) forgetGroupsLocked() {
	c.stopGroupsLocked()
	c.grp.m = nil
	c.grp.floors = nil
	c.grp.id = 0
}

func (c *Client) groupPosLocked(name string) *groupPos {
	if c.grp.m == nil {
		c.grp.m = make(map[string]*groupPos)
	}
	p := c.grp.m[name]
	if p == nil {
		p = &groupPos{}
		c.grp.m[name] = p
	}
	return p
}

// SetGroupCursors sets, per group, the position the groups flow of the
// next Login or Resume starts from: entries with seq <= the cursor are not
// delivered. Use it with GroupCursors to continue where an earlier
// process stopped; the server's cursor for the device is used when it is
// higher.
func (c *Client) SetGroupCursors(cursors map[string]uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.grp.floors = make(map[string]uint64, len(cursors))
	for g, seq := range cursors {
		c.grp.floors[canonicalUser(g)] = seq
	}
}

// GroupCursors returns, for each group the client follows, the highest
// seq the application has received from Events (and the cursors set with
// SetGroupCursors that no login has applied yet). Save it with the token
// to continue later (SetGroupCursors). Groups the device is no longer in
// are left out.
func (c *Client) GroupCursors() map[string]uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]uint64, len(c.grp.m)+len(c.grp.floors))
	for g, seq := range c.grp.floors {
		out[g] = seq
	}
	for g, p := range c.grp.m {
		if p.gone {
			delete(out, g)
		} else if p.handed > 0 {
			out[g] = max(out[g], p.handed)
		}
	}
	return out
}

// SyncGroups runs the groups flow again: it lists the caller's groups and
// reads every one it does not follow yet (groups joined on another
// device), then reports EventGroupsSynced. The server pushes nothing when
// another device of the user joins a group, so call it when the
// application wants to pick such groups up; GroupCreate and GroupJoin on
// this client need no call.
func (c *Client) SyncGroups() {
	c.mu.Lock()
	if c.sess != nil && c.grp.on {
		c.grp.wantList = true
	}
	c.mu.Unlock()
	c.wakeLoop()
}

// groupJoined starts reading a group this client just created or joined:
// a GroupSync from the last entry known (0 for a new group: the server
// reports the entries before the caller's join as passed).
func (c *Client) groupJoined(name string) {
	c.mu.Lock()
	if c.sess == nil || !c.grp.on {
		c.mu.Unlock()
		return
	}
	p := c.groupPosLocked(name)
	p.gone = false
	p.want = true
	c.mu.Unlock()
	c.wakeLoop()
}

// nextGroupLocked returns the group whose GroupSync is due (the first by
// name), "" if none.
func (c *Client) nextGroupLocked() string {
	best := ""
	for g, p := range c.grp.m {
		if p.want && !p.syncing && (best == "" || g < best) {
			best = g
		}
	}
	return best
}

// groupFlowDoneLocked reports the end of the groups flow once no group
// waits for a GroupSync any more.
func (c *Client) groupFlowDoneLocked() {
	g := &c.grp
	if !g.flowing || g.wantList {
		return
	}
	for _, p := range g.m {
		if p.want || p.syncing {
			return
		}
	}
	g.flowing = false
	c.queue.push(queued{ev: Event{Kind: EventGroupsSynced}})
}

// endsStream reports whether entry m ends user's stream of its group.
func endsStream(m *wire.GroupMessage, user string) bool {
	switch m.Kind {
	case GroupLeft:
		return m.From == user
	case GroupKicked:
		return m.Subject == user
	case GroupDeleted:
		return true
	}
	return false
}

// queueGroupLocked hands entry m of group p to the dispatcher; an entry
// that ends the member's stream marks it gone and is followed by
// EventGroupGone.
func (c *Client) queueGroupLocked(p *groupPos, m *wire.GroupMessage) {
	s := c.sess
	c.queue.push(queued{ev: Event{Kind: EventGroupMessage, Group: m.Group, GroupMessage: toGroupMessage(m, s.user, s.device)}, inbox: c.in.id})
	if endsStream(m, s.user) {
		c.goneLocked(m.Group, p)
	}
}

// goneLocked records that the member's stream of group name ended.
func (c *Client) goneLocked(name string, p *groupPos) {
	p.synced = false
	if !p.gone {
		p.gone = true
		c.queue.push(queued{ev: Event{Kind: EventGroupGone, Group: name}})
	}
}

// onGroupMessage handles a pushed group entry (on the reader of cn).
func (c *Client) onGroupMessage(cn *conn, m *wire.GroupMessage) {
	c.mu.Lock()
	defer c.mu.Unlock()
	m.Group = canonicalUser(m.Group)
	p := c.grp.m[m.Group]
	switch {
	case c.cur != cn || c.sess == nil || p == nil || p.gone:
		// Not a group this session reads (or no longer).
	case m.Seq <= p.last:
		// Already delivered (or a push racing a GroupSync): drop.
	case p.syncing || p.want:
		// A GroupSync is due and will return it; remember it so that a
		// sync that ended before it was committed is repeated.
		p.dropped = max(p.dropped, m.Seq)
	case p.synced && m.Seq == p.last+1:
		p.last = m.Seq
		c.queueGroupLocked(p, m)
	default:
		// A gap: read the group from the last delivered entry.
		p.dropped = max(p.dropped, m.Seq)
		p.want = true
		c.wakeLoop()
	}
}

// listGroups runs the first step of the groups flow (on the session
// loop): GroupList, every page, then a GroupSync due for every group.
func (c *Client) listGroups() {
	c.mu.Lock()
	cn, s := c.cur, c.sess
	if cn == nil || s == nil || !c.grp.wantList {
		c.mu.Unlock()
		return
	}
	c.grp.wantList = false
	c.grp.flowing = true
	c.mu.Unlock()

	var all []wire.GroupEntry
	after := ""
	var err error
	for {
		ctx, cancel := context.WithTimeoutCause(c.ctx, c.cfg.RequestTimeout, ErrTimeout)
		var r wire.GroupListReply
		err = timeoutCause(c.ctx, ctx, cn.roundTrip(ctx, wire.TGroupList, &wire.GroupList{After: after}, wire.TGroupListReply, &r))
		cancel()
		if err != nil {
			break
		}
		all = append(all, r.Groups...)
		if !r.More {
			break
		}
		if len(r.Groups) == 0 {
			err = errors.New("client: group_list_reply with more and no group")
			break
		}
		after = r.Groups[len(r.Groups)-1].Group
	}

	c.mu.Lock()
	if c.cur != cn || c.sess != s {
		c.mu.Unlock()
		return // the next session lists again
	}
	g := &c.grp
	if err != nil {
		g.wantList = true
		g.fails++
		fails := g.fails
		c.mu.Unlock()
		c.syncFailed(cn, "group list", err, fails)
		return
	}
	g.fails = 0
	listed := make(map[string]bool, len(all))
	for i := range all {
		e := &all[i]
		if e.Role == RoleInvited {
			continue // no stream until the invite is taken up (GroupJoin)
		}
		name := canonicalUser(e.Group)
		listed[name] = true
		p := c.groupPosLocked(name)
		from := max(e.Cursor, g.floors[name])
		p.last = max(p.last, from)
		p.handed = max(p.handed, from)
		p.acked = max(p.acked, min(e.Cursor, p.handed))
		p.want = true
	}
	for _, p := range g.m {
		if !p.gone {
			// Not listed: gone while we were away, or joined too recently
			// for the list. The GroupSync tells (refused: gone).
			p.want = true
		}
	}
	g.floors = nil
	c.groupFlowDoneLocked()
	c.mu.Unlock()
}

// syncFailed logs a failed sync step and pauses with backoff before the
// session loop tries again (unless the connection or client closed: the
// reconnect syncs again).
func (c *Client) syncFailed(cn *conn, what string, err error, fails int) {
	if cn.closed() || c.ctx.Err() != nil {
		return
	}
	c.log.Warn(what+" failed", "err", err, "attempt", fails)
	wait := c.backoff(fails - 1)
	var e *Error
	if errors.As(err, &e) && e.RetryAfter > wait {
		wait = e.RetryAfter
	}
	if c.sleep(c.ctx, wait) != nil {
		return
	}
	c.wakeLoop()
}

// syncGroup reads group name after its last delivered entry until the
// server says there is no more (on the session loop); the server pushes
// the group once it has. Pages are paced and sized as the inbox's.
func (c *Client) syncGroup(name string) {
	c.mu.Lock()
	cn, s := c.cur, c.sess
	p := c.grp.m[name]
	if cn == nil || s == nil || p == nil || !p.want || p.syncing {
		c.mu.Unlock()
		return
	}
	p.want = false
	p.syncing = true
	p.dropped = 0
	after := p.last
	c.mu.Unlock()

	// mine reports whether the sync still belongs to the current session
	// and stream (with c.mu held).
	mine := func() bool { return c.cur == cn && c.sess == s && c.grp.m[name] == p }
	for {
		if !c.waitQueue(cn) {
			c.mu.Lock()
			if c.sess == s {
				p.syncing = false
				p.want = true
			}
			c.mu.Unlock()
			return
		}
		c.mu.Lock()
		limit := p.limit
		c.mu.Unlock()
		ctx, cancel := context.WithTimeoutCause(c.ctx, c.cfg.RequestTimeout, ErrTimeout)
		var r wire.GroupSyncReply
		err := cn.roundTrip(ctx, wire.TGroupSync, &wire.GroupSync{Group: name, After: after, Limit: limit}, wire.TGroupSyncReply, &r)
		err = timeoutCause(c.ctx, ctx, err)
		cancel()

		c.mu.Lock()
		if !mine() {
			if c.sess == s {
				p.syncing = false
			}
			c.mu.Unlock()
			return
		}
		if err == nil && r.More && r.Next <= after+1 && len(r.Messages) == 0 {
			err = errors.New("client: group sync made no progress")
		}
		if safe := c.safeSyncLimit(cn); errors.Is(err, ErrFrameTooLarge) && p.limit != safe {
			p.limit = safe
			c.mu.Unlock()
			c.log.Warn("group sync page larger than MaxFrame; asking for smaller pages", "group", name, "limit", safe, "err", err)
			continue
		}
		if errors.Is(err, ErrRefused) {
			// Not a member any more, or the group is gone (deleted while
			// the device was away): nothing more comes.
			p.syncing = false
			c.goneLocked(name, p)
			c.groupFlowDoneLocked()
			c.mu.Unlock()
			return
		}
		if err != nil {
			p.syncing = false
			p.want = true
			p.fails++
			fails := p.fails
			c.mu.Unlock()
			c.syncFailed(cn, "group sync", err, fails)
			return
		}
		p.fails = 0
		p.live = true
		p.gone = false
		for i := range r.Messages {
			m := &r.Messages[i]
			m.Group = name
			if m.Seq > p.last {
				p.last = m.Seq
				c.queueGroupLocked(p, m)
				if p.gone {
					break
				}
			}
		}
		if p.gone {
			p.syncing = false
			c.groupFlowDoneLocked()
			c.mu.Unlock()
			return
		}
		if r.Next > 0 && r.Next-1 > p.last {
			p.last = r.Next - 1 // expired entries, or those before the join
		}
		if r.Next > 0 {
			after = r.Next - 1
		} else {
			after = p.last
		}
		if !r.More {
			p.syncing = false
			if p.dropped > p.last {
				p.want = true // a push arrived that this sync did not return
				p.dropped = 0
			} else {
				p.synced = true
				c.queue.push(queued{ev: Event{Kind: EventGroupSynced, Group: name, Cursor: p.last}})
			}
			if p.handed > p.acked {
				cn.kickAck() // entries handed on an earlier connection
			}
			c.groupFlowDoneLocked()
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
	}
}

// handedGroup records that the application received entry seq of group
// name (of inbox id), and schedules a GroupAck.
func (c *Client) handedGroup(id uint64, name string, seq uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	p := c.grp.m[name]
	if id != c.in.id || id != c.grp.id || p == nil || seq <= p.handed {
		return
	}
	p.handed = seq
	c.grp.unacked++
	c.scheduleAckLocked(c.grp.unacked)
}

// groupAcksLocked returns the GroupAcks to send: each group whose handed
// position moved past what was acknowledged, on a session that reads it.
func (c *Client) groupAcksLocked() []wire.GroupAck {
	var out []wire.GroupAck
	for name, p := range c.grp.m {
		if p.live && p.handed > p.acked {
			out = append(out, wire.GroupAck{Group: name, Seq: p.handed})
			p.acked = p.handed
		}
	}
	c.grp.unacked = 0
	return out
}

// groupAckFailedLocked forgets GroupAcks that could not be sent: the next
// session acknowledges again.
func (c *Client) groupAckFailedLocked(acks []wire.GroupAck) {
	for _, a := range acks {
		if p := c.grp.m[a.Group]; p != nil && p.acked == a.Seq {
			p.acked = 0
		}
	}
}
