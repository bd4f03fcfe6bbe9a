package wire

// Scheduled messages (PROTOCOL.md §17).

// Schedule asks for a message to be delivered later (C→S, TSchedule →
// TScheduled), to a friend (To) or a group (Group): exactly one is set.
// The fire time is AtMS (Unix milliseconds, UTC) or, if that is 0, InMS
// from now. (device, CMID) identifies the request: a retry answers with
// the schedule the first one made.
type Schedule struct {
	To    string `msgpack:"to,omitempty"`
	Group string `msgpack:"group,omitempty"`
	CMID  uint64 `msgpack:"cmid"`
	Body  []byte `msgpack:"body"`
	TTLMS uint32 `msgpack:"ttl_ms,omitempty"` // lifetime of the message once sent; 0: the server default
	AtMS  int64  `msgpack:"at_ms,omitempty"`
	InMS  int64  `msgpack:"in_ms,omitempty"`
}

// ScheduleList reads the caller's scheduled messages in fire time order
// after a position (C→S, TScheduleList → TScheduleListReply). The position
// is the fire_ms and id of the last item of the previous page; zero for
// the first page.
type ScheduleList struct {
	AfterMS int64  `msgpack:"after_ms,omitempty"`
	AfterID uint64 `msgpack:"after_id,omitempty"`
	Limit   uint32 `msgpack:"limit,omitempty"` // at most 256; 0 means 256
}

// ScheduleListReply is one page of scheduled messages (S→C).
type ScheduleListReply struct {
	Items []Scheduled `msgpack:"items"`
	More  bool        `msgpack:"more,omitempty"`
}

// ScheduleRef names one of the caller's scheduled messages (C→S:
// TScheduleGet, TScheduleCancel, TScheduleNow → TScheduled).
type ScheduleRef struct {
	ID uint64 `msgpack:"id"`
}

// ScheduleEdit changes a pending scheduled message (C→S, TScheduleEdit →
// TScheduled): the body if Body is set, the fire time if AtMS or InMS is.
type ScheduleEdit struct {
	ID   uint64 `msgpack:"id"`
	Body []byte `msgpack:"body,omitempty"`
	AtMS int64  `msgpack:"at_ms,omitempty"`
	InMS int64  `msgpack:"in_ms,omitempty"`
}

// Scheduled is one scheduled message (S→C: the reply TScheduled, the
// items of TScheduleListReply and inside TScheduleEvent).
type Scheduled struct {
	ID        uint64 `msgpack:"id"`
	To        string `msgpack:"to,omitempty"`
	Group     string `msgpack:"group,omitempty"`
	Body      []byte `msgpack:"body"`
	FireMS    int64  `msgpack:"fire_ms"`
	CreatedMS int64  `msgpack:"created_ms"`
	// State is "pending", "firing", "fired", "failed" or "cancelled".
	State string `msgpack:"state"`
	// Reason says why a failed one failed: "late" (the fire came more
	// than the allowed delay after its time, after an outage) or
	// "refused" (not friends any more, not a member).
	Reason  string `msgpack:"reason,omitempty"`
	MsgID   uint64 `msgpack:"msg_id,omitempty"` // fired: the message's id and sequence number
	Seq     uint64 `msgpack:"seq,omitempty"`
	DoneMS  int64  `msgpack:"done_ms,omitempty"`
	Version uint32 `msgpack:"version"` // grows with every change
	Dup     bool   `msgpack:"dup,omitempty"`
}

// ScheduleEvent tells the sender's devices that a scheduled message
// changed (S→C push): Event is "created", "edited", "cancelled", "fired"
// or "failed".
type ScheduleEvent struct {
	Event string    `msgpack:"event"`
	Item  Scheduled `msgpack:"item"`
}
