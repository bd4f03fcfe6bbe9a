package hlr

import (
	"context"
)

// QueryKind selects what a Query reads. The enum travels between nodes, so
// it is append-only.
type QueryKind uint8

const (
	QueryAccount   QueryKind = 1 // Account of User
	QueryFriends   QueryKind = 2 // FriendSet of User
	QueryInbox     QueryKind = 3 // Inbox of User after After, up to Limit
	QueryCursor    QueryKind = 4 // stored cursor of (User, Device)
	QueryLocations QueryKind = 5 // attached devices of User
	QueryEdge      QueryKind = 6 // User's edge state toward Peer
	// QueryValidate checks the sessions listed in Sessions, all of users
	// of User's partition, against their location records: Answer.Reasons
	// has one entry per session, "" while the device is still attached at
	// Node with the session's epoch (see SessionState).
	QueryValidate QueryKind = 7
	// Groups, at the leader of "g/" + Group (User is the asking member):
	QueryGroup        QueryKind = 8  // Answer.Member: User's membership (nil if none); for a member also Answer.Group, Head and the Cursor of (User, Device)
	QueryGroupMembers QueryKind = 9  // Answer.Members; Refused unless User is a member
	QueryGroupInbox   QueryKind = 10 // Answer.Inbox of the group after After for User (a former member: through its own left/kicked entry); Refused if neither
	QueryGroupCursor  QueryKind = 11 // Answer.Cursor of (User, Device) in the group, Answer.Head; Refused unless a member
	// QueryUserGroups lists User's groups (and invites) from the index in
	// User's partition: Answer.Groups.
	QueryUserGroups QueryKind = 12
	// Scheduled messages, in User's partition: Answer.Schedules of User
	// after the position (AfterMS, After) by fire time, up to Limit, and
	// Answer.More; QuerySchedule: Answer.Schedule, schedule After of User.
	QuerySchedules QueryKind = 13
	QuerySchedule  QueryKind = 14
)

// Query is a read of one user's (or group's) data at the leader of its
// home partition, the partition of Key.
type Query struct {
	Kind   QueryKind `msgpack:"k"`
	User   string    `msgpack:"u"`
	Peer   string    `msgpack:"p,omitempty"`
	Device string    `msgpack:"d,omitempty"`
	After  uint64    `msgpack:"a,omitempty"`
	Limit  int       `msgpack:"l,omitempty"`
	// MaxBytes bounds a QueryInbox page by size as well as by count: the
	// page stops before the message that would take the sum of the
	// messages' MessageSize above MaxBytes (and says More). The first
	// message is always returned. 0 means no bound by size.
	MaxBytes int `msgpack:"b,omitempty"`
	// Linear asks for a linearizable read (see Partition.View). A read
	// that only decides a conditional write can do without; one whose
	// answer a client sees, or that can refuse (the credentials of a
	// password login: a stale one refuses a new password), cannot.
	Linear bool `msgpack:"L,omitempty"`

	// A session-bound read is made for one session of a visitor register
	// (a sync, a catch-up, the cursor read of an attach): Epoch is the
	// session's location epoch (non-zero), Device and Node where it is,
	// CredGen the credential generation it logged in with. The leader
	// answers it only while the device is still attached at Node with
	// that epoch; otherwise the Answer carries nothing but Revoked.
	// QueryValidate uses Node too.
	Node    string `msgpack:"n,omitempty"`
	Epoch   uint64 `msgpack:"e,omitempty"`
	CredGen uint64 `msgpack:"g,omitempty"`
	// Sessions are the sessions QueryValidate checks.
	Sessions []SessionRef `msgpack:"s,omitempty"`
	// Group, when set, names the group whose home partition answers the
	// query instead of User's (see Key).
	Group string `msgpack:"G,omitempty"`
	// AfterMS is the fire time part of a QuerySchedules position.
	AfterMS int64 `msgpack:"am,omitempty"`
	// Roles asks QueryAccount for User's roles too (Answer.Roles).
	Roles bool `msgpack:"ro,omitempty"`
}

// Key is the partition key of the query, as Cmd.Key.
func (q Query) Key() string { return partitionKey(q.User, q.Group) }

// sessionBound reports whether q is read for one session (or, for
// QueryValidate, for many): such reads follow a Raft barrier, so that a
// new leader answers from a state that holds every committed location
// change.
func (q *Query) sessionBound() bool { return q.Epoch != 0 || q.Kind == QueryValidate }

