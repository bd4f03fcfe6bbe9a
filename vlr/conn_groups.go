package vlr

import (
	"sort"
	"strconv"
	"sync"

	"github.com/roamhq/roam/hlr"
	"github.com/roamhq/roam/wire"
)

// Group requests (PROTOCOL.md §16). Group names follow the user-name
// rules in a namespace of their own.

// groupStatusErr maps a group command's refusal to the client's code.
func groupStatusErr(st hlr.Status) error {
	switch st {
	case hlr.StatusOK:
		return nil
	case hlr.StatusExists:
		return refusef(wire.CodeNameTaken, "that group name is taken")
	case hlr.StatusFull:
		return refuse(wire.CodeGroupFull)
	case hlr.StatusInvalid:
		return refuse(wire.CodeBadRequest)
	}
	return refuse(wire.CodeRefused)
}

// groupName checks and folds a group name.
func groupName(name string) (string, error) {
	g, ok := canonicalName(name)
	if !ok {
		return "", refusef(wire.CodeBadName, "group names follow the user-name rules")
	}
	return g, nil
}

func (c *conn) takeGroupOp() error {
	if ok, wait := c.srv.limits.gop.take(c.sess.user, c.srv.cfg.Now()); !ok {
		return &reqError{code: wire.CodeRateLimited, msg: "too many group operations", retry: wait}
	}
	return nil
}

// groupRoom refuses when the caller already has as many groups (and
// invites) as it may. The index may trail the groups by an outbox round,
// so concurrent joins can pass it together: the bound is exact up to the
// joins in flight.
func (c *conn) groupRoom() error {
	ans, err := c.query(hlr.Query{Kind: hlr.QueryUserGroups, User: c.sess.user})
	if err != nil {
		return err
	}
	if len(ans.Groups) >= c.srv.cfg.MaxGroupsPerUser {
		return refusef(wire.CodeGroupFull, "you are in as many groups as you may be")
	}
	return nil
}

func (c *conn) groupOp(t wire.Type, body any) (wire.Type, any, error) {
	if err := c.takeGroupOp(); err != nil {
		return 0, nil, err
	}
	cfg := &c.srv.cfg
	cmd := hlr.Cmd{User: c.sess.user}
	var name string
	switch b := body.(type) {
	case *wire.GroupSettings:
		name = b.Group
		if (b.Title != nil && len(*b.Title) > hlr.MaxGroupTitle) || (b.Topic != nil && len(*b.Topic) > hlr.MaxGroupTopic) {
			return 0, nil, refusef(wire.CodeBadRequest, "title is limited to "+strconv.Itoa(hlr.MaxGroupTitle)+" bytes and topic to "+strconv.Itoa(hlr.MaxGroupTopic))
		}
		cmd.Name, cmd.About, cmd.Open = b.Title, b.Topic, b.Open
		cmd.Op = hlr.OpGroupSet
		if t == wire.TGroupCreate {
			cmd.Op = hlr.OpGroupCreate
		}
	case *wire.GroupName:
		name = b.Group
		switch t {
		case wire.TGroupJoin:
			cmd.Op = hlr.OpGroupJoin
		case wire.TGroupLeave:
			cmd.Op = hlr.OpGroupLeave
		case wire.TGroupDelete:
			cmd.Op = hlr.OpGroupDelete
		}
	case *wire.GroupPeer:
		name = b.Group
		peer, ok := canonicalName(b.User)
		if !ok || peer == c.sess.user {
			return 0, nil, refuse(wire.CodeRefused)
		}
		cmd.Peer = peer
		cmd.Op = hlr.OpGroupKick
		if t == wire.TGroupInvite {
			cmd.Op = hlr.OpGroupInvite
		}
	case *wire.GroupRole:
		name = b.Group
		switch b.Role {
		case hlr.RoleAdmin, hlr.RoleMember, hlr.RoleOwner:
		default:
			return 0, nil, refusef(wire.CodeBadRequest, "role is admin, member or owner")
		}
		peer, ok := canonicalName(b.User)
		if !ok || peer == c.sess.user {
			return 0, nil, refuse(wire.CodeRefused)
		}
		cmd.Peer, cmd.Reason, cmd.Op = peer, b.Role, hlr.OpGroupRole
	default:
		return 0, nil, refusef(wire.CodeBadRequest, t.String()+" is not a group operation")
	}
	g, err := groupName(name)
	if err != nil {
		return 0, nil, err
	}
	cmd.Group = g
	switch cmd.Op {
	case hlr.OpGroupCreate, hlr.OpGroupJoin:
		if err := c.groupRoom(); err != nil {
			return 0, nil, err
		}
		cmd.Limit = cfg.MaxGroupMembers
	case hlr.OpGroupInvite:
		cmd.Limit = cfg.MaxGroupMembers
	}
	res, err := c.exec(cmd)
	if err != nil {
		return 0, nil, err
	}
	if err := groupStatusErr(res.Status); err != nil {
		return 0, nil, err
	}
	return wire.TOK, okBody, nil
}

