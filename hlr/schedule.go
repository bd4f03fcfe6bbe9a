package hlr

import "encoding/binary"

// Scheduled messages. A schedule is a message that its sender asked to be
// delivered later, to a friend or to a group. It lives in the sender's
// home partition, as a record and in two indexes:
//
//   - the partition's action index ('K', by time): a pending schedule is
//     listed at its fire time, a finished one at the time it is forgotten.
//     The leader's scheduler (node/scheduler.go) arms one timer per
//     partition for the earliest entry;
//   - the sender's list ('j', by fire time), which pages the sender's
//     schedules for the client.
//
// A fire takes three steps, each of them a command or a send, so that a
// leader that dies at any point leaves a state its successor can finish:
//
//  1. OpSchedFire, in the sender's partition, claims a pending schedule:
//     the state machine decides with its own clock (never wall time)
//     whether it is still in time (then it becomes "firing") or too late
//     (then it fails with ReasonLate);
//  2. the leader sends the message through the normal send path (OpSend
//     at the recipient's partition, OpGroupSend at the group's), as
//     device SchedDevice with the schedule id as client message id: a
//     fire retried after a failover is deduplicated by the recipient's
//     partition, and so delivered exactly once;
//  3. OpSchedDone records the outcome: fired (with the message id and
//     sequence number) or failed (with the refusal's reason).
//
// A firing schedule found by a new leader is sent again (step 2, which
// the dedup key makes harmless) and finished. Every change is pushed to
// the sender's devices (ScheduleEffect).

// Schedule states.
const (
	SchedPending = "pending"
	SchedFiring  = "firing" // claimed by a leader; its send may or may not have happened
	SchedFired   = "fired"
	SchedFailed  = "failed"
	// SchedCancelled: cancelled while pending; it never fires. Kept, like
	// a fired or failed one, for SchedKeepMS: a retried cancel gets it
	// again, and so does a retried create (its dedup record stays).
	SchedCancelled = "cancelled"
)

// Failure reasons of a schedule.
const (
	ReasonLate    = "late"    // the fire was later than the allowed delay (an outage)
	ReasonRefused = "refused" // the send was refused: not friends any more, not a member
)

// SchedDevice is the device a fire sends as. Client device ids are
// printable ASCII without spaces, so no client can reuse its dedup keys.
const SchedDevice = " sched"

// Default limits (the vlr passes its configured ones in Cmd.Sched).
const (
	DefaultSchedMinAheadMS = 10 * 1000                 // at least 10 s ahead
	DefaultSchedMaxAheadMS = 366 * 24 * 60 * 60 * 1000 // at most 366 days ahead
	DefaultSchedPerConv    = 100                       // pending per conversation
	DefaultSchedPerUser    = 1000                      // pending per user
	// DefaultSchedMaxLateMS is how late a fire may be (after an outage)
	// and still be sent.
	DefaultSchedMaxLateMS = 24 * 60 * 60 * 1000
	// SchedKeepMS is how long a finished schedule is kept (listed with
	// its outcome) before it is forgotten.
	SchedKeepMS = 7 * 24 * 60 * 60 * 1000
	// MaxSchedPage bounds one list page.
	MaxSchedPage = 256
)

// SchedLimits are the limits a create or edit is checked against. They
// travel in the command, so every replica checks the same ones; zero
// fields take the defaults.
type SchedLimits struct {
	MinAheadMS int64 `msgpack:"a,omitempty"`
	MaxAheadMS int64 `msgpack:"A,omitempty"`
	PerConv    int   `msgpack:"c,omitempty"`
	PerUser    int   `msgpack:"u,omitempty"`
	MaxLateMS  int64 `msgpack:"l,omitempty"` // OpSchedFire
}

func (l *SchedLimits) withDefaults() SchedLimits {
	var o SchedLimits
	if l != nil {
		o = *l
	}
	if o.MinAheadMS <= 0 {
		o.MinAheadMS = DefaultSchedMinAheadMS
	}
	if o.MaxAheadMS <= 0 {
		o.MaxAheadMS = DefaultSchedMaxAheadMS
	}
	if o.PerConv <= 0 {
		o.PerConv = DefaultSchedPerConv
	}
	if o.PerUser <= 0 {
		o.PerUser = DefaultSchedPerUser
	}
	if o.MaxLateMS <= 0 {
		o.MaxLateMS = DefaultSchedMaxLateMS
	}
	return o
}

