package gate

import (
	"github.com/roamhq/roam/hlr"
	"github.com/roamhq/roam/vlr"
)

// Frame types: the byte after a frame's length. The enum travels between
// nodes, so it is append-only: never renumber or reuse a value. A new kind
// of item gets a new type; a receiver closes a connection that sends a type
// it does not know (an old node talking to a newer one), so add a type only
// together with a way for the sender to know the receiver has it.
const (
	frameHello    byte = 1 // first frame of a connection, dialer → acceptor
	frameExec     byte = 2 // request: Handler.Exec; answered by frameReply
	frameQuery    byte = 3 // request: Handler.Query; answered by frameReply
	frameReply    byte = 4 // response to the request with the same id
	frameDeliver  byte = 5 // one-way: Handler.Deliver
	frameCancel   byte = 6 // one-way: Handler.Cancel
	frameNotify   byte = 7 // one-way: Handler.Notify
	framePresence byte = 8 // one-way: Handler.Presence
	// Since gate level 2 (a peer that announced level 2 in its welcome
	// gets them; see levelOf):
	frameNotice byte = 9  // one-way: Handler.Notice (delivery repair: how far streams go)
	frameAck    byte = 10 // one-way: Handler.Ack (what the devices have taken)
)

// gateLevel is the frame set this gate speaks, announced to every dialer
// in a welcome (a reply with id 0, which a level-1 dialer reads and
// ignores): 1 = types 1..8, 2 = also notice and ack. A dialer sends a
// type only to an acceptor whose level has it.
const gateLevel uint16 = 2

// levelOf is the gate level that introduced frame type t.
func levelOf(t byte) uint16 {
	if t >= frameNotice {
		return 2
	}
	return 1
}

var frameNames = [...]string{"invalid", "hello", "exec", "query", "reply", "deliver", "cancel", "notify", "presence", "notice", "ack"}

func frameName(t byte) string {
	if int(t) < len(frameNames) {
		return frameNames[t]
	}
	return "unknown"
}

// Bodies. Field names are short and append-only, like hlr's records;
// receivers ignore fields they do not know, so a field can be added
// without a new frame type when old receivers may safely ignore it.

// helloBody opens every connection.
type helloBody struct {
	Node string `msgpack:"n"` // node id of the dialer
}

// execBody asks for Handler.Exec(pid, cmd).
type execBody struct {
	PID uint16  `msgpack:"p"`
	TTL int64   `msgpack:"t,omitempty"` // ms left until the caller gives up
	Cmd hlr.Cmd `msgpack:"c"`
}

// queryBody asks for Handler.Query(pid, q).
type queryBody struct {
	PID   uint16    `msgpack:"p"`
	TTL   int64     `msgpack:"t,omitempty"`
	Query hlr.Query `msgpack:"q"`
}

// replyBody answers an exec or a query: an error code, or the Result or
// Answer.
type replyBody struct {
	Code       uint8       `msgpack:"e,omitempty"`
	Msg        string      `msgpack:"m,omitempty"`  // remote error text
	LeaderID   string      `msgpack:"li,omitempty"` // not-leader hint
	LeaderAddr string      `msgpack:"la,omitempty"`
	Result     *hlr.Result `msgpack:"r,omitempty"`
	Answer     *hlr.Answer `msgpack:"a,omitempty"`
	// Level is set in the welcome only (id 0): the acceptor's gate level.
	Level uint16 `msgpack:"v,omitempty"`
}

type deliverBody struct {
	User string         `msgpack:"u"`
	Locs []hlr.Location `msgpack:"l"`
	Msg  *hlr.Message   `msgpack:"m"`
}

type cancelBody struct {
	User   string       `msgpack:"u"`
	Loc    hlr.Location `msgpack:"l"`
	Reason string       `msgpack:"r,omitempty"`
}

type notifyBody struct {
	User  string         `msgpack:"u"`
	Locs  []hlr.Location `msgpack:"l"`
	Event string         `msgpack:"e"`
	Peer  string         `msgpack:"p,omitempty"`
}

type presenceBody struct {
	Ups  []vlr.PresenceUpdate `msgpack:"u"`
	Full bool                 `msgpack:"f,omitempty"`
}

type noticeBody struct {
	Notices []vlr.Notice `msgpack:"n"`
}

type ackBody struct {
	Acks []vlr.DeliveryAck `msgpack:"a"`
}

// repairChunk is the most notices or acks one frame carries (a notice
// takes well under 200 bytes, so a frame stays far below MaxFrameBytes).
const repairChunk = 4096

// presenceChunk is the most updates one presence frame carries; a longer
// list (a full snapshot) travels as several frames, the first with the
// caller's full flag and the rest as additions.
const presenceChunk = 4096
