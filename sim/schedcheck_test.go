package sim

import (
	"testing"
	"time"
)

// The synthetic schedule histories: alice schedules to bob; the wall clock
// at run time 0 is schedEpoch (Unix ms), so run time t is schedEpoch+t ms
// on the server's clock.
const schedEpoch = 1_000_000

func wall(t time.Duration) int64 { return schedEpoch + t.Milliseconds() }

func sec(f float64) time.Duration { return time.Duration(f * float64(time.Second)) }

// created is an acknowledged create of token key at 1 s, firing at fire.
func created(key string, id uint64, fire time.Duration) SchedIntent {
	return SchedIntent{Key: key, From: "alice", To: "bob", ID: id, Ops: []SchedOp{{
		Kind: SchedCreate, Device: "alice-d0", Start: sec(1), End: sec(1.05), Outcome: Acked, AtMS: wall(fire),
		State: "pending", FireMS: wall(fire), ServerV: 1, BodyKey: schedBodyKey(key, 0),
	}}}
}

// fire is the delivery of a fire of key (body version v) as message id,
// sent at sent and received at recv.
func fire(key string, v int, id, seq uint64, sent, recv time.Duration) Delivery {
	return Delivery{Seq: seq, ID: id, From: "alice", Body: schedBodyKey(key, v), At: recv, Sched: true, SentMS: wall(sent)}
}

// cleanScheds is a history that holds: s1 fires on time; s2 is cancelled
// while pending and never fires; s3 is edited (later, new body) and fires
// with the edit; s4 is sent now; s5's create has an unknown outcome and
// does not fire; s6's cancel has an unknown outcome and it fires; s7 is
// cancelled after it fired (the cancel forgets it). Bob's phone was
// online throughout; bob's final device read the whole inbox.
func cleanScheds() History {
	s1 := created("k1", 11, sec(3))
	s1.Final = &SchedFinal{ID: 11, State: "fired", FireMS: wall(sec(3)), DoneMS: wall(sec(3.2)), MsgID: 501, Seq: 2}
	s2 := created("k2", 12, sec(4))
	s2.Ops = append(s2.Ops, SchedOp{Kind: SchedCancel, Start: sec(2), End: sec(2.05), Outcome: Acked, State: "cancelled", FireMS: wall(sec(4)), ServerV: 2})
	s3 := created("k3", 13, sec(5))
	s3.Ops = append(s3.Ops, SchedOp{Kind: SchedEdit, Start: sec(2), End: sec(2.05), Outcome: Acked, Version: 1, AtMS: wall(sec(6)),
		State: "pending", FireMS: wall(sec(6)), ServerV: 2, BodyKey: schedBodyKey("k3", 1)})
	s4 := created("k4", 14, sec(8))
	s4.Ops = append(s4.Ops, SchedOp{Kind: SchedNow, Start: sec(2.5), End: sec(2.55), Outcome: Acked, State: "pending", FireMS: wall(sec(2.5)), ServerV: 2, BodyKey: schedBodyKey("k4", 0)})
	s5 := SchedIntent{Key: "k5", From: "alice", To: "bob", Ops: []SchedOp{{Kind: SchedCreate, Start: sec(1), End: sec(4), Outcome: Unknown, AtMS: wall(sec(7)), Err: "busy"}}}
	s6 := created("k6", 16, sec(3.5))
	s6.Ops = append(s6.Ops, SchedOp{Kind: SchedCancel, Start: sec(3.4), End: sec(6), Outcome: Unknown, Err: "busy"})
	s7 := created("k7", 17, sec(2))
	s7.Ops = append(s7.Ops, SchedOp{Kind: SchedCancel, Start: sec(2.5), End: sec(2.55), Outcome: Acked, State: "cancelled",
		FireMS: wall(sec(2)), DoneMS: wall(sec(2.1)), MsgID: 500, ServerV: 4})
	inbox := []Delivery{
		fire("k7", 0, 500, 1, sec(2.1), sec(2.15)),
		fire("k4", 0, 504, 2, sec(2.6), sec(2.65)),
		fire("k1", 0, 501, 3, sec(3.2), sec(3.25)),
		fire("k6", 0, 506, 4, sec(3.6), sec(3.65)),
		fire("k3", 1, 503, 5, sec(6.1), sec(6.15)),
	}
	s1.Final.Seq = 3
	final := append([]Delivery(nil), inbox...)
	for i := range final {
		final[i].At = sec(20)
	}
	return History{
		Scheds: []SchedIntent{s1, s2, s3, s4, s5, s6, s7},
		Devices: []Device{
			{ID: "bob-phone", User: "bob", Delivered: inbox},
			{ID: "bob-final", User: "bob", Complete: true, Delivered: final},
			{ID: "carol-final", User: "carol", Complete: true},
		},
	}
}