// Schedule is one scheduled message of User.
type Schedule struct {
	ID        uint64 `msgpack:"i"`
	User      string `msgpack:"u"`           // the sender
	To        string `msgpack:"t,omitempty"` // the recipient (a friend), or
	Group     string `msgpack:"g,omitempty"` // the group (its name)
	Body      []byte `msgpack:"b"`
	TTLMS     int64  `msgpack:"l"` // lifetime of the message once sent
	FireMS    int64  `msgpack:"f"` // when it fires
	CreatedMS int64  `msgpack:"c"`
	State     string `msgpack:"s"`
	Reason    string `msgpack:"r,omitempty"` // failed: why
	MsgID     uint64 `msgpack:"m,omitempty"` // fired: the message's id and sequence number
	Seq       uint64 `msgpack:"q,omitempty"`
	DoneMS    int64  `msgpack:"D,omitempty"` // when it fired or failed
	Version   uint32 `msgpack:"v"`           // bumped by every change
	// Device and CMID name the create, whose retry answers with the same
	// schedule.
	Device string `msgpack:"d"`
	CMID   uint64 `msgpack:"k"`
}

// Conv is the conversation the schedule is counted against: the
// recipient's name, or the group's key.
func (s *Schedule) Conv() string { return partitionKey(s.To, s.Group) }

// Done reports whether the schedule has fired or failed.
func (s *Schedule) Done() bool {
	return s.State == SchedFired || s.State == SchedFailed || s.State == SchedCancelled
}

// actionMS is where the schedule is listed in the action index.
func (s *Schedule) actionMS() int64 {
	if s.Done() {
		return s.DoneMS + SchedKeepMS
	}
	return s.FireMS
}

// SendCmd is the command a fire of s executes: a send as SchedDevice with
// the schedule id as its dedup key.
func (s *Schedule) SendCmd() Cmd {
	c := Cmd{User: s.To, Peer: s.User, Device: SchedDevice, CMID: s.ID, Body: s.Body, TTLMS: s.TTLMS, Op: OpSend}
	if s.Group != "" {
		c = Cmd{Op: OpGroupSend, User: s.User, Group: s.Group, Device: SchedDevice, CMID: s.ID, Body: s.Body, TTLMS: s.TTLMS}
	}
	return c
}

// ScheduleEffect pushes a change of a schedule (its State, or
// SchedCancelled) to the sender's devices at Locs. Skip is the device that
// made the change, which has its answer.
type ScheduleEffect struct {
	User  string
	Locs  []Location
	Sched *Schedule
	Event string // "created", "edited", SchedCancelled, SchedFiring... : what happened
}

func (ScheduleEffect) isEffect() {}

// ScheduleArmEffect tells the leader's scheduler that partition's earliest
// action may have moved to AtMS (a schedule was created, edited, or sent
// now). It has no targets.
type ScheduleArmEffect struct{ AtMS int64 }

func (ScheduleArmEffect) isEffect() {}

// Schedule push events.
const (
	SchedEventCreated = "created"
	SchedEventEdited  = "edited"
)

func schedKey(user string, id uint64) []byte {
	return binary.BigEndian.AppendUint64(skUserPrefix(skSched, user), id)
}

func schedActionKey(at int64, user string, id uint64) []byte {
	b := make([]byte, 0, 1+8+len(user)+1+8)
	b = append(b, skSchedAction)
	b = binary.BigEndian.AppendUint64(b, uint64(max(at, 0)))
	b = append(b, user...)
	b = append(b, 0)
	return binary.BigEndian.AppendUint64(b, id)
}

// parseSchedAction splits an action index key.
func parseSchedAction(sub []byte) (at int64, user string, id uint64, ok bool) {
	if len(sub) < 1+8+1+8 || sub[0] != skSchedAction || sub[len(sub)-9] != 0 {
		return 0, "", 0, false
	}
	at = int64(binary.BigEndian.Uint64(sub[1:9]))
	user = string(sub[9 : len(sub)-9])
	id = binary.BigEndian.Uint64(sub[len(sub)-8:])
	return at, user, id, true
}

func schedListKey(user string, fire int64, id uint64) []byte {
	b := binary.BigEndian.AppendUint64(skUserPrefix(skSchedList, user), uint64(max(fire, 0)))
	return binary.BigEndian.AppendUint64(b, id)
}

func schedConvKey(user, conv string) []byte { return sk(skSchedConv, user, conv) }

func schedUserKey(user string) []byte { return sk(skSchedUser, user) }

func schedDedupKey(user, device string, cmid uint64) []byte {
	return binary.BigEndian.AppendUint64(sk(skSchedDedup, user, device, ""), cmid)
}
