package hlr

import (
	"encoding/binary"
)

// Group commands. Each is applied in the group's home partition (Cmd.Key
// is "g/" + Cmd.Group) except OpGroupLink and OpGroupUnlink, which keep a
// user's index of groups in the user's partition and arrive through the
// outbox. Cmd.User is always the acting user; Cmd.Peer the user acted on.
// Refusals are StatusRefused whatever the reason (no such group, not a
// member, not allowed), so a non-member learns nothing about a group but
// that its name is taken (OpGroupCreate answers StatusExists). Leave,
// kick and delete whose work is done already (a retry whose first
// attempt applied, at any layer) succeed with Dup set.

func (t *txn) group(g string) (*Group, error) {
	var gr Group
	ok, err := t.getRec(groupKey(g), &gr)
	if err != nil || !ok {
		return nil, err
	}
	return &gr, nil
}

func (t *txn) member(g, user string) (*Member, error) {
	var m Member
	ok, err := t.getRec(memberKey(g, user), &m)
	if err != nil || !ok {
		return nil, err
	}
	return &m, nil
}

// groupActor reads group g and user's membership of it: the member is
// nil when the group is (or the user is not in it).
func (t *txn) groupActor(g, user string) (*Group, *Member, error) {
	gr, err := t.group(g)
	if err != nil || gr == nil {
		return nil, nil, err
	}
	m, err := t.member(g, user)
	return gr, m, err
}

// settings applies the settings c carries (title, topic, open) to gr.
func (gr *Group) settings(c *Cmd) {
	if c.Name != nil {
		gr.Title = *c.Name
	}
	if c.About != nil {
		gr.Topic = *c.About
	}
	if c.Open != nil {
		gr.Open = *c.Open
	}
}

// members reads every member record of g.
func (s *state) members(g string) ([]Member, error) {
	var out []Member
	err := s.scan(skUserPrefix(skMember, g), func(_, val []byte) (bool, error) {
		var m Member
		if err := decodeRec(val, &m); err != nil {
			return false, err
		}
		out = append(out, m)
		return true, nil
	})
	return out, err
}

// memberSet is the MemberSet of g as the txn sees it.
func (t *txn) memberSet(g string) (*MemberSet, error) {
	ms, err := t.members(g)
	if err != nil {
		return nil, err
	}
	s := &MemberSet{roles: make(map[string]string, len(ms))}
	for _, m := range ms {
		s.roles[m.User] = m.Role
	}
	return s, nil
}

// appendGroup appends m to group stream g (setting its Seq, ID, SentMS and
// ExpiresMS) and returns the stored message. dedup is the dedup suffix of
// a message, nil for an event.
func (t *txn) appendGroup(g string, m Message, ttlMS int64, dedup []byte) (*Message, error) {
	var h inboxHead
	if _, err := t.getRec(headKey(g), &h); err != nil {
		return nil, err
	}
	h.Last++
	exp := t.now + ttlMS
	if exp < h.LastExpire {
		exp = h.LastExpire
	}
	h.LastExpire = exp
	t.meta.NextMsgID++
	m.ID = uint64(t.pid)<<msgIDBits | (t.meta.NextMsgID & (1<<msgIDBits - 1))
	m.Seq, m.To, m.SentMS, m.ExpiresMS = h.Last, g, t.now, exp
	if err := t.setRec(messageKey(g, m.Seq), &m); err != nil {
		return nil, err
	}
	if err := t.setRec(headKey(g), &h); err != nil {
		return nil, err
	}
	if dedup != nil {
		if err := t.dedupSet(dedupKey(g, dedup), &dedupRecord{ID: m.ID, Seq: m.Seq}); err != nil {
			return nil, err
		}
	}
	if err := t.set(expiryKey(exp, g, m.Seq), dedup); err != nil {
		return nil, err
	}
	return &m, nil
}

// event appends a membership or settings event to g and returns the
// result that fans it out to set.
func (t *txn) event(g string, kind, from, subject, role string, set *MemberSet) (Result, error) {
	m, err := t.appendGroup(g, Message{Kind: kind, From: from, Subject: subject, Role: role}, GroupEventTTLMS, nil)
	if err != nil {
		return Result{}, err
	}
	return Result{MsgID: m.ID, Seq: m.Seq, Effects: []Effect{GroupFanoutEffect{Group: g, Msg: m, Members: set}}}, nil
}

