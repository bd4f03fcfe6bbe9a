package sim

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/roamhq/roam/client"
)

// The scheduled-message history and its checker (PROTOCOL.md §17). The
// load that records it is in schedule.go.
//
// A scheduled message's body is a key (as a send's, body.go): the
// schedule's token (SchedIntent.Key) and ":v" and the body version (0 at
// the create, 1, 2... for each edit), so a fire names its schedule and the
// body it carried. Fires arrive in the recipient's inbox from device
// SchedDevice (Delivery.Sched); Check leaves them to CheckSchedules.

// SchedDevice is the from_device of a fired scheduled message.
const SchedDevice = " sched"

// Schedule operations (SchedOp.Kind).
const (
	SchedCreate = "create"
	SchedEdit   = "edit"
	SchedCancel = "cancel"
	SchedNow    = "now"
)

// SchedOp is one request about a scheduled message: one client call with
// its retries.
type SchedOp struct {
	Kind       string
	Device     string
	Start, End time.Duration
	Outcome    Outcome
	Err        string
	// The request: the body version and the fire time (Unix ms) a create
	// or an edit asked for.
	Version int
	AtMS    int64
	// The reply (Acked only): the schedule's state, fire time, done time
	// and message id afterwards, and its version counter (0: a cancel
	// retried after an attempt that removed it, which says nothing of the
	// state it was in).
	State    string
	FireMS   int64
	DoneMS   int64
	MsgID    uint64
	ServerV  uint32
	BodyKey  string // the body key of the reply
	ReplyErr string // Refused: the refusal's code name
}

// SchedFinal is a schedule as the sender's ScheduleList showed it at the
// end.
type SchedFinal struct {
	ID      uint64
	State   string
	Reason  string
	FireMS  int64
	DoneMS  int64
	MsgID   uint64
	Seq     uint64
	BodyKey string
}

// SchedIntent is one scheduled message the load made: its create and the
// changes that followed, in the order made (one at a time).
type SchedIntent struct {
	Key   string // unique token of the run ("simsched:seed:n")
	From  string
	To    string // the friend, or
	Group string // the group
	ID    uint64 // from the create's reply; 0 if it never came
	Ops   []SchedOp
	Final *SchedFinal // nil: not listed at the end (cancelled, never made, or the list failed)
}

// schedBodyKey is the body key of version v of the schedule with token key.
func schedBodyKey(key string, v int) string { return fmt.Sprintf("%s:v%d", key, v) }

// splitSchedKey splits a body key into the token and the body version.
func splitSchedKey(body string) (key string, v int, ok bool) {
	i := strings.LastIndex(body, ":v")
	if i < 0 {
		return body, 0, false
	}
	if _, err := fmt.Sscanf(body[i+2:], "%d", &v); err != nil {
		return body, 0, false
	}
	return body[:i], v, true
}