// Answer carries the result of a Query; only the field for its kind is set.
type Answer struct {
	Account   *Account   `msgpack:"a,omitempty"`
	Friends   *FriendSet `msgpack:"f,omitempty"`
	Inbox     *Inbox     `msgpack:"i,omitempty"`
	Cursor    uint64     `msgpack:"c,omitempty"`
	Locations []Location `msgpack:"l,omitempty"`
	Edge      byte       `msgpack:"e,omitempty"`
	// Revoked refuses a session-bound read: why the session is no longer
	// valid (one of the Revoke reasons, or NotYet).
	Revoked string `msgpack:"r,omitempty"`
	// Reasons answers QueryValidate: one per Query.Sessions entry, in
	// order; "" means valid.
	Reasons []string `msgpack:"R,omitempty"`
	// Groups.
	Group   *Group      `msgpack:"G,omitempty"`
	Member  *Member     `msgpack:"M,omitempty"`
	Members []Member    `msgpack:"ms,omitempty"`
	Groups  []UserGroup `msgpack:"gs,omitempty"`
	Head    uint64      `msgpack:"h,omitempty"`
	// Refused: the asking user may not read this group (not a member, or
	// no such group: one answer for both).
	Refused bool `msgpack:"x,omitempty"`
	// Scheduled messages.
	Schedules []Schedule `msgpack:"sc,omitempty"`
	Schedule  *Schedule  `msgpack:"sd,omitempty"`
	More      bool       `msgpack:"mo,omitempty"`
	// Roles of User (QueryAccount with Query.Roles), in (namespace, name)
	// order.
	Roles []Role `msgpack:"ro,omitempty"`
}

// MaxInboxPage bounds one inbox read.
const MaxInboxPage = 512

// Query answers q from this node, which must lead the partition.
func (p *Partition) Query(ctx context.Context, q Query) (*Answer, error) {
	if q.sessionBound() && !q.Linear {
		// A plain read after the term's barrier: every location change
		// committed by an earlier leader is applied here. A leader that was
		// deposed without knowing it steps down within its leader lease,
		// so a stale answer is possible for at most that long.
		if !p.IsLeader() {
			return nil, ErrNotLeader
		}
		if _, err := p.barrier(ctx); err != nil {
			return nil, err
		}
	}
	v, err := p.View(ctx, q.Linear)
	if err != nil {
		return nil, err
	}
	defer v.Close()
	a := &Answer{}
	if q.Epoch != 0 {
		reason, err := v.SessionState(q.Node, SessionRef{User: q.User, Device: q.Device, Epoch: q.Epoch, CredGen: q.CredGen})
		if err != nil {
			return nil, err
		}
		if reason != "" {
			return &Answer{Revoked: reason}, nil
		}
	}
	switch q.Kind {
	case QueryAccount:
		a.Account, err = v.Account(q.User)
		if err == nil && q.Roles {
			a.Roles, err = v.Roles(q.User)
		}
	case QueryFriends:
		a.Friends, err = v.Friends(q.User)
	case QueryInbox:
		limit := q.Limit
		if limit <= 0 || limit > MaxInboxPage {
			limit = MaxInboxPage
		}
		a.Inbox, err = v.InboxPage(q.User, q.After, limit, q.MaxBytes, p.now().UnixMilli())
	case QueryCursor:
		a.Cursor, err = v.Cursor(q.User, q.Device)
	case QueryLocations:
		a.Locations, err = v.Locations(q.User)
	case QueryEdge:
		a.Edge, err = v.Edge(q.User, q.Peer)
	case QueryValidate:
		if len(q.Sessions) > MaxValidate {
			return nil, ErrBadEntry
		}
		a.Reasons = make([]string, len(q.Sessions))
		for i := range q.Sessions {
			if a.Reasons[i], err = v.SessionState(q.Node, q.Sessions[i]); err != nil {
				break
			}
		}
	case QueryGroup, QueryGroupMembers, QueryGroupInbox, QueryGroupCursor:
		err = groupQuery(v, &q, a, p.now().UnixMilli())
	case QueryUserGroups:
		a.Groups, err = v.UserGroups(q.User)
	case QuerySchedules:
		a.Schedules, a.More, err = v.Schedules(q.User, q.AfterMS, q.After, q.Limit)
	case QuerySchedule:
		a.Schedule, err = v.Schedule(q.User, q.After)
	default:
		return nil, ErrBadEntry
	}
	if err != nil {
		return nil, err
	}
	return a, nil
}

// groupQuery answers the reads of one group for member q.User.
func groupQuery(v *View, q *Query, a *Answer, nowMS int64) error {
	if q.Group == "" {
		return ErrBadEntry
	}
	m, err := v.Member(q.Group, q.User)
	if err != nil {
		return err
	}
	if q.Kind == QueryGroup {
		a.Member = m
		if m == nil {
			return nil
		}
		if a.Group, err = v.Group(q.Group); err != nil {
			return err
		}
		if a.Head, err = v.GroupHead(q.Group); err != nil {
			return err
		}
		a.Cursor, err = v.GroupCursor(q.Group, q.User, q.Device)
		return err
	}
	if m == nil && q.Kind != QueryGroupInbox {
		a.Refused = true
		return nil
	}
	switch q.Kind {
	case QueryGroupMembers:
		a.Members, err = v.Members(q.Group)
	case QueryGroupInbox:
		limit := q.Limit
		if limit <= 0 || limit > MaxInboxPage {
			limit = MaxInboxPage
		}
		a.Inbox, err = v.GroupPage(q.Group, q.User, q.After, limit, q.MaxBytes, nowMS)
		if err == nil && a.Inbox == nil {
			a.Refused = true
		}
	case QueryGroupCursor:
		if a.Cursor, err = v.GroupCursor(q.Group, q.User, q.Device); err == nil {
			a.Head, err = v.GroupHead(q.Group)
		}
	}
	return err
}