func maxMembers(c *Cmd) int {
	if c.Limit > 0 {
		return c.Limit
	}
	return DefaultMaxMembers
}

func applyGroupCreate(t *txn, c *Cmd) (Result, error) {
	g := GroupKey(c.Group)
	if c.User == "" {
		return Result{Status: StatusInvalid}, nil
	}
	gr, err := t.group(g)
	if err != nil {
		return Result{}, err
	}
	if gr != nil {
		if gr.Owner == c.User {
			return Result{Dup: true}, nil // a retry: the caller has it
		}
		return Result{Status: StatusExists}, nil
	}
	var h inboxHead
	if _, err := t.getRec(headKey(g), &h); err != nil {
		return Result{}, err
	}
	gr = &Group{Name: c.Group, Owner: c.User, CreatedMS: t.now, Members: 1}
	gr.settings(c)
	if err := t.setRec(groupKey(g), gr); err != nil {
		return Result{}, err
	}
	// A group deleted earlier under the same name left its head: the new
	// stream continues its numbering, so no device can mistake a new
	// message for one it already has.
	if err := t.setRec(memberKey(g, c.User), &Member{User: c.User, Role: RoleOwner, JoinSeq: h.Last + 1, JoinedMS: t.now}); err != nil {
		return Result{}, err
	}
	r, err := t.event(g, EventCreated, c.User, "", RoleOwner, (*MemberSet)(nil).with(c.User, RoleOwner))
	if err != nil {
		return Result{}, err
	}
	return t.link(r, OpGroupLink, c.User, c.Group, "")
}

func applyGroupInvite(t *txn, c *Cmd) (Result, error) {
	g := GroupKey(c.Group)
	gr, actor, err := t.groupActor(g, c.User)
	if err != nil || actor == nil || c.Peer == "" || c.Peer == c.User {
		return Result{Status: StatusRefused}, err
	}
	if !gr.Open && !canManage(actor.Role) {
		return Result{Status: StatusRefused}, nil
	}
	peer, err := t.member(g, c.Peer)
	if err != nil {
		return Result{}, err
	}
	if peer != nil {
		return Result{Seq: peer.JoinSeq}, nil // already a member: nothing to do
	}
	if ok, err := t.has(inviteKey(g, c.Peer)); err != nil || ok {
		return Result{}, err // invited already
	}
	if n, err := t.count(skUserPrefix(skInvite, g)); err != nil || n >= maxMembers(c) {
		return Result{Status: StatusFull}, err
	}
	if err := t.setRec(inviteKey(g, c.Peer), &groupInvite{By: c.User, AtMS: t.now}); err != nil {
		return Result{}, err
	}
	set, err := t.memberSet(g)
	if err != nil {
		return Result{}, err
	}
	r, err := t.event(g, EventInvited, c.User, c.Peer, "", set)
	if err != nil {
		return Result{}, err
	}
	return t.link(r, OpGroupLink, c.Peer, c.Group, "invited")
}

func applyGroupJoin(t *txn, c *Cmd) (Result, error) {
	g := GroupKey(c.Group)
	gr, err := t.group(g)
	if err != nil || gr == nil || c.User == "" {
		return Result{Status: StatusRefused}, err
	}
	if m, err := t.member(g, c.User); err != nil || m != nil {
		if m != nil {
			return Result{Seq: m.JoinSeq, Dup: true}, nil // a retry: joined already
		}
		return Result{}, err
	}
	invited, err := t.has(inviteKey(g, c.User))
	if err != nil {
		return Result{}, err
	}
	if !invited && !gr.Open {
		return Result{Status: StatusRefused}, nil
	}
	if gr.Members >= maxMembers(c) {
		return Result{Status: StatusFull}, nil
	}
	var h inboxHead
	if _, err := t.getRec(headKey(g), &h); err != nil {
		return Result{}, err
	}
	gr.Members++
	if err := t.setRec(groupKey(g), gr); err != nil {
		return Result{}, err
	}
	if err := t.del(inviteKey(g, c.User)); err != nil {
		return Result{}, err
	}
	if err := t.del(formerKey(g, c.User)); err != nil {
		return Result{}, err
	}
	if err := t.setRec(memberKey(g, c.User), &Member{User: c.User, Role: RoleMember, JoinSeq: h.Last + 1, JoinedMS: t.now}); err != nil {
		return Result{}, err
	}
	set, err := t.memberSet(g)
	if err != nil {
		return Result{}, err
	}
	r, err := t.event(g, EventJoined, c.User, "", RoleMember, set)
	if err != nil {
		return Result{}, err
	}
	return t.link(r, OpGroupLink, c.User, c.Group, "")
}