func checkScheds(h History) SchedResult { return CheckSchedules(h, schedEpoch, 50*time.Millisecond) }

func TestCheckSchedules_Clean(t *testing.T) {
	h := cleanScheds()
	r := checkScheds(h)
	if !r.OK() {
		t.Fatalf("violations %d: %+v\n%v", r.Violations(), r, r.Findings)
	}
	want := SchedResult{Schedules: 7, Acked: 6, Unknown: 1, Owed: 4, Fired: 4, Cancelled: 1, Maybe: 2, MaybeFired: 1, Edited: 1}
	if r.Schedules != want.Schedules || r.Acked != want.Acked || r.Unknown != want.Unknown || r.Owed != want.Owed || r.Fired != want.Fired ||
		r.Cancelled != want.Cancelled || r.Maybe != want.Maybe || r.MaybeFired != want.MaybeFired || r.Edited != want.Edited || r.Unchecked != 0 {
		t.Fatalf("counts %+v, want %+v", r, want)
	}
	// s7 (cancelled after its fire) counts as owed: it fired once.
	if r.Ops["cancel ok"] != 1 || r.Ops["cancel ok_after_fire"] != 1 || r.Ops["cancel unknown"] != 1 || r.Ops["edit ok"] != 1 || r.Ops["now ok"] != 1 {
		t.Fatalf("ops %v", r.Ops)
	}
	// Lateness over the fires with a known time: 100 ms each (s1: 200).
	if r.LateP50ms != 100 || r.LateMaxms != 200 || r.RecvMaxms != 250 {
		t.Fatalf("lateness p50 %v max %v, receipt max %v", r.LateP50ms, r.LateMaxms, r.RecvMaxms)
	}
	// The message checker leaves the fires alone (no sends explain them)
	// but still holds them to the stream's order.
	if m := Check(h); !m.OK() || m.Unexpected != 0 || m.Delivered != 10 {
		t.Fatalf("Check of the fires: %+v %v", m, m.Findings)
	}
	h.Devices[1].Delivered[2].Seq = 9
	if m := Check(h); m.OrderViolations == 0 {
		t.Fatal("Check: a seq gap among fired messages not found")
	}
}

// mutate returns the clean history changed by f.
func mutate(f func(h *History)) History {
	h := cleanScheds()
	f(&h)
	return h
}