// groupSend commits a message from session s to a group (it may run on
// its own goroutine, as send does).
func (c *conn) groupSend(s *session, m *wire.GroupSend) (wire.Type, any, error) {
	cfg := &c.srv.cfg
	ttl, err := c.checkMessage(m.Body, m.CMID, m.TTLMS)
	if err != nil {
		return 0, nil, err
	}
	g, ok := canonicalName(m.Group)
	if !ok {
		return 0, nil, refuse(wire.CodeRefused)
	}
	if ok, wait := c.srv.limits.gsend.take(s.user, cfg.Now()); !ok {
		return 0, nil, &reqError{code: wire.CodeRateLimited, msg: "sending too fast", retry: wait}
	}
	if err := s.awaitLease(); err != nil {
		return 0, nil, err
	}
	res, err := c.exec(hlr.Cmd{
		Op: hlr.OpGroupSend, Group: g, User: s.user, Device: s.device,
		CMID: m.CMID, Body: m.Body, TTLMS: ttl.Milliseconds(),
	})
	if err != nil {
		return 0, nil, err
	}
	if res.Status != hlr.StatusOK {
		return 0, nil, refuse(wire.CodeRefused)
	}
	return wire.TSendAck, &wire.SendAck{ID: res.MsgID, Seq: res.Seq, Dup: res.Dup}, nil
}

// groupSync reads one page of a group for the client and, once the
// client has read to the end, turns the group's pushes on.
func (c *conn) groupSync(r *wire.GroupSync) (wire.Type, any, error) {
	s := c.sess
	g, ok := canonicalName(r.Group)
	if !ok {
		return 0, nil, refuse(wire.CodeRefused)
	}
	limit := int(r.Limit)
	if limit <= 0 || limit > hlr.MaxInboxPage {
		limit = hlr.MaxInboxPage
	}
	budget := syncBudget(c.outMax) - 48 // the reply's "group" key and name
	st := s.beginGroupSync(g)
	ans, err := s.groupQuery(hlr.Query{Kind: hlr.QueryGroupInbox, Group: g, After: r.After, Limit: limit, MaxBytes: budget, Linear: true})
	if err != nil || ans.Refused || ans.Inbox == nil {
		s.endGroupSync(st, 0, false)
		if err == nil {
			s.dropGroup(g)
			err = refuse(wire.CodeRefused)
		}
		return 0, nil, err
	}
	out := groupPageFor(g, ans.Inbox, r.After, budget)
	ended := false
	for i := range out.Messages {
		if m := &out.Messages[i]; endsMembershipWire(m, s.user) {
			ended = true
		}
	}
	if ended {
		// The page holds the end of the caller's membership (its own left
		// or kicked entry, read as a former member): the stream is over
		// for this session, nothing more is pushed.
		s.endGroupSync(st, out.Next, false)
		s.dropGroup(g)
		return wire.TGroupSyncReply, out, nil
	}
	if s.endGroupSync(st, out.Next, !out.More) {
		c.srv.reg.groupSynced(s, st)
	}
	return wire.TGroupSyncReply, out, nil
}

// groupPageFor is pageFor for a group's stream.
func groupPageFor(g string, in *hlr.Inbox, after uint64, budget int) *wire.GroupSyncReply {
	if after > in.Head {
		after = in.Head
	}
	next := after + 1
	if in.ExpiredThrough >= next {
		next = in.ExpiredThrough + 1
	}
	out := &wire.GroupSyncReply{Group: g, Messages: make([]wire.GroupMessage, 0, len(in.Messages)), More: in.More}
	used := 0
	for i := range in.Messages {
		m := &in.Messages[i]
		if m.Seq < next {
			continue
		}
		n := hlr.GroupMessageSize(g, m)
		if len(out.Messages) > 0 && used+n > budget {
			out.More = true
			break
		}
		used += n
		out.Messages = append(out.Messages, toWireGroupMessage(g, m))
		next = m.Seq + 1
	}
	out.Next = next
	return out
}

func toWireGroupMessage(g string, m *hlr.Message) wire.GroupMessage {
	return wire.GroupMessage{
		Group: g, Seq: m.Seq, ID: m.ID, Kind: m.Kind, From: m.From, FromDevice: m.FromDevice,
		Subject: m.Subject, Role: m.Role, Body: m.Body, SentMS: m.SentMS, ExpiresMS: m.ExpiresMS,
	}
}

func (c *conn) pushGroupMessage(g string, m *hlr.Message) {
	msg := toWireGroupMessage(g, m)
	if !c.out.enqueue(func(dst []byte) []byte {
		out, err := wire.AppendFrame(dst, wire.TGroupMessage, 0, &msg)
		if err != nil {
			return dst
		}
		return out
	}) {
		c.srv.log.Debug("group push dropped: connection closing or slow", "ip", c.ip)
	}
}