// removeMember drops user's member record and cursors from g. The group
// record's count and the unlink are the caller's.
func (t *txn) removeMember(g, user string) error {
	if err := t.del(memberKey(g, user)); err != nil {
		return err
	}
	return t.delPrefix(append(sk(skGroupCursor, g, user), 0))
}

// former records that user's membership of g, from joinSeq, ended at
// endSeq (its left or kicked entry).
func (t *txn) former(g, user string, joinSeq, endSeq uint64) error {
	return t.setRec(formerKey(g, user), &formerMember{JoinSeq: joinSeq, EndSeq: endSeq})
}

// link adds to r an outbox item that links (op OpGroupLink) or unlinks
// group name in user's index, stamped with r's sequence number: the
// user's partition applies an item only if it is newer than the entry it
// has, so items that arrive out of order (a retried delivery overtaken by
// a later one) cannot undo a newer change.
func (t *txn) link(r Result, op Op, user, name, reason string) (Result, error) {
	r.Outbox = true
	return r, t.addOutbox(Cmd{Op: op, User: user, Peer: name, Seq: r.Seq, Reason: reason})
}

// head is the last sequence number of stream g.
func (t *txn) head(g string) (uint64, error) {
	var h inboxHead
	_, err := t.getRec(headKey(g), &h)
	return h.Last, err
}

// applyGroupLeave removes the caller from the group, or drops the
// caller's pending invite (a decline). An owner who leaves hands the group
// to the admin who joined first, or else to the member who joined first;
// the last member's leave deletes the group.
func applyGroupLeave(t *txn, c *Cmd) (Result, error) {
	g := GroupKey(c.Group)
	gr, err := t.group(g)
	if err != nil || gr == nil {
		return Result{Dup: true}, err // gone already: a retry, or nothing to do
	}
	m, err := t.member(g, c.User)
	if err != nil {
		return Result{}, err
	}
	if m == nil {
		return t.dropInvite(g, c.Group, c.User)
	}
	if gr.Members <= 1 {
		return deleteGroup(t, c, gr)
	}
	r, before, err := t.takeOut(gr, c.Group, m, EventLeft, c.User, "")
	if err != nil {
		return Result{}, err
	}
	if m.Role == RoleOwner {
		heir, err := t.heir(g)
		if err != nil {
			return Result{}, err
		}
		heir.Role = RoleOwner
		gr.Owner = heir.User
		if err := t.setRec(memberKey(g, heir.User), heir); err != nil {
			return Result{}, err
		}
		after := before.without(c.User).with(heir.User, RoleOwner)
		r2, err := t.event(g, EventRole, c.User, heir.User, RoleOwner, after)
		if err != nil {
			return Result{}, err
		}
		r.Effects = append(r.Effects, r2.Effects...)
	}
	return r, t.setRec(groupKey(g), gr)
}

// dropInvite removes user's pending invite to group name (key g) and
// unlinks it from user's index; Dup when there is none (a retry, or
// nothing to do).
func (t *txn) dropInvite(g, name, user string) (Result, error) {
	ok, err := t.has(inviteKey(g, user))
	if err != nil || !ok {
		return Result{Dup: true}, err
	}
	if err := t.del(inviteKey(g, user)); err != nil {
		return Result{}, err
	}
	last, err := t.head(g)
	if err != nil {
		return Result{}, err
	}
	return t.link(Result{Seq: last}, OpGroupUnlink, user, name, "")
}

// takeOut removes member m from group name (record gr, whose count it
// lowers; the caller writes it): the event (kind, by from, about subject:
// "" for a leave), the former-member record and the unlink from m's index.
// It returns the member set before the removal too.
func (t *txn) takeOut(gr *Group, name string, m *Member, kind, from, subject string) (Result, *MemberSet, error) {
	g := GroupKey(name)
	before, err := t.memberSet(g)
	if err != nil {
		return Result{}, nil, err
	}
	if err := t.removeMember(g, m.User); err != nil {
		return Result{}, nil, err
	}
	gr.Members--
	r, err := t.event(g, kind, from, subject, "", before)
	if err != nil {
		return Result{}, nil, err
	}
	if err := t.former(g, m.User, m.JoinSeq, r.Seq); err != nil {
		return Result{}, nil, err
	}
	r, err = t.link(r, OpGroupUnlink, m.User, name, "")
	return r, before, err
}

