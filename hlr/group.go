package hlr

import (
	"sort"
	"strings"
)

// Groups. A group is a stream in the home partition of its key
// ("g/" + name, see Cmd.Key). The stream reuses the inbox layout with the
// group key in place of a user name (head, messages, dedup, expiry and
// cursors), so the apply, expiry and paging code of 1:1 inboxes serves
// groups unchanged; user names never contain '/', so the two never meet.
// Next to the stream the partition keeps the group record, one member
// record per member and one invite record per pending invite. Each user's
// own partition keeps an index of the user's groups, written through the
// outbox (OpGroupLink / OpGroupUnlink).

// Roles of a member. The owner is also an admin.
const (
	RoleOwner  = "owner"
	RoleAdmin  = "admin"
	RoleMember = "member"
)

// Kinds of the entries of a group stream. A message has Kind "" ; every
// other kind is a membership or settings event, with the acting user in
// From and the affected user, if any, in Subject.
const (
	EventCreated = "created" // From created the group
	EventJoined  = "joined"  // From joined
	EventInvited = "invited" // From invited Subject
	EventLeft    = "left"    // From left
	EventKicked  = "kicked"  // From removed Subject
	EventRole    = "role"    // From gave Subject the role Role
	EventInfo    = "info"    // From changed the title, topic or openness
	EventDeleted = "deleted" // From deleted the group (pushed, not kept)
)

// Default limits (the vlr passes its configured ones in Cmd.Limit).
const (
	DefaultMaxMembers = 1024 // members of one group
	// GroupEventTTLMS is the lifetime of a membership event in the stream:
	// the longest a message may live, so events expire with the messages
	// around them.
	GroupEventTTLMS = 24 * 60 * 60 * 1000
	// MaxGroupTitle and MaxGroupTopic bound the settings (bytes).
	MaxGroupTitle = 64
	MaxGroupTopic = 512
)

// GroupKey is the partition key and stream name of group name.
func GroupKey(name string) string { return GroupKeyPrefix + name }

// IsGroupKey reports whether a stream name is a group's.
func IsGroupKey(stream string) bool {
	return strings.HasPrefix(stream, GroupKeyPrefix) && len(stream) > len(GroupKeyPrefix)
}

// Group is a group's record.
type Group struct {
	Name      string `msgpack:"n"`
	Owner     string `msgpack:"o"`
	Title     string `msgpack:"t,omitempty"`
	Topic     string `msgpack:"p,omitempty"`
	Open      bool   `msgpack:"O,omitempty"` // anyone may join without an invite
	CreatedMS int64  `msgpack:"c"`
	Members   int    `msgpack:"m"` // how many member records there are
}

// Member is one member of a group.
type Member struct {
	User string `msgpack:"u"`
	Role string `msgpack:"r"`
	// JoinSeq is the sequence number of the member's "joined" (or
	// "created") event: the member sees the stream from there on.
	JoinSeq  uint64 `msgpack:"j"`
	JoinedMS int64  `msgpack:"t"`
}

// formerMember is the last membership of a user who left or was kicked:
// the entries from its joined entry through its own left or kicked entry
// stay readable to it, so that a device that missed the end of its
// membership (a lost forward, a node cut off) can still read it, up to
// the entry that ends it. A new join replaces it with a member record.
type formerMember struct {
	JoinSeq uint64 `msgpack:"j"`
	EndSeq  uint64 `msgpack:"e"` // the seq of its left or kicked entry
}

// groupInvite is a pending invite of a user to a group.
type groupInvite struct {
	By   string `msgpack:"b"`
	AtMS int64  `msgpack:"t"`
}

// UserGroup is one entry of a user's index of groups (in the user's own
// partition).
type UserGroup struct {
	Group   string `msgpack:"g"`
	Invited bool   `msgpack:"i,omitempty"` // invited, not a member yet
	Left    bool   `msgpack:"l,omitempty"` // no longer linked (kept for ordering)
	Seq     uint64 `msgpack:"q"`           // the group event this entry records
}

// MemberSet is an immutable view of a group's members at one point of its
// stream, carried by a GroupFanoutEffect so that a message reaches exactly
// the members it was committed for, whatever the order in which effects
// of concurrent commands run.
type MemberSet struct {
	roles map[string]string
}

// Has reports whether user is a member.
func (s *MemberSet) Has(user string) bool {
	if s == nil {
		return false
	}
	_, ok := s.roles[user]
	return ok
}

// Len is the number of members.
func (s *MemberSet) Len() int {
	if s == nil {
		return 0
	}
	return len(s.roles)
}

// Users returns the members in name order.
func (s *MemberSet) Users() []string {
	if s == nil {
		return nil
	}
	out := make([]string, 0, len(s.roles))
	for u := range s.roles {
		out = append(out, u)
	}
	sort.Strings(out)
	return out
}

func (s *MemberSet) with(user, role string) *MemberSet {
	n := &MemberSet{roles: make(map[string]string, s.Len()+1)}
	if s != nil {
		for u, r := range s.roles {
			n.roles[u] = r
		}
	}
	n.roles[user] = role
	return n
}

func (s *MemberSet) without(user string) *MemberSet {
	n := &MemberSet{roles: make(map[string]string, s.Len())}
	if s != nil {
		for u, r := range s.roles {
			if u != user {
				n.roles[u] = r
			}
		}
	}
	return n
}

// canManage reports whether role may kick, invite into a closed group
// and change settings.
func canManage(role string) bool { return role == RoleOwner || role == RoleAdmin }

// GroupFanoutEffect delivers a committed entry of group stream Group
// ("g/" + name) to the devices of Members, the group's members as of that
// entry (for a leave or a kick: before it, so the member who goes sees
// the event).
type GroupFanoutEffect struct {
	Group   string
	Msg     *Message
	Members *MemberSet
}

func (GroupFanoutEffect) isEffect() {}

// Keys of the group records. Member, invite and cursor keys put the group
// key first so that one prefix scan lists or removes a group's records.

func groupKey(g string) []byte { return sk(skGroup, g) }

func memberKey(g, user string) []byte { return sk(skMember, g, user) }

func inviteKey(g, user string) []byte { return sk(skInvite, g, user) }

func formerKey(g, user string) []byte { return sk(skFormer, g, user) }

// groupCursorKey is the cursor of (user, device) in group stream g.
func groupCursorKey(g, user, device string) []byte { return sk(skGroupCursor, g, user, device) }

func userGroupKey(user, g string) []byte { return sk(skUserGroup, user, g) }

// MemberSetOf returns a MemberSet of the given users as members (tests
// and tools; the state machine builds its own).
func MemberSetOf(users ...string) *MemberSet {
	s := &MemberSet{roles: make(map[string]string, len(users))}
	for _, u := range users {
		s.roles[u] = RoleMember
	}
	return s
}
