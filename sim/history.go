package sim

import (
	"fmt"
	"sort"
	"time"
)

// Outcome is how a send ended from the sender's point of view.
type Outcome uint8

const (
	// Acked: the server acknowledged the send (it is durable).
	Acked Outcome = iota + 1
	// Unknown: the send failed with an error that leaves its fate open
	// (busy after retries, timeout, connection lost, shutdown...).
	Unknown
	// Refused: the server refused the send (not applied).
	Refused
)

func (o Outcome) String() string {
	switch o {
	case Acked:
		return "acked"
	case Unknown:
		return "unknown"
	case Refused:
		return "refused"
	}
	return "?"
}

// Send is one logical message: one Client.Send call (with its retries,
// which reuse the cmid). Body is the message's key, unique per send, and
// is how deliveries are matched to sends; the bytes on the wire are the
// key followed by filler derived from it (see body.go), Size in all.
type Send struct {
	Body       string
	From       string
	FromDevice string
	To         string
	CMID       uint64
	Start, End time.Duration // since the start of the run
	Outcome    Outcome
	AckID      uint64 // Acked only
	AckSeq     uint64 // Acked only: position in To's inbox
	Err        string
	// Session is the key of the session (Session.Key) that sent it.
	Session string
	Size    int
	// NodeAt and NodeEnd are the node the client was connected to when
	// the send began and when it ended ("" if none): a diagnosis of slow
	// sends, checked by nothing.
	NodeAt, NodeEnd string
}

// Delivery is one message handed to a device by the client library. Body
// is the message's key; Corrupt says the bytes after the key were not the
// filler the sender wrote.
type Delivery struct {
	Seq     uint64
	ID      uint64
	From    string
	Body    string
	At      time.Duration
	Corrupt bool
	// Sched marks a fired scheduled message (from device SchedDevice):
	// Check holds it to the order of the stream only, CheckSchedules to
	// the rest. SentMS is the message's server time (Unix ms).
	Sched  bool
	SentMS int64
}

// Device is one recipient device and everything it received, in the order
// it received it (one stream: the device's view of its user's inbox).
type Device struct {
	ID   string
	User string
	// Complete says the device is expected to hold every acked message
	// of its user: the fresh reader devices logged in at the end, and the
	// devices that were still online through the quiet period.
	Complete  bool
	Delivered []Delivery
	// Online lists the stretches in which the device was logged in,
	// synced and connected, in time order (see CheckDelivery).
	Online []Stretch
	// Revoked marks the record of a revoked session: what the session
	// received after the simulator revoked it (the old client of a device
	// that logged in elsewhere, the other devices of a user whose password
	// changed or whose account was deleted). Such a record is one stream
	// of its own, never Complete, and not held to bounded delivery.
	Revoked bool
	// Groups lists the group entries the device received, in the order
	// it received them; GroupOnline the stretches in which it followed a
	// group (see CheckGroups); GroupsComplete says it followed all its
	// user's groups at the end (every entry of its user's current
	// memberships is expected).
	Groups         []GroupEntry
	GroupOnline    []GroupStretch
	GroupsComplete bool
}

// Stretch is a time in which a device was online at one node: from the
// client's "synced" event (after a login or a reconnect) until the
// connection was lost, the session ended or the simulator closed it.
type Stretch struct {
	From, To time.Duration
	Addr     string // the node's client address
}

// Cutoff is a time in which the node at Addr (a client address) could
// not serve its clients normally: paused, partitioned from the other
// nodes, killed or leaving (until its restart).
type Cutoff struct {
	Addr     string
	Kind     string
	From, To time.Duration
}

// Session is one logged-in client object (one Login and the resumes the
// client library makes on its own). RevokedAt is when the simulator did
// something that must end it (0: never): the time the revoking call
// (another login of the same device, a password change, a deletion)
// returned, an upper bound of when the revocation was committed;
// RevokeFrom is when that call began, a lower bound.
type Session struct {
	Key        string
	Device     string
	User       string
	Start      time.Duration
	RevokeFrom time.Duration
	RevokedAt  time.Duration
	RevokedBy  string
	// Record is the ID of the Device record that holds what the session
	// received after its revocation.
	Record string
	// MayEndFrom, when set, is when a call of unknown outcome began that
	// may have ended the session on purpose: a password change whose
	// reply was lost logs the changer in anew first (client
	// ChangePassword), and that login, if it happened, replaced the
	// session (PROTOCOL §5.2). Nothing is owed either way.
	MayEndFrom time.Duration
	// Ends are the session-ended events the client reported.
	Ends []SessionEnd
}

// SessionEnd is one EventSessionEnded: Code is the wire code's name
// ("session_invalid", "session_replaced", ...) or "" for a local end.
type SessionEnd struct {
	At     time.Duration
	Code   string
	Detail string
}