// SchedResult is what CheckSchedules found.
type SchedResult struct {
	Schedules int            `json:"schedules"` // creates made
	ToGroups  int            `json:"to_groups"` // of them to a group
	Acked     int            `json:"acked"`     // creates acknowledged
	Unknown   int            `json:"unknown"`
	Refused   int            `json:"refused"`
	Ops       map[string]int `json:"ops,omitempty"` // changes by kind and outcome ("cancel ok", "cancel ok_after_fire", "edit schedule_not_pending")
	// What happened: Owed schedules (acked, never cancelled while
	// pending, no change of unknown outcome that could have cancelled
	// it); Fired of them observed; Cancelled (a cancel acknowledged while
	// pending); Maybe (an outcome unknown, or a group schedule whose
	// sender's membership changed after the create: at most once,
	// either state).
	Owed       int `json:"owed"`
	Fired      int `json:"fired"`
	Cancelled  int `json:"cancelled"`
	Maybe      int `json:"maybe"`
	MaybeFired int `json:"maybe_fired"`
	Edited     int `json:"edited_fired"` // fires that carried an edited body
	Unchecked  int `json:"unchecked"`    // no device of the recipient read its whole inbox
	// Violations.
	Lost           int `json:"lost"`            // owed, and not in the recipient's inbox
	FiredTwice     int `json:"fired_twice"`     // two messages of one schedule, or one twice on a device
	CancelledFired int `json:"cancelled_fired"` // fired although cancelled while pending
	Early          int `json:"early"`           // fired before its (possible) fire time
	WrongBody      int `json:"wrong_body"`      // fired with a body the schedule did not have at its fire
	Mismatch       int `json:"mismatch"`        // the sender's list disagrees (not fired at the end, another message id)
	Unexpected     int `json:"unexpected"`      // a fire no schedule explains, or in another user's inbox
	Corrupted      int `json:"corrupted"`
	// Lateness of the fires whose fire time is known: the message's
	// server time (Message.Sent) minus the fire time, and the first
	// receipt by any device minus the fire time.
	LateP50ms float64   `json:"late_p50_ms"`
	LateP99ms float64   `json:"late_p99_ms"`
	LateMaxms float64   `json:"late_max_ms"`
	RecvP50ms float64   `json:"received_p50_ms"`
	RecvP99ms float64   `json:"received_p99_ms"`
	RecvMaxms float64   `json:"received_max_ms"`
	SlackMs   float64   `json:"slack_ms"`
	Findings  []Finding `json:"-"`
}

// Violations sums the violation counters.
func (r *SchedResult) Violations() int {
	return r.Lost + r.FiredTwice + r.CancelledFired + r.Early + r.WrongBody + r.Mismatch + r.Unexpected + r.Corrupted
}

// OK reports whether no schedule invariant was violated.
func (r *SchedResult) OK() bool { return r.Violations() == 0 }

// schedFire is one fire of a schedule as the recipient's devices saw it.
type schedFire struct {
	id      uint64
	version int
	sentMS  int64         // the message's server time
	firstAt time.Duration // first receipt, any device
	seq     uint64
}