// heir is the member who takes over from a leaving owner.
func (t *txn) heir(g string) (*Member, error) {
	ms, err := t.members(g)
	if err != nil {
		return nil, err
	}
	var best *Member
	for i := range ms {
		m := &ms[i]
		if m.Role == RoleOwner {
			continue
		}
		switch {
		case best == nil:
			best = m
		case (m.Role == RoleAdmin) != (best.Role == RoleAdmin):
			if m.Role == RoleAdmin {
				best = m
			}
		case m.JoinSeq < best.JoinSeq:
			best = m
		}
	}
	if best == nil {
		return nil, ErrBadEntry // Members > 1 says there is one
	}
	return best, nil
}

// applyGroupKick removes Peer (or Peer's pending invite). The owner may
// remove anyone but itself; an admin may remove members only.
func applyGroupKick(t *txn, c *Cmd) (Result, error) {
	g := GroupKey(c.Group)
	gr, actor, err := t.groupActor(g, c.User)
	if err != nil || actor == nil || !canManage(actor.Role) || c.Peer == c.User {
		return Result{Status: StatusRefused}, err
	}
	peer, err := t.member(g, c.Peer)
	if err != nil {
		return Result{}, err
	}
	if peer == nil {
		return t.dropInvite(g, c.Group, c.Peer)
	}
	if peer.Role == RoleOwner || (peer.Role == RoleAdmin && actor.Role != RoleOwner) {
		return Result{Status: StatusRefused}, nil
	}
	r, _, err := t.takeOut(gr, c.Group, peer, EventKicked, c.User, c.Peer)
	if err != nil {
		return Result{}, err
	}
	return r, t.setRec(groupKey(g), gr)
}

// applyGroupRole sets Peer's role to Reason: "admin" or "member" (the
// owner only), or "owner", which hands the group to Peer and makes the old
// owner an admin.
func applyGroupRole(t *txn, c *Cmd) (Result, error) {
	g := GroupKey(c.Group)
	gr, actor, err := t.groupActor(g, c.User)
	if err != nil || actor == nil || actor.Role != RoleOwner || c.Peer == c.User {
		return Result{Status: StatusRefused}, err
	}
	switch c.Reason {
	case RoleAdmin, RoleMember, RoleOwner:
	default:
		return Result{Status: StatusInvalid}, nil
	}
	peer, err := t.member(g, c.Peer)
	if err != nil || peer == nil {
		return Result{Status: StatusRefused}, err
	}
	if peer.Role == c.Reason {
		return Result{}, nil
	}
	peer.Role = c.Reason
	if err := t.setRec(memberKey(g, c.Peer), peer); err != nil {
		return Result{}, err
	}
	if c.Reason == RoleOwner {
		actor.Role = RoleAdmin
		if err := t.setRec(memberKey(g, c.User), actor); err != nil {
			return Result{}, err
		}
		gr.Owner = c.Peer
		if err := t.setRec(groupKey(g), gr); err != nil {
			return Result{}, err
		}
	}
	set, err := t.memberSet(g)
	if err != nil {
		return Result{}, err
	}
	return t.event(g, EventRole, c.User, c.Peer, c.Reason, set)
}

// applyGroupSet changes the title (Name), topic (About) or openness (Open)
// of the group; owner and admins only.
func applyGroupSet(t *txn, c *Cmd) (Result, error) {
	g := GroupKey(c.Group)
	gr, actor, err := t.groupActor(g, c.User)
	if err != nil || actor == nil || !canManage(actor.Role) {
		return Result{Status: StatusRefused}, err
	}
	gr.settings(c)
	if err := t.setRec(groupKey(g), gr); err != nil {
		return Result{}, err
	}
	set, err := t.memberSet(g)
	if err != nil {
		return Result{}, err
	}
	return t.event(g, EventInfo, c.User, "", "", set)
}