func TestCheckSchedules_Violations(t *testing.T) {
	for _, c := range []struct {
		name string
		h    History
		want func(r SchedResult) int
		kind string
	}{
		{"double fire", mutate(func(h *History) {
			h.Devices[1].Delivered = append(h.Devices[1].Delivered, fire("k1", 0, 601, 6, sec(5), sec(20)))
		}), func(r SchedResult) int { return r.FiredTwice }, "sched_fired_twice"},
		{"one fire received twice", mutate(func(h *History) {
			h.Devices[0].Delivered = append(h.Devices[0].Delivered, fire("k1", 0, 501, 3, sec(3.2), sec(7)))
		}), func(r SchedResult) int { return r.FiredTwice }, "sched_fired_twice"},
		{"cancelled one fires", mutate(func(h *History) {
			h.Devices[1].Delivered = append(h.Devices[1].Delivered, fire("k2", 0, 602, 6, sec(4.1), sec(20)))
		}), func(r SchedResult) int { return r.CancelledFired }, "sched_cancelled_fired"},
		{"early fire", mutate(func(h *History) {
			h.Devices[0].Delivered[2] = fire("k1", 0, 501, 3, sec(2.9), sec(2.95))
			h.Devices[1].Delivered[2].SentMS = wall(sec(2.9))
		}), func(r SchedResult) int { return r.Early }, "sched_early"},
		{"received before the fire time", mutate(func(h *History) {
			h.Devices[0].Delivered[2].At = sec(2.5) // the server time says 3.2 s, a device had it at 2.5 s
		}), func(r SchedResult) int { return r.Early }, "sched_early"},
		{"edited one fires at its old time", mutate(func(h *History) {
			h.Devices[0].Delivered[4] = fire("k3", 1, 503, 5, sec(5.1), sec(5.15))
			h.Devices[1].Delivered[4].SentMS = wall(sec(5.1))
		}), func(r SchedResult) int { return r.Early }, "sched_early"},
		{"edited one fires with its old body", mutate(func(h *History) {
			for i := range h.Devices[:2] {
				h.Devices[i].Delivered[4].Body = schedBodyKey("k3", 0)
			}
		}), func(r SchedResult) int { return r.WrongBody }, "sched_wrong_body"},
		{"lost", mutate(func(h *History) {
			for i := range h.Devices[:2] {
				h.Devices[i].Delivered = h.Devices[i].Delivered[:2] // k1, k6, k3 gone
			}
		}), func(r SchedResult) int { return r.Lost }, "sched_lost"},
		{"lost after an edit", mutate(func(h *History) {
			for i := range h.Devices[:2] {
				h.Devices[i].Delivered = h.Devices[i].Delivered[:4]
			}
		}), func(r SchedResult) int { return r.Lost }, "sched_lost"},
		{"the sender's list disagrees", mutate(func(h *History) {
			h.Scheds[0].Final.MsgID = 999
		}), func(r SchedResult) int { return r.Mismatch }, "sched_mismatch"},
		{"not fired by the end", mutate(func(h *History) {
			h.Scheds[0].Final.State = "pending"
		}), func(r SchedResult) int { return r.Mismatch }, "sched_mismatch"},
		{"in another inbox", mutate(func(h *History) {
			h.Devices[2].Delivered = []Delivery{fire("k1", 0, 501, 1, sec(3.2), sec(20))}
		}), func(r SchedResult) int { return r.Unexpected }, "sched_unexpected"},
		{"a refused create fires", mutate(func(h *History) {
			h.Scheds = append(h.Scheds, SchedIntent{Key: "k8", From: "alice", To: "bob", Ops: []SchedOp{{Kind: SchedCreate, Start: sec(1), End: sec(1.1),
				Outcome: Refused, AtMS: wall(sec(1.5)), ReplyErr: "schedule_too_soon"}}})
			h.Devices[1].Delivered = append(h.Devices[1].Delivered, fire("k8", 0, 608, 6, sec(1.6), sec(20)))
		}), func(r SchedResult) int { return r.Unexpected }, "sched_unexpected"},
		{"corrupted", mutate(func(h *History) {
			h.Devices[1].Delivered[0].Corrupt = true
		}), func(r SchedResult) int { return r.Corrupted }, "sched_corrupted"},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := checkScheds(c.h)
			if r.OK() || c.want(r) == 0 {
				t.Fatalf("not found: %+v", r)
			}
			found := false
			for _, f := range r.Findings {
				found = found || f.Kind == c.kind
			}
			if !found {
				t.Fatalf("no %s finding in %v", c.kind, r.Findings)
			}
		})
	}
}

