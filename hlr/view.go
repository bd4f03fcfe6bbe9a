package hlr

import (
	"encoding/binary"

	"github.com/cockroachdb/pebble"
	"github.com/vmihailenco/msgpack/v5"
)

// View is a consistent, read-only view of one partition's state (a Pebble
// snapshot). Reads through a View never block applies.
type View struct {
	st   state
	snap *pebble.Snapshot
	pid  uint16
}

// Close releases the view.
func (v *View) Close() error { return v.snap.Close() }

// Account returns the account of user, or nil.
func (v *View) Account(user string) (*Account, error) {
	var a Account
	ok, err := v.st.getRec(accountKey(user), &a)
	if err != nil || !ok {
		return nil, err
	}
	return &a, nil
}

// Session returns the session stored under the token hash, or nil.
func (v *View) Session(user string, hash []byte) (*Session, error) {
	var s Session
	ok, err := v.st.getRec(sessionKey(user, hash), &s)
	if err != nil || !ok {
		return nil, err
	}
	return &s, nil
}

// Locations returns the attached devices of user.
func (v *View) Locations(user string) ([]Location, error) {
	return attachedLocations(&v.st, user)
}

// FriendSet is one user's side of the friend graph.
type FriendSet struct {
	Friends  []string `msgpack:"f"`
	Incoming []string `msgpack:"i"`
	Outgoing []string `msgpack:"o"`
	Blocked  []string `msgpack:"b"`
}

// Friends returns user's edges, each list in name order.
func (v *View) Friends(user string) (*FriendSet, error) {
	fs := &FriendSet{}
	err := v.st.scan(skUserPrefix(skEdge, user), func(sub, val []byte) (bool, error) {
		peer := string(sub[len(user)+2:])
		if len(val) != 1 {
			return true, nil
		}
		switch val[0] {
		case EdgeFriend:
			fs.Friends = append(fs.Friends, peer)
		case EdgeIncoming:
			fs.Incoming = append(fs.Incoming, peer)
		case EdgeOutgoing:
			fs.Outgoing = append(fs.Outgoing, peer)
		case EdgeBlocked:
			fs.Blocked = append(fs.Blocked, peer)
		}
		return true, nil
	})
	return fs, err
}

// Edge returns user's edge state toward peer (0 if none).
func (v *View) Edge(user, peer string) (byte, error) {
	val, ok, err := v.st.get(edgeKey(user, peer))
	if err != nil || !ok || len(val) != 1 {
		return 0, err
	}
	return val[0], nil
}

// Inbox is a page of a user's stream.
type Inbox struct {
	Messages []Message `msgpack:"m"`
	// Head is the last sequence number of the stream.
	Head uint64 `msgpack:"h"`
	// ExpiredThrough: every message with seq <= ExpiredThrough has expired.
	ExpiredThrough uint64 `msgpack:"x"`
	// More says the page stopped at its limit.
	More bool `msgpack:"M"`
}

// Inbox returns up to limit messages of user with seq > after that have not
// expired at nowMS.
func (v *View) Inbox(user string, after uint64, limit int, nowMS int64) (*Inbox, error) {
	return v.InboxPage(user, after, limit, 0, nowMS)
}

// MessageOverhead bounds the bytes a message takes in a client frame
// beyond its body, sender and sender's device: the field names, the
// integers and the headers of its msgpack map (a wire.Message).
const MessageOverhead = 112

// MessageSize is an upper bound of the bytes m takes in a client frame
// (vlr's tests check it against the wire encoding).
func MessageSize(m *Message) int {
	return MessageOverhead + len(m.Body) + len(m.From) + len(m.FromDevice)
}

// InboxPage is Inbox bounded by size too: with maxBytes > 0 the page ends
// before the message that would take the sum of MessageSize above
// maxBytes (More is then set). The first message is always returned, so a
// page always makes progress.
func (v *View) InboxPage(user string, after uint64, limit, maxBytes int, nowMS int64) (*Inbox, error) {
	return v.page(user, after, limit, maxBytes, nowMS, MessageSize)
}

// page reads stream (a user's inbox or a group's) as InboxPage does,
// measuring each message with size.
func (v *View) page(user string, after uint64, limit, maxBytes int, nowMS int64, msgSize func(*Message) int) (*Inbox, error) {
	var h inboxHead
	if _, err := v.st.getRec(headKey(user), &h); err != nil {
		return nil, err
	}
	in := &Inbox{Head: h.Last, ExpiredThrough: h.Expired}
	if after >= h.Last {
		return in, nil
	}
	size := 0
	from := messageKey(user, after+1)
	err := v.st.scanFrom(skUserPrefix(skMessage, user), from, func(_, val []byte) (bool, error) {
		if len(in.Messages) == limit {
			in.More = true
			return false, nil
		}
		var m Message
		if err := decodeRec(val, &m); err != nil {
			return false, err
		}
		if m.ExpiresMS <= nowMS {
			// Expired but not yet collected: report it as expired.
			in.ExpiredThrough = m.Seq
			return true, nil
		}
		n := msgSize(&m)
		if maxBytes > 0 && len(in.Messages) > 0 && size+n > maxBytes {
			in.More = true
			return false, nil
		}
		size += n
		in.Messages = append(in.Messages, m)
		return true, nil
	})
	return in, err
}

// Heads calls fn with every user of the partition whose inbox has ever
// held a message, and the last sequence number of that inbox, in name
// order, until fn returns false. A new leader uses it to tell the online
// devices how far their streams go (the node's delivery repair).
func (v *View) Heads(fn func(user string, head uint64) bool) error {
	return v.st.scan([]byte{skHead}, func(sub, val []byte) (bool, error) {
		var h inboxHead
		if err := decodeRec(val, &h); err != nil {
			return false, err
		}
		if h.Last == 0 || IsGroupKey(string(sub[1:])) {
			return true, nil // groups are GroupHeads'
		}
		return fn(string(sub[1:]), h.Last), nil
	})
}

// Cursor returns the stored cursor of (user, device).
func (v *View) Cursor(user, device string) (uint64, error) {
	val, ok, err := v.st.get(cursorKey(user, device))
	if err != nil || !ok || len(val) != 8 {
		return 0, err
	}
	return binary.BigEndian.Uint64(val), nil
}

// Outbox returns up to limit pending outbox items in id order.
func (v *View) Outbox(limit int) ([]outboxItem, error) {
	var out []outboxItem
	err := v.st.scan([]byte{skOutbox}, func(_, val []byte) (bool, error) {
		if len(out) == limit {
			return false, nil
		}
		var it outboxItem
		if err := decodeRec(val, &it); err != nil {
			return false, err
		}
		out = append(out, it)
		return true, nil
	})
	return out, err
}

// HasExpired reports whether something is due for OpExpire at nowMS.
func (v *View) HasExpired(nowMS int64) (bool, error) {
	due := false
	check := func(kind byte) error {
		return v.st.scan([]byte{kind}, func(sub, _ []byte) (bool, error) {
			if len(sub) >= 9 && int64(binary.BigEndian.Uint64(sub[1:9])) <= nowMS {
				due = true
			}
			return false, nil
		})
	}
	if err := check(skExpiry); err != nil || due {
		return due, err
	}
	return due, check(skSessExp)
}

func decodeRec(raw []byte, v any) error {
	return msgpack.Unmarshal(raw, v)
}