// History is everything a run recorded.
type History struct {
	Sends    []Send
	Devices  []Device
	Sessions []Session
	Cutoffs  []Cutoff
	// The groups (groupcheck.go): the group messages sent, the
	// membership changes made and the final read of every group.
	GroupSends  []GroupSend
	MemberOps   []MemberOp
	GroupFinals []GroupFinal
	// The scheduled messages (schedcheck.go).
	Scheds []SchedIntent
}

// Finding is one invariant violation, for the report.
type Finding struct {
	Kind   string // lost, duplicated, unexpected, order, seq_mismatch
	Device string
	Body   string
	Detail string
}

func (f Finding) String() string {
	return fmt.Sprintf("%s: device %s message %s: %s", f.Kind, f.Device, f.Body, f.Detail)
}

// Result is what Check found.
type Result struct {
	Sends           int `json:"sends"`
	Acked           int `json:"acked"`
	Unknown         int `json:"unknown"`
	Refused         int `json:"refused"`
	Delivered       int `json:"delivered"` // deliveries over all devices
	Lost            int `json:"lost"`      // acked messages missing on at least one complete device
	LostDeliveries  int `json:"lost_deliveries"`
	Duplicated      int `json:"duplicated"` // extra copies on one device
	Unexpected      int `json:"unexpected"` // deliveries of messages never sent (or refused)
	Recovered       int `json:"recovered"`  // unknown outcome, yet delivered
	UnknownMissing  int `json:"unknown_not_delivered"`
	OrderViolations int `json:"order_violations"` // seq not previous+1 on a device
	SeqMismatch     int `json:"seq_mismatch"`     // delivered at another seq than the ack said
	// Linearizability of each inbox's appends, from the acks alone: two
	// acked messages at one seq (or one id), or a message acked at a lower
	// seq than one whose ack came back before it was even sent.
	SeqConflicts       int `json:"seq_conflicts"`
	RealtimeViolations int `json:"realtime_violations"`
	// Corrupted counts deliveries whose body was not what was sent.
	Corrupted int       `json:"corrupted"`
	Findings  []Finding `json:"-"`
}

// OK reports whether no invariant was violated.
func (r *Result) OK() bool {
	return r.Lost == 0 && r.Duplicated == 0 && r.Unexpected == 0 && r.OrderViolations == 0 && r.SeqMismatch == 0 &&
		r.SeqConflicts == 0 && r.RealtimeViolations == 0 && r.Corrupted == 0
}

// Check verifies a history. It is a pure function of h:
//
//   - lost: an acked message to user U that some Complete device of U
//     never received;
//   - duplicated: a message (by body) received more than once by one
//     device, counted once per extra copy;
//   - unexpected: a received message that no send produced, or whose
//     send was refused, or that went to a user other than its recipient;
//   - recovered: a send with unknown outcome that some device received;
//   - order_violations: on one device, a seq that is not the previous
//     seq plus one (the first received seq of a device must be 1 when the
//     device is Complete, since devices start with an empty cursor). A
//     revoked session's record may skip: the device's new session moves
//     the device's cursor on the server, and a resume of the revoked one
//     starts from there (anything it receives after the bound is a
//     revocation violation anyway);
//   - seq_mismatch: an acked message received at a seq other than the
//     one its ack announced;
//   - corrupted: a received message whose bytes are not the ones sent;
//   - seq_conflicts: two acked messages with the same (recipient, seq) or
//     the same message id;
//   - realtime_violations: messages to one recipient, A and B, where B's
//     ack returned before A's send started yet A got the lower seq (the
//     inbox append is not linearizable).
//
// Fired scheduled messages (Delivery.Sched) count for the order of the
// stream only; CheckSchedules checks the rest of them.
func Check(h History) Result {
	var r Result
	byBody := make(map[string]*Send, len(h.Sends))
	for i := range h.Sends {
		s := &h.Sends[i]
		byBody[s.Body] = s
		r.Sends++
		switch s.Outcome {
		case Acked:
			r.Acked++
		case Unknown:
			r.Unknown++
		case Refused:
			r.Refused++
		}
	}
	add := findingAdder(&r.Findings)
	byTo := map[string][]*Send{}
	for i := range h.Sends {
		if s := &h.Sends[i]; s.Outcome == Acked {
			byTo[s.To] = append(byTo[s.To], s)
		}
	}
	received := make(map[string]bool) // bodies received by any device of their recipient
	lostMsgs := make(map[string]bool)
	for _, d := range h.Devices {
		seen := make(map[string]int)
		var prev uint64
		for i, m := range d.Delivered {
			r.Delivered++
			switch {
			case i == 0 && d.Complete && m.Seq != 1:
				r.OrderViolations++
				add(Finding{"order", d.ID, m.Body, fmt.Sprintf("first seq %d, want 1", m.Seq)})
			case i > 0 && m.Seq != prev+1 && !d.Revoked:
				r.OrderViolations++
				add(Finding{"order", d.ID, m.Body, fmt.Sprintf("seq %d after %d", m.Seq, prev)})
			}
			prev = m.Seq
			if m.Sched {
				continue // a fired scheduled message: CheckSchedules
			}
			if m.Corrupt {
				r.Corrupted++
				add(Finding{"corrupted", d.ID, m.Body, fmt.Sprintf("seq %d: the body is not what was sent", m.Seq)})
			}
			seen[m.Body]++
			if seen[m.Body] > 1 {
				r.Duplicated++
				add(Finding{"duplicated", d.ID, m.Body, fmt.Sprintf("copy %d at seq %d", seen[m.Body], m.Seq)})
			}
			s := byBody[m.Body]
			if s == nil || s.Outcome == Refused || s.To != d.User {
				r.Unexpected++
				why := "never sent"
				if s != nil && s.Outcome == Refused {
					why = "its send was refused: " + s.Err
				} else if s != nil {
					why = "sent to " + s.To
				}
				add(Finding{"unexpected", d.ID, m.Body, fmt.Sprintf("seq %d: %s", m.Seq, why)})
				continue
			}
			received[m.Body] = true
			if s.Outcome == Acked && s.AckSeq != 0 && m.Seq != s.AckSeq && seen[m.Body] == 1 {
				r.SeqMismatch++
				add(Finding{"seq_mismatch", d.ID, m.Body, fmt.Sprintf("received at seq %d, acked at %d", m.Seq, s.AckSeq)})
			}
		}
		if !d.Complete {
			continue
		}
		for _, s := range byTo[d.User] {
			if seen[s.Body] == 0 {
				r.LostDeliveries++
				lostMsgs[s.Body] = true
				add(Finding{"lost", d.ID, s.Body, fmt.Sprintf("acked at seq %d (id %d) after %v, never received", s.AckSeq, s.AckID, s.End)})
			}
		}
	}
	r.Lost = len(lostMsgs)
	for i := range h.Sends {
		s := &h.Sends[i]
		if s.Outcome == Unknown {
			if received[s.Body] {
				r.Recovered++
			} else {
				r.UnknownMissing++
			}
		}
	}
	r.checkAcks(h.Sends, add)
	sort.SliceStable(r.Findings, func(i, j int) bool { return r.Findings[i].Kind < r.Findings[j].Kind })
	return r
}