// TestCheckSchedules_UnknownOutcomes: a schedule whose create or cancel
// outcome is unknown may fire or not, but at most once; without a device
// that read the whole inbox an owed schedule is unchecked, not lost.
func TestCheckSchedules_UnknownOutcomes(t *testing.T) {
	h := mutate(func(h *History) { // s5 (create unknown) fires after all, s6 (cancel unknown) does not
		h.Devices[1].Delivered = append(h.Devices[1].Delivered[:3], h.Devices[1].Delivered[4], fire("k5", 0, 505, 5, sec(7.1), sec(20)))
		h.Devices[0].Delivered = append(h.Devices[0].Delivered[:3], h.Devices[0].Delivered[4])
	})
	if r := checkScheds(h); !r.OK() || r.MaybeFired != 1 {
		t.Fatalf("unknown outcomes: %+v %v", r, r.Findings)
	}
	h.Devices[1].Delivered = append(h.Devices[1].Delivered, fire("k5", 0, 605, 6, sec(7.2), sec(20)))
	if r := checkScheds(h); r.FiredTwice != 1 {
		t.Fatalf("a create of unknown outcome fired twice: %+v", r)
	}
	// An unknown create fires before the time it asked for.
	h = mutate(func(h *History) {
		h.Devices[1].Delivered = append(h.Devices[1].Delivered, fire("k5", 0, 505, 6, sec(6.5), sec(20)))
	})
	if r := checkScheds(h); r.Early != 1 {
		t.Fatalf("an early fire of an unknown create: %+v", r)
	}
	// Nobody read bob's whole inbox: nothing lost, s1 unchecked.
	h = mutate(func(h *History) {
		h.Devices = h.Devices[:1]
		h.Devices[0].Delivered = h.Devices[0].Delivered[:2]
	})
	if r := checkScheds(h); !r.OK() || r.Unchecked != 2 {
		t.Fatalf("no complete device: %+v %v", r, r.Findings)
	}
	// A cancel retried after an attempt that removed it (an empty
	// answer) says nothing of the state: a fire is allowed.
	h = cleanScheds()
	h.Scheds[1].Ops[1].ServerV = 0
	h.Devices[1].Delivered = append(h.Devices[1].Delivered, fire("k2", 0, 602, 6, sec(4.1), sec(20)))
	if r := checkScheds(h); !r.OK() {
		t.Fatalf("a retried cancel's empty answer: %+v %v", r, r.Findings)
	}
	// An edit refused may answer the retry of an applied attempt: either
	// body, from the earlier of the two times on.
	for _, v := range []int{0, 1} {
		h = cleanScheds()
		op := &h.Scheds[2].Ops[1]
		op.Outcome, op.ReplyErr, op.State, op.FireMS, op.BodyKey = Refused, "schedule_not_pending", "", 0, ""
		for i := range h.Devices[:2] {
			h.Devices[i].Delivered[4] = fire("k3", v, 503, 5, sec(5.1), sec(5.15))
		}
		if r := checkScheds(h); !r.OK() || r.Ops["edit schedule_not_pending"] != 1 {
			t.Fatalf("a refused edit, body version %d fired: %+v %v", v, r, r.Findings)
		}
	}
	h.Devices[1].Delivered[4].SentMS = wall(sec(4.9))
	if r := checkScheds(h); r.Early != 1 {
		t.Fatalf("a fire before both times of a refused edit: %+v", r)
	}
}

func TestSplitSchedKey(t *testing.T) {
	k, v, ok := splitSchedKey(schedBodyKey("simsched:1:42", 3))
	if !ok || k != "simsched:1:42" || v != 3 {
		t.Fatalf("%q %d %v", k, v, ok)
	}
	if _, _, ok := splitSchedKey("sim:1:2:a>b"); ok {
		t.Fatal("a send's key parsed as a schedule's")
	}
}

// groupScheds: alice schedules g1 to group team (fires at 3 s into the
// stream at seq 3, read whole at the end) and g2 (cancelled while
// pending).
func groupScheds() History {
	g1 := created("g1", 21, sec(3))
	g1.To, g1.Group = "", "team"
	g1.Final = &SchedFinal{ID: 21, State: "fired", MsgID: 701, Seq: 3}
	g2 := created("g2", 22, sec(4))
	g2.To, g2.Group = "", "team"
	g2.Ops = append(g2.Ops, SchedOp{Kind: SchedCancel, Start: sec(2), End: sec(2.05), Outcome: Acked, State: "cancelled", ServerV: 2})
	entry := func(seq, id uint64, key string, sent, at time.Duration) GroupEntry {
		return GroupEntry{Group: "team", Seq: seq, ID: id, From: "alice", Body: schedBodyKey(key, 0), At: at, Sched: true, SentMS: wall(sent)}
	}
	stream := []GroupEntry{
		{Group: "team", Seq: 1, ID: 101, Kind: "created", From: "own"},
		{Group: "team", Seq: 2, ID: 102, Kind: "joined", From: "alice"},
		entry(3, 701, "g1", sec(3.1), sec(20)),
	}
	phone := []GroupEntry{stream[0], stream[1], entry(3, 701, "g1", sec(3.1), sec(3.15))}
	return History{
		Scheds:      []SchedIntent{g1, g2},
		GroupFinals: []GroupFinal{{Group: "team", Read: true, Entries: stream}},
		Devices:     []Device{{ID: "alice-d0", User: "alice", Groups: phone}},
		MemberOps:   []MemberOp{{Group: "team", User: "alice", Op: OpJoin, Start: 0, End: sec(0.5), Outcome: Acked}},
	}
}