// CheckSchedules verifies the scheduled-message history. It is a pure
// function of h; epochMS is the wall clock (Unix ms) at run time 0, which
// turns the recorder's times into the server's; slack is the clock slack
// allowed between the simulator and the nodes (one machine: a few ms).
//
// Per schedule, from its ops in the order made:
//
//   - possible fire times and bodies: the create's; an acknowledged
//     edit or schedule_now replaces them with its reply's (the state after
//     it); one of unknown outcome adds its own (a now: any time from its
//     start), and so does a refused one (the client retries a request of
//     unknown outcome and does not say how often it tried: not_pending or
//     too_soon may answer the retry of an attempt that was applied);
//   - it is owed when the create was acknowledged and no cancel was
//     acknowledged while it was pending (reply with no done time, and a
//     version: not a retry's empty answer) nor had an unknown outcome; it
//     must never fire when a cancel was acknowledged while pending;
//     otherwise (a create or cancel of unknown outcome) it may fire or
//     not;
//
// and then, with the fires found in the inboxes (messages from
// SchedDevice; a fire is a message id):
//
//   - lost: owed, the recipient has a device that read its whole inbox
//     (Device.Complete), and no fire;
//   - fired_twice: two message ids of one schedule, or one message twice
//     on one device;
//   - cancelled_fired: a fire of one that must never fire;
//   - early: a fire whose server time or first receipt is more than
//     slack before the earliest possible fire time;
//   - wrong_body: a fire whose body version is not a possible one;
//   - mismatch: the sender's final list has an owed schedule in another
//     state than fired, or fired as another message than the one found;
//   - unexpected: a fire in an inbox other than its recipient's, of no
//     schedule of the run, or of one whose create was refused;
//   - corrupted: a fire whose bytes are not the ones scheduled.
func CheckSchedules(h History, epochMS int64, slack time.Duration) SchedResult {
	res := SchedResult{Ops: map[string]int{}, SlackMs: float64(slack.Milliseconds())}
	add := findingAdder(&res.Findings)
	byKey := make(map[string]*SchedIntent, len(h.Scheds))
	for i := range h.Scheds {
		byKey[h.Scheds[i].Key] = &h.Scheds[i]
	}
	complete := map[string]bool{} // users with a device that read the whole inbox, groups whose final read completed
	fires := map[string]map[uint64]*schedFire{}
	// collect takes the fires in one record (a device's inbox or group
	// stream, or a group's final read) of conversation conv (a user, or
	// a group when group).
	collect := func(rec, conv string, group bool, ms []schedMsg) {
		seen := map[uint64]bool{}
		for _, m := range ms {
			key, v, ok := splitSchedKey(m.body)
			s := byKey[key]
			if !ok || s == nil || group && s.Group != conv || !group && (s.Group != "" || s.To != conv) {
				res.Unexpected++
				why := "no schedule of the run"
				if s != nil {
					why = "scheduled by " + s.From + " to " + s.dest()
				}
				add(Finding{"sched_unexpected", rec, m.body, fmt.Sprintf("fired message %d at seq %d of %s: %s", m.id, m.seq, conv, why)})
				continue
			}
			if m.corrupt {
				res.Corrupted++
				add(Finding{"sched_corrupted", rec, m.body, fmt.Sprintf("seq %d of %s: the body is not what was scheduled", m.seq, conv)})
			}
			if seen[m.id] {
				res.FiredTwice++
				add(Finding{"sched_fired_twice", rec, m.body, fmt.Sprintf("message %d received again at seq %d of %s", m.id, m.seq, conv)})
				continue
			}
			seen[m.id] = true
			fs := fires[key]
			if fs == nil {
				fs = map[uint64]*schedFire{}
				fires[key] = fs
			}
			f := fs[m.id]
			if f == nil {
				f = &schedFire{id: m.id, version: v, sentMS: m.sentMS, firstAt: m.at, seq: m.seq}
				fs[m.id] = f
			}
			f.firstAt, f.sentMS = min(f.firstAt, m.at), min(f.sentMS, m.sentMS)
		}
	}
	for _, d := range h.Devices {
		if d.Complete && !d.Revoked {
			complete[d.User] = true
		}
		var ms []schedMsg
		for _, m := range d.Delivered {
			if m.Sched {
				ms = append(ms, schedMsg{m.Seq, m.ID, m.Body, m.At, m.SentMS, m.Corrupt})
			}
		}
		collect(d.ID, d.User, false, ms)
		byGroup := map[string][]schedMsg{}
		for _, e := range d.Groups {
			if e.Sched && e.Kind == "" {
				byGroup[e.Group] = append(byGroup[e.Group], schedMsg{e.Seq, e.ID, e.Body, e.At, e.SentMS, e.Corrupt})
			}
		}
		for g, ms := range byGroup {
			collect(d.ID, g, true, ms)
		}
	}
	for _, f := range h.GroupFinals {
		complete[groupConv(f.Group)] = f.Read
		var ms []schedMsg
		for _, e := range f.Entries {
			if e.Sched && e.Kind == "" {
				ms = append(ms, schedMsg{e.Seq, e.ID, e.Body, e.At, e.SentMS, e.Corrupt})
			}
		}
		collect("final read of "+f.Group, f.Group, true, ms)
	}
	// The membership changes of each sender in each group: a group
	// schedule fires only if its sender is a member at its fire.
	changed := map[[2]string][]MemberOp{}
	for _, op := range h.MemberOps {
		changed[[2]string{op.Group, op.User}] = append(changed[[2]string{op.Group, op.User}], op)
	}
	var late, recv []time.Duration
	for i := range h.Scheds {
		s := &h.Scheds[i]
		conv, member := s.To, true
		if s.Group != "" {
			conv = groupConv(s.Group)
			for _, op := range changed[[2]string{s.Group, s.From}] {
				member = member && (len(s.Ops) == 0 || op.End < s.Ops[0].Start)
			}
		}
		res.check(s, fires[s.Key], complete[conv], member, epochMS, slack, add, &late, &recv)
	}
	res.LateP50ms, res.LateP99ms, res.LateMaxms = pct(late, 50), pct(late, 99), pct(late, 100)
	res.RecvP50ms, res.RecvP99ms, res.RecvMaxms = pct(recv, 50), pct(recv, 99), pct(recv, 100)
	sort.SliceStable(res.Findings, func(i, j int) bool { return res.Findings[i].Kind < res.Findings[j].Kind })
	return res
}

