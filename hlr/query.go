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
)

// Query is a read of one user's data at the leader of the user's home
// partition.
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
	// Linear asks for a linearizable read (see Partition.View). Reads that
	// are followed by a conditional write (credentials for a login) can do
	// without.
	Linear bool `msgpack:"L,omitempty"`
}

// Answer carries the result of a Query; only the field for its kind is set.
type Answer struct {
	Account   *Account   `msgpack:"a,omitempty"`
	Friends   *FriendSet `msgpack:"f,omitempty"`
	Inbox     *Inbox     `msgpack:"i,omitempty"`
	Cursor    uint64     `msgpack:"c,omitempty"`
	Locations []Location `msgpack:"l,omitempty"`
	Edge      byte       `msgpack:"e,omitempty"`
}

// MaxInboxPage bounds one inbox read.
const MaxInboxPage = 512

// Query answers q from this node, which must lead the partition.
func (p *Partition) Query(ctx context.Context, q Query) (*Answer, error) {
	v, err := p.View(ctx, q.Linear)
	if err != nil {
		return nil, err
	}
	defer v.Close()
	a := &Answer{}
	switch q.Kind {
	case QueryAccount:
		a.Account, err = v.Account(q.User)
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
	default:
		return nil, ErrBadEntry
	}
	if err != nil {
		return nil, err
	}
	return a, nil
}