func applyGroupDelete(t *txn, c *Cmd) (Result, error) {
	g := GroupKey(c.Group)
	gr, actor, err := t.groupActor(g, c.User)
	if err != nil || gr == nil {
		return Result{Dup: true}, err // gone already: a retry, or nothing to do
	}
	if actor == nil || actor.Role != RoleOwner {
		return Result{Status: StatusRefused}, nil
	}
	return deleteGroup(t, c, gr)
}

// deleteGroup removes every record of the group and its stream except
// the head (a group created later under the name continues the
// numbering), unlinks it from every member's and invitee's index, and
// pushes a "deleted" event (not stored) to the members.
func deleteGroup(t *txn, c *Cmd, gr *Group) (Result, error) {
	g := GroupKey(gr.Name)
	set, err := t.memberSet(g)
	if err != nil {
		return Result{}, err
	}
	var invited []string
	err = t.scan(skUserPrefix(skInvite, g), func(sub, _ []byte) (bool, error) {
		invited = append(invited, string(sub[len(g)+2:]))
		return true, nil
	})
	if err != nil {
		return Result{}, err
	}
	last, err := t.head(g)
	if err != nil {
		return Result{}, err
	}
	for _, u := range append(set.Users(), invited...) {
		if err := t.addOutbox(Cmd{Op: OpGroupUnlink, User: u, Peer: gr.Name, Seq: last}); err != nil {
			return Result{}, err
		}
	}
	if err := t.dropInbox(g); err != nil {
		return Result{}, err
	}
	for _, kind := range []byte{skMember, skInvite, skGroupCursor, skDedup, skFormer} {
		if err := t.delPrefix(skUserPrefix(kind, g)); err != nil {
			return Result{}, err
		}
	}
	if err := t.del(groupKey(g)); err != nil {
		return Result{}, err
	}
	var h inboxHead
	if _, err := t.getRec(headKey(g), &h); err != nil {
		return Result{}, err
	}
	h.Expired = h.Last // nothing below the head is left
	if err := t.setRec(headKey(g), &h); err != nil {
		return Result{}, err
	}
	ev := &Message{Kind: EventDeleted, From: c.User, To: g, Seq: h.Last, SentMS: t.now}
	return Result{Outbox: true, Effects: []Effect{GroupFanoutEffect{Group: g, Msg: ev, Members: set}}}, nil
}

// applyGroupSend appends a message from User (device Device) to the
// group. Only members may send; a repeat of (User, Device, CMID) returns
// the original acknowledgement with Dup set and appends nothing — even
// after the sender left: a retry whose first attempt was applied (the
// reply lost) must not be refused because the membership ended between
// the two (the sim found such a refusal hiding a committed message). The
// dedup record names the sender's own (device, cmid), so it tells a
// former member nothing it did not send.
func applyGroupSend(t *txn, c *Cmd) (Result, error) {
	g := GroupKey(c.Group)
	suffix := dedupSuffix(c.User, c.Device, c.CMID)
	var d dedupRecord
	ok, err := t.dedupGet(dedupKey(g, suffix), &d)
	if err != nil {
		return Result{}, err
	}
	if ok {
		return Result{MsgID: d.ID, Seq: d.Seq, Dup: true}, nil
	}
	m, err := t.member(g, c.User)
	if err != nil || m == nil {
		return Result{Status: StatusRefused}, err
	}
	msg, err := t.appendGroup(g, Message{From: c.User, FromDevice: c.Device, Body: c.Body}, c.TTLMS, suffix)
	if err != nil {
		return Result{}, err
	}
	set, err := t.memberSet(g)
	if err != nil {
		return Result{}, err
	}
	return Result{MsgID: msg.ID, Seq: msg.Seq, Effects: []Effect{GroupFanoutEffect{Group: g, Msg: msg, Members: set}}}, nil
}

// applyGroupCursor advances the cursor of (User, Device) in the group;
// cursors never go back and never pass the end of the stream. Only members
// have cursors.
func applyGroupCursor(t *txn, c *Cmd) (Result, error) {
	g := GroupKey(c.Group)
	m, err := t.member(g, c.User)
	if err != nil || m == nil || c.Device == "" {
		return Result{Status: StatusStale}, err
	}
	var h inboxHead
	if _, err := t.getRec(headKey(g), &h); err != nil {
		return Result{}, err
	}
	seq := c.Seq
	if seq > h.Last {
		seq = h.Last
	}
	k := groupCursorKey(g, c.User, c.Device)
	cur, _, err := t.get(k)
	if err != nil {
		return Result{}, err
	}
	if len(cur) == 8 && binary.BigEndian.Uint64(cur) >= seq {
		return Result{Seq: binary.BigEndian.Uint64(cur)}, nil
	}
	return Result{Seq: seq}, t.set(k, binary.BigEndian.AppendUint64(nil, seq))
}