// maxFindings bounds the findings kept per kind (the counts are exact).
const maxFindings = 200

// findingAdder returns an add func that keeps at most maxFindings
// findings of each kind in *out.
func findingAdder(out *[]Finding) func(Finding) {
	per := map[string]int{}
	return func(f Finding) {
		if per[f.Kind]++; per[f.Kind] <= maxFindings {
			*out = append(*out, f)
		}
	}
}

// checkAcks checks the acked sends for seq conflicts and real-time order.
func (r *Result) checkAcks(sends []Send, add func(Finding)) {
	byTo := map[string][]*Send{}
	ids := map[uint64]*Send{}
	for i := range sends {
		s := &sends[i]
		if s.Outcome != Acked {
			continue
		}
		byTo[s.To] = append(byTo[s.To], s)
		if o := ids[s.AckID]; o != nil && s.AckID != 0 {
			r.SeqConflicts++
			add(Finding{"seq_conflict", "", s.Body, fmt.Sprintf("message id %d also acked for %s", s.AckID, o.Body)})
		}
		ids[s.AckID] = s
	}
	users := make([]string, 0, len(byTo))
	for u := range byTo {
		users = append(users, u)
	}
	sort.Strings(users)
	for _, u := range users {
		ss := byTo[u]
		sort.SliceStable(ss, func(i, j int) bool { return ss[i].AckSeq < ss[j].AckSeq })
		for i := 1; i < len(ss); i++ {
			if ss[i].AckSeq == ss[i-1].AckSeq {
				r.SeqConflicts++
				add(Finding{"seq_conflict", "", ss[i].Body, fmt.Sprintf("%s seq %d also acked for %s", u, ss[i].AckSeq, ss[i-1].Body)})
			}
		}
		// minEnd[i]: the earliest ack among the sends at seq > ss[i].
		var minEnd time.Duration = 1<<63 - 1
		var minAt *Send
		for i := len(ss) - 1; i >= 0; i-- {
			if minAt != nil && minEnd < ss[i].Start && ss[i].AckSeq < minAt.AckSeq {
				r.RealtimeViolations++
				add(Finding{"realtime", "", ss[i].Body, fmt.Sprintf("%s: sent at %v, got seq %d, below seq %d of %s acked already at %v",
					u, ss[i].Start, ss[i].AckSeq, minAt.AckSeq, minAt.Body, minEnd)})
			}
			if ss[i].End < minEnd {
				minEnd, minAt = ss[i].End, ss[i]
			}
		}
	}
}
