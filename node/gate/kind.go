package gate

import (
	"fmt"

	"github.com/vmihailenco/msgpack/v5"
)

// Kind is the type byte of a frame: which registered Handler serves it.
// Kinds travel between nodes, so their numbers are an append-only enum:
// never renumber or reuse one. The gate owns two, hello (1) and reply (4);
// every other kind is the node's, registered with Gate.Handle (the node
// lists its kinds in node/kinds.go). A receiver closes a connection that
// sends a kind it does not serve, so a sender sends a kind only to a peer
// whose welcome announced it (see accepts).
type Kind byte

// The gate's own frame types.
const (
	frameHello byte = 1 // first frame of a connection, dialer → acceptor
	frameReply byte = 4 // response to the request with the same id; id 0 is the welcome
)

// gateLevel is announced in every welcome for dialers that predate the
// kind list (see legacyAccepts). A dialer of this version reads the kind
// list instead.
const gateLevel uint16 = 2

// legacyAccepts reports whether an acceptor that announced only a level
// (no kind list: a node from before the generic gate), or nothing yet
// (its welcome is on its way), serves kind k: kinds 2..8 exist since
// level 1 and are sent without waiting for the welcome, as they always
// were; 9 (notice) and 10 (ack) since level 2; any later kind only to an
// acceptor that listed it.
func legacyAccepts(k Kind, level uint16) bool {
	switch {
	case k <= 8:
		return true
	case k <= 10:
		return level >= 2
	}
	return false
}

// kindSet is a set of kinds (the ones a peer's welcome listed).
type kindSet [4]uint64

func (s *kindSet) add(k Kind)      { s[k>>6] |= 1 << (k & 63) }
func (s *kindSet) has(k Kind) bool { return s[k>>6]&(1<<(k&63)) != 0 }
func newKindSet(ks []byte) *kindSet {
	s := new(kindSet)
	for _, k := range ks {
		s.add(Kind(k))
	}
	return s
}

// Bodies of the gate's own frames. Field names are short and append-only;
// receivers ignore fields they do not know, so a field can be added when
// old receivers may safely ignore it.

// helloBody opens every connection.
type helloBody struct {
	Node string `msgpack:"n"` // node id of the dialer
}

// replyBody answers a request: an error code, or the response. The
// response is "r", or "a" for kinds registered AsAnswer (the query kind,
// whose answers travelled there before the gate was generic).
type replyBody struct {
	Code       uint8  `msgpack:"e,omitempty"`
	Msg        string `msgpack:"m,omitempty"`  // remote error text
	LeaderID   string `msgpack:"li,omitempty"` // not-leader hint
	LeaderAddr string `msgpack:"la,omitempty"`
	Result     any    `msgpack:"r,omitempty"`
	Answer     any    `msgpack:"a,omitempty"`
	// Level and Kinds are set in the welcome only (id 0): the acceptor's
	// gate level (for older dialers) and every kind it serves.
	Level uint16 `msgpack:"v,omitempty"`
	Kinds []byte `msgpack:"k,omitempty"`
}

// replyIn is replyBody as the dialer decodes it: the response stays raw
// until the waiting call's type decodes it.
type replyIn struct {
	Code       uint8              `msgpack:"e,omitempty"`
	Msg        string             `msgpack:"m,omitempty"`
	LeaderID   string             `msgpack:"li,omitempty"`
	LeaderAddr string             `msgpack:"la,omitempty"`
	Result     msgpack.RawMessage `msgpack:"r,omitempty"`
	Answer     msgpack.RawMessage `msgpack:"a,omitempty"`
	Level      uint16             `msgpack:"v,omitempty"`
	Kinds      []byte             `msgpack:"k,omitempty"`
}

// Deadline, embedded in a request body (with the tag `msgpack:",inline"`),
// carries the caller's remaining time, in milliseconds, as the body's
// field "t": Call fills it in, and the serving side ends the Handler's
// context then. A request body without one gets RequestTimeout there.
type Deadline struct {
	TTL int64 `msgpack:"t,omitempty"`
}

func (d *Deadline) deadline() *Deadline { return d }

// deadliner is a request body that embeds Deadline.
type deadliner interface{ deadline() *Deadline }

// kindName names k for logs and the DropOneWay hook: the name its Handler
// was registered with.
func (g *Gate) kindName(k byte) string {
	switch k {
	case frameHello:
		return "hello"
	case frameReply:
		return "reply"
	}
	if h := g.handlers[k]; h != nil {
		return h.name
	}
	return fmt.Sprintf("kind %d", k)
}