// schedExpect is what a schedule's ops allow.
type schedExpect struct {
	created  Outcome
	owed     bool // must fire once
	never    bool // must not fire
	lowMS    int64
	exactMS  int64 // the fire time when known (0: not)
	versions map[int]bool
}

// expect derives what s's ops allow (see CheckSchedules).
func expect(s *SchedIntent) schedExpect {
	var e schedExpect
	cancelUnknown := false
	for i, op := range s.Ops {
		if i == 0 {
			e.created = op.Outcome
			e.lowMS, e.exactMS = op.AtMS, op.AtMS
			if op.Outcome == Acked {
				e.lowMS, e.exactMS = op.FireMS, op.FireMS
			}
			e.versions = map[int]bool{op.Version: true}
			continue
		}
		switch {
		case op.Outcome == Acked && (op.Kind == SchedEdit || op.Kind == SchedNow):
			e.lowMS, e.exactMS = op.FireMS, op.FireMS
			if _, v, ok := splitSchedKey(op.BodyKey); ok {
				e.versions = map[int]bool{v: true}
			}
		case op.Outcome != Acked && op.Kind == SchedEdit:
			e.lowMS, e.exactMS = min(e.lowMS, op.AtMS), 0
			e.versions[op.Version] = true
		case op.Outcome != Acked && op.Kind == SchedNow:
			e.exactMS = 0 // the fire time became a moment of the call, or not
		case op.Kind == SchedCancel && op.Outcome == Acked && op.ServerV != 0 && op.DoneMS == 0:
			e.never = true
		case op.Kind == SchedCancel && (op.Outcome == Unknown || op.Outcome == Acked && op.ServerV == 0):
			cancelUnknown = true
		}
	}
	e.owed = e.created == Acked && !e.never && !cancelUnknown
	return e
}

// groupConv is the key of group g among the conversations (users' names
// have no space).
func groupConv(g string) string { return "group " + g }

// schedMsg is a fired message as a record holds it.
type schedMsg struct {
	seq, id uint64
	body    string
	at      time.Duration
	sentMS  int64
	corrupt bool
}

// dest is where s goes: its recipient, or "group " and its group.
func (s *SchedIntent) dest() string {
	if s.Group != "" {
		return groupConv(s.Group)
	}
	return s.To
}