// groupAckReq records the device's cursor in a group (no reply).
func (c *conn) groupAckReq(a *wire.GroupAck) {
	g, ok := canonicalName(a.Group)
	if !ok {
		return
	}
	if c.sess.groupAck(g, a.Seq) {
		c.srv.markDirty(c.sess)
	}
}

// groupListPage bounds one group_list reply by count.
const groupListPage = 100

// groupList answers group_list: the caller's groups after r.After, each
// with its settings, the caller's role, the stream's head and the
// device's cursor, read from the groups' partitions in parallel.
func (c *conn) groupList(r *wire.GroupList) (wire.Type, any, error) {
	s := c.sess
	ans, err := c.query(hlr.Query{Kind: hlr.QueryUserGroups, User: s.user, Linear: true})
	if err != nil {
		return 0, nil, err
	}
	var names []hlr.UserGroup
	for _, g := range ans.Groups {
		if g.Group > r.After {
			names = append(names, g)
		}
	}
	sort.Slice(names, func(i, j int) bool { return names[i].Group < names[j].Group })
	out := &wire.GroupListReply{Groups: []wire.GroupEntry{}}
	if len(names) > groupListPage {
		names, out.More = names[:groupListPage], true
	}
	entries := make([]*wire.GroupEntry, len(names))
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	sem := make(chan struct{}, 16)
	for i, ug := range names {
		wg.Add(1)
		sem <- struct{}{}
		go func(i int, ug hlr.UserGroup) {
			defer func() { <-sem; wg.Done() }()
			e, err := c.groupEntry(ug)
			mu.Lock()
			defer mu.Unlock()
			if err != nil && firstErr == nil {
				firstErr = err
			}
			entries[i] = e
		}(i, ug)
	}
	wg.Wait()
	if firstErr != nil {
		return 0, nil, firstErr
	}
	size := 64
	for _, e := range entries {
		if e == nil {
			continue
		}
		n := 96 + len(e.Group) + len(e.Title) + len(e.Topic) + len(e.Owner)
		if size+n > c.outMax && len(out.Groups) > 0 {
			out.More = true
			break
		}
		size += n
		out.Groups = append(out.Groups, *e)
	}
	return wire.TGroupListReply, out, nil
}

// groupEntry reads one group of the caller's index; nil when the caller
// is no longer in it (or no longer invited).
func (c *conn) groupEntry(ug hlr.UserGroup) (*wire.GroupEntry, error) {
	s := c.sess
	ans, err := s.groupQuery(hlr.Query{Kind: hlr.QueryGroup, Group: ug.Group, Linear: true})
	if err != nil {
		return nil, err
	}
	if ans.Member == nil || ans.Group == nil {
		if ug.Invited {
			// An invitee is not a member yet: it sees the name only.
			return &wire.GroupEntry{Group: ug.Group, Role: "invited"}, nil
		}
		return nil, nil // the index trails a leave, a kick or a deletion
	}
	g, m := ans.Group, ans.Member
	e := &wire.GroupEntry{
		Group: ug.Group, Role: m.Role, Title: g.Title, Topic: g.Topic, Open: g.Open, Owner: g.Owner,
		Members: uint32(g.Members), Head: ans.Head, Cursor: ans.Cursor, Since: m.JoinSeq,
	}
	from := max(e.Cursor, m.JoinSeq-1)
	if e.Head > from {
		e.Unread = e.Head - from
	}
	return e, nil
}

// groupMembersPage bounds one group_members reply by count.
const groupMembersPage = 500

func (c *conn) groupMembers(r *wire.GroupMembers) (wire.Type, any, error) {
	g, ok := canonicalName(r.Group)
	if !ok {
		return 0, nil, refuse(wire.CodeRefused)
	}
	ans, err := c.sess.groupQuery(hlr.Query{Kind: hlr.QueryGroupMembers, Group: g, Linear: true})
	if err != nil {
		return 0, nil, err
	}
	if ans.Refused {
		return 0, nil, refuse(wire.CodeRefused)
	}
	out := &wire.GroupMembersReply{Group: g, Members: []wire.GroupMember{}}
	size := 64 + len(g)
	for _, m := range ans.Members {
		if m.User <= r.After {
			continue
		}
		n := 24 + len(m.User) + len(m.Role)
		if len(out.Members) == groupMembersPage || (size+n > c.outMax && len(out.Members) > 0) {
			out.More = true
			break
		}
		size += n
		out.Members = append(out.Members, wire.GroupMember{User: m.User, Role: m.Role})
	}
	return wire.TGroupMembersReply, out, nil
}

// endsMembershipWire is endsMembership for an entry on its way out.
func endsMembershipWire(m *wire.GroupMessage, user string) bool {
	return endsMembership(&hlr.Message{Kind: m.Kind, From: m.From, Subject: m.Subject}, user)
}