// applyGroupLink records Group in User's index (Reason "invited" for an
// invite). A link for an account that no longer exists is answered by
// taking the user out of the group again.
//
// Each entry keeps the sequence number of the group event it records, and
// an unlink leaves the entry in place marked Left: an item older than the
// entry changes nothing (see txn.link). At equal numbers an unlink wins
// (a declined invite is stamped with the head the invite may still be).
func applyGroupLink(t *txn, c *Cmd) (Result, error) {
	a, err := t.account(c.User)
	if err != nil {
		return Result{}, err
	}
	if a == nil {
		return Result{Outbox: true}, t.addOutbox(Cmd{Op: OpGroupLeave, User: c.User, Group: c.Peer})
	}
	var cur UserGroup
	ok, err := t.getRec(userGroupKey(c.User, c.Peer), &cur)
	if err != nil || (ok && cur.Seq >= c.Seq) {
		return Result{}, err
	}
	return Result{}, t.setRec(userGroupKey(c.User, c.Peer), &UserGroup{Group: c.Peer, Invited: c.Reason == "invited", Seq: c.Seq})
}

func applyGroupUnlink(t *txn, c *Cmd) (Result, error) {
	var cur UserGroup
	ok, err := t.getRec(userGroupKey(c.User, c.Peer), &cur)
	if err != nil || (ok && cur.Seq > c.Seq) {
		return Result{}, err
	}
	if a, err := t.account(c.User); err != nil || a == nil {
		return Result{}, err
	}
	return Result{}, t.setRec(userGroupKey(c.User, c.Peer), &UserGroup{Group: c.Peer, Seq: c.Seq, Left: true})
}

// has reports whether sub is stored.
func (t *txn) has(sub []byte) (bool, error) {
	_, ok, err := t.get(sub)
	return ok, err
}

// count counts the keys under prefix p.
func (t *txn) count(p []byte) (int, error) {
	n := 0
	err := t.scan(p, func(_, _ []byte) (bool, error) {
		n++
		return true, nil
	})
	return n, err
}

// applyGroupOp dispatches the group commands.
func applyGroupOp(t *txn, c *Cmd) (Result, error) {
	if c.Op == OpGroupLink || c.Op == OpGroupUnlink {
		if c.User == "" || c.Peer == "" {
			return Result{Status: StatusInvalid}, nil
		}
		if c.Op == OpGroupLink {
			return applyGroupLink(t, c)
		}
		return applyGroupUnlink(t, c)
	}
	if c.Group == "" || c.User == "" {
		return Result{Status: StatusInvalid}, nil
	}
	switch c.Op {
	case OpGroupCreate:
		return applyGroupCreate(t, c)
	case OpGroupInvite:
		return applyGroupInvite(t, c)
	case OpGroupJoin:
		return applyGroupJoin(t, c)
	case OpGroupLeave:
		return applyGroupLeave(t, c)
	case OpGroupKick:
		return applyGroupKick(t, c)
	case OpGroupRole:
		return applyGroupRole(t, c)
	case OpGroupSet:
		return applyGroupSet(t, c)
	case OpGroupDelete:
		return applyGroupDelete(t, c)
	case OpGroupSend:
		return applyGroupSend(t, c)
	case OpGroupCursor:
		return applyGroupCursor(t, c)
	}
	return Result{Status: StatusInvalid}, nil
}

// leaveAllGroups writes an outbox item that takes user out of each group
// of its index (a deleted account); it returns how many.
func (t *txn) leaveAllGroups(user string) (int, error) {
	var names []string
	err := t.scan(skUserPrefix(skUserGroup, user), func(_, val []byte) (bool, error) {
		var g UserGroup
		if err := decodeRec(val, &g); err != nil {
			return false, err
		}
		if !g.Left {
			names = append(names, g.Group)
		}
		return true, nil
	})
	if err != nil {
		return 0, err
	}
	for _, g := range names {
		if err := t.addOutbox(Cmd{Op: OpGroupLeave, User: user, Group: g}); err != nil {
			return 0, err
		}
	}
	return len(names), nil
}
