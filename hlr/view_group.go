package hlr

import (
	"encoding/binary"
)

// Reads of groups (group.go).

// Group returns the record of group name, nil if there is none.
func (v *View) Group(name string) (*Group, error) {
	var g Group
	ok, err := v.st.getRec(groupKey(GroupKey(name)), &g)
	if err != nil || !ok {
		return nil, err
	}
	return &g, nil
}

// Member returns user's member record in group name, nil if user is not a
// member.
func (v *View) Member(name, user string) (*Member, error) {
	var m Member
	ok, err := v.st.getRec(memberKey(GroupKey(name), user), &m)
	if err != nil || !ok {
		return nil, err
	}
	return &m, nil
}

// Members returns every member of group name in name order.
func (v *View) Members(name string) ([]Member, error) {
	return v.st.members(GroupKey(name))
}

// GroupPage returns a page of group name's stream for user: the entries
// with seq > after that have not expired, never one from before the
// user's join (a member sees the stream from its "joined" event on). A
// user who left or was kicked reads its last membership through its own
// left or kicked entry and no further: the page then ends there (Head is
// that entry's seq), so a device that missed the end of its membership
// learns it. It returns nil when user is neither a member nor a former
// member. Bounds as InboxPage; sizes count GroupMessageSize.
func (v *View) GroupPage(name, user string, after uint64, limit, maxBytes int, nowMS int64) (*Inbox, error) {
	var join, end uint64
	m, err := v.Member(name, user)
	if err != nil {
		return nil, err
	}
	if m != nil {
		join = m.JoinSeq
	} else {
		var f formerMember
		ok, err := v.st.getRec(formerKey(GroupKey(name), user), &f)
		if err != nil || !ok {
			return nil, err
		}
		join, end = f.JoinSeq, f.EndSeq
	}
	if join > 0 && after < join-1 {
		after = join - 1
	}
	var in *Inbox
	if end > 0 && after >= end {
		in = &Inbox{Head: end, ExpiredThrough: 0}
	} else {
		size := func(m *Message) int { return GroupMessageSize(name, m) }
		if in, err = v.page(GroupKey(name), after, limit, maxBytes, nowMS, size); err != nil {
			return nil, err
		}
	}
	if end > 0 {
		// The stream stops at the end of the membership.
		keep := in.Messages[:0]
		for _, msg := range in.Messages {
			if msg.Seq <= end {
				keep = append(keep, msg)
			}
		}
		if len(keep) < len(in.Messages) {
			in.More = false
		}
		in.Messages = keep
		in.Head = end
		if in.ExpiredThrough > end {
			in.ExpiredThrough = end
		}
	}
	if join > 0 && in.ExpiredThrough < join-1 {
		// What lies before the join is not the user's: the page reports it
		// as passed, so a reader continues from the join.
		in.ExpiredThrough = join - 1
	}
	return in, nil
}

// GroupMessageOverhead bounds the bytes a group entry takes in a client
// frame beyond its body and its strings (a wire.GroupMessage).
const GroupMessageOverhead = 160

// GroupMessageSize is an upper bound of the bytes m of group name takes in
// a client frame.
func GroupMessageSize(name string, m *Message) int {
	return GroupMessageOverhead + len(name) + len(m.Body) + len(m.From) + len(m.FromDevice) + len(m.Kind) + len(m.Subject) + len(m.Role)
}

// GroupCursor returns the stored cursor of (user, device) in group name.
func (v *View) GroupCursor(name, user, device string) (uint64, error) {
	val, ok, err := v.st.get(groupCursorKey(GroupKey(name), user, device))
	if err != nil || !ok || len(val) != 8 {
		return 0, err
	}
	return binary.BigEndian.Uint64(val), nil
}

// GroupHead returns the last sequence number of group name's stream.
func (v *View) GroupHead(name string) (uint64, error) {
	var h inboxHead
	_, err := v.st.getRec(headKey(GroupKey(name)), &h)
	return h.Last, err
}

// UserGroups returns the groups user belongs to or is invited to, from the
// index in the user's partition, in name order.
func (v *View) UserGroups(user string) ([]UserGroup, error) {
	var out []UserGroup
	err := v.st.scan(skUserPrefix(skUserGroup, user), func(_, val []byte) (bool, error) {
		var g UserGroup
		if err := decodeRec(val, &g); err != nil {
			return false, err
		}
		if !g.Left {
			out = append(out, g)
		}
		return true, nil
	})
	return out, err
}

// GroupHeads calls fn with every group of the partition that exists and
// the last sequence number of its stream, until fn returns false.
func (v *View) GroupHeads(fn func(name string, head uint64) bool) error {
	return v.st.scan([]byte{skGroup}, func(_, val []byte) (bool, error) {
		var g Group
		if err := decodeRec(val, &g); err != nil {
			return false, err
		}
		h, err := v.GroupHead(g.Name)
		if err != nil {
			return false, err
		}
		return fn(g.Name, h), nil
	})
}