func TestCheckSchedules_Groups(t *testing.T) {
	h := groupScheds()
	r := checkScheds(h)
	if !r.OK() || r.Owed != 1 || r.Fired != 1 || r.Cancelled != 1 || r.LateMaxms != 100 || r.RecvMaxms != 150 {
		t.Fatalf("clean group schedules: %+v %v", r, r.Findings)
	}
	// CheckGroups leaves the fire to CheckSchedules.
	if g := CheckGroups(h, DefaultDeliveryBound); g.Unexpected != 0 || g.Duplicated != 0 {
		t.Fatalf("CheckGroups of a fired schedule: %+v %v", g, g.Findings)
	}
	lost := groupScheds()
	lost.GroupFinals[0].Entries = lost.GroupFinals[0].Entries[:2]
	lost.Devices[0].Groups = lost.Devices[0].Groups[:2]
	if r := checkScheds(lost); r.Lost != 1 {
		t.Fatalf("a lost group schedule: %+v", r)
	}
	// Not lost when alice left the group after scheduling: the fire may
	// be refused.
	lost.MemberOps = append(lost.MemberOps, MemberOp{Group: "team", User: "alice", Op: OpLeave, Start: sec(2), End: sec(2.1), Outcome: Acked})
	if r := checkScheds(lost); !r.OK() || r.Maybe != 1 {
		t.Fatalf("a group schedule of a member who left: %+v %v", r, r.Findings)
	}
	// Nor when the final read of the group did not complete.
	lost = groupScheds()
	lost.GroupFinals[0].Entries, lost.GroupFinals[0].Read = lost.GroupFinals[0].Entries[:2], false
	lost.Devices[0].Groups = lost.Devices[0].Groups[:2]
	if r := checkScheds(lost); !r.OK() || r.Unchecked != 1 {
		t.Fatalf("an unread group: %+v %v", r, r.Findings)
	}
	twice := groupScheds()
	twice.GroupFinals[0].Entries = append(twice.GroupFinals[0].Entries, GroupEntry{Group: "team", Seq: 4, ID: 702, From: "alice",
		Body: schedBodyKey("g1", 0), At: sec(20), Sched: true, SentMS: wall(sec(3.5))})
	if r := checkScheds(twice); r.FiredTwice != 1 {
		t.Fatalf("a group schedule fired twice: %+v", r)
	}
	cancelled := groupScheds()
	cancelled.GroupFinals[0].Entries = append(cancelled.GroupFinals[0].Entries, GroupEntry{Group: "team", Seq: 4, ID: 703, From: "alice",
		Body: schedBodyKey("g2", 0), At: sec(20), Sched: true, SentMS: wall(sec(4.1))})
	if r := checkScheds(cancelled); r.CancelledFired != 1 {
		t.Fatalf("a cancelled group schedule fired: %+v", r)
	}
	// A group's fire in an inbox, or a friend's in a group, is unexpected.
	other := groupScheds()
	other.Devices = append(other.Devices, Device{ID: "bob-d0", User: "bob", Delivered: []Delivery{fire("g1", 0, 701, 1, sec(3.1), sec(3.2))}})
	if r := checkScheds(other); r.Unexpected != 1 {
		t.Fatalf("a group schedule in an inbox: %+v", r)
	}
}