// check checks one schedule s with its fires fs; complete says its
// recipient's inbox (or its group's stream) was read whole; member that
// a group schedule's sender stayed a member from before the create on
// (no membership change of it ended after the create began).
func (res *SchedResult) check(s *SchedIntent, fs map[uint64]*schedFire, complete, member bool, epochMS int64, slack time.Duration,
	add func(Finding), late, recv *[]time.Duration) {
	if len(s.Ops) == 0 {
		return
	}
	res.Schedules++
	if s.Group != "" {
		res.ToGroups++
	}
	for _, op := range s.Ops[1:] {
		name := okName(op.Outcome)
		switch {
		case op.Outcome == Refused && op.ReplyErr != "":
			name = op.ReplyErr
		case op.Kind == SchedCancel && op.Outcome == Acked && op.ServerV == 0:
			name = "ok_retried" // removed by an earlier attempt: the state it was in is unknown
		case op.Kind == SchedCancel && op.Outcome == Acked && op.DoneMS != 0:
			name = "ok_after_fire" // it had fired: the cancel forgot it
		}
		res.Ops[op.Kind+" "+name]++
	}
	e := expect(s)
	if !member {
		// The fire may be refused (not a member any more): it is
		// owed no more, and may fail.
		e.owed = false
	}
	// The lower bound of a now of unknown outcome: its start.
	for _, op := range s.Ops[1:] {
		if op.Kind == SchedNow && op.Outcome != Acked {
			e.lowMS = min(e.lowMS, epochMS+op.Start.Milliseconds())
		}
	}
	switch e.created {
	case Acked:
		res.Acked++
	case Unknown:
		res.Unknown++
	case Refused:
		res.Refused++
	}
	ids := make([]uint64, 0, len(fs))
	for id := range fs {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	desc := func() string {
		var b strings.Builder
		fmt.Fprintf(&b, "%s -> %s id %d:", s.From, s.dest(), s.ID)
		for _, op := range s.Ops {
			fmt.Fprintf(&b, " %s %s (%v-%v", op.Kind, okName(op.Outcome), op.Start, op.End)
			if op.AtMS != 0 {
				fmt.Fprintf(&b, " at %d", op.AtMS)
			}
			if op.Outcome == Acked {
				fmt.Fprintf(&b, " -> %s fire %d done %d v%d", op.State, op.FireMS, op.DoneMS, op.ServerV)
			}
			b.WriteString(")")
		}
		return b.String()
	}
	switch {
	case e.created == Refused:
		if len(ids) > 0 {
			res.Unexpected++
			add(Finding{"sched_unexpected", s.dest(), s.Key, fmt.Sprintf("fired as message %d although its create was refused; %s", ids[0], desc())})
		}
		return
	case e.never:
		res.Cancelled++
	case e.owed:
		res.Owed++
	default:
		res.Maybe++
	}
	if len(ids) > 1 {
		res.FiredTwice++
		add(Finding{"sched_fired_twice", s.dest(), s.Key, fmt.Sprintf("fired as messages %v; %s", ids, desc())})
	}
	if e.never && len(ids) > 0 {
		res.CancelledFired++
		add(Finding{"sched_cancelled_fired", s.dest(), s.Key, fmt.Sprintf("fired as message %d although cancelled while pending; %s", ids[0], desc())})
	}
	if e.owed && len(ids) > 0 {
		res.Fired++
	}
	if !e.owed && !e.never && len(ids) > 0 {
		res.MaybeFired++
	}
	if e.owed && len(ids) == 0 {
		if complete {
			res.Lost++
			add(Finding{"sched_lost", s.dest(), s.Key, "acknowledged, never cancelled, not in the recipient's inbox (or the group's stream); " + desc()})
		} else {
			res.Unchecked++
		}
	}
	for _, id := range ids {
		f := fs[id]
		if f.version > 0 {
			res.Edited++
		}
		if !e.versions[f.version] {
			res.WrongBody++
			add(Finding{"sched_wrong_body", s.dest(), schedBodyKey(s.Key, f.version), fmt.Sprintf("fired as message %d with body version %d; possible %v; %s", id, f.version, e.versions, desc())})
		}
		recvMS := epochMS + f.firstAt.Milliseconds()
		if sl := slack.Milliseconds(); f.sentMS < e.lowMS-sl || recvMS < e.lowMS-sl {
			res.Early++
			add(Finding{"sched_early", s.dest(), s.Key, fmt.Sprintf("message %d sent at %d, first received at %d, %d ms before the earliest possible fire time %d; %s",
				id, f.sentMS, recvMS, e.lowMS-min(f.sentMS, recvMS), e.lowMS, desc())})
		}
		if e.exactMS != 0 {
			*late = append(*late, time.Duration(f.sentMS-e.exactMS)*time.Millisecond)
			*recv = append(*recv, time.Duration(recvMS-e.exactMS)*time.Millisecond)
		}
	}
	if fin := s.Final; e.owed && fin != nil && complete {
		switch {
		case fin.State != client.SchedFired:
			res.Mismatch++
			add(Finding{"sched_mismatch", s.From, s.Key, fmt.Sprintf("the sender's list has it %s %s at the end; %s", fin.State, fin.Reason, desc())})
		case len(ids) == 1 && fin.MsgID != ids[0]:
			res.Mismatch++
			add(Finding{"sched_mismatch", s.From, s.Key, fmt.Sprintf("the sender's list has it fired as message %d (seq %d), the inbox holds message %d (seq %d); %s",
				fin.MsgID, fin.Seq, ids[0], fs[ids[0]].seq, desc())})
		}
	}
}
