package hlr

import (
	"strings"
	"testing"
)

// schedRig is an fsmRig with ann and bob friends, ann logged in on two
// devices.
func schedRig(t *testing.T) *fsmRig {
	r := newRig(t, 3)
	r.register("ann", "bob", "cat")
	r.befriend("ann", "bob")
	r.befriend("ann", "cat")
	for _, d := range []string{"phone", "laptop"} {
		if res := r.one(Cmd{Op: OpLogin, User: "ann", Device: d, Node: "n1", Token: []byte(d), CredGen: 1}); res.Status != StatusOK {
			t.Fatalf("login %s: %v", d, res.Status)
		}
	}
	return r
}

func (r *fsmRig) schedule(to string, cmid uint64, at int64, lim *SchedLimits) Result {
	r.t.Helper()
	return r.one(Cmd{Op: OpSchedCreate, User: "ann", Peer: to, Device: "phone", CMID: cmid,
		Body: []byte("later"), TTLMS: 60_000, AtMS: at, Sched: lim})
}

func schedEffect(res Result) *ScheduleEffect {
	for _, e := range res.Effects {
		if s, ok := e.(ScheduleEffect); ok {
			return &s
		}
	}
	return nil
}

func TestSchedCreate_StoresPendingListsByFireTimeAndPushesOtherDevices(t *testing.T) {
	r := schedRig(t)
	var ids []uint64
	for i, ahead := range []int64{300_000, 100_000, 200_000} {
		res := r.schedule("bob", uint64(i+1), r.now+ahead, nil)
		if res.Status != StatusOK || res.Sched == nil || res.Sched.State != SchedPending {
			t.Fatalf("create %d: %+v", i, res)
		}
		e := schedEffect(res)
		if e == nil || e.Event != SchedEventCreated || len(e.Locs) != 1 || e.Locs[0].Device != "laptop" {
			t.Fatalf("create %d pushes %+v, want one push to the laptop", i, e)
		}
		ids = append(ids, res.Sched.ID)
	}
	if ids[0]>>msgIDBits != 3 {
		t.Fatalf("id %x does not carry the partition", ids[0])
	}
	// A retry of a create answers with the same schedule.
	if res := r.schedule("bob", 2, r.now+999_999, nil); !res.Dup || res.Sched.ID != ids[1] {
		t.Fatalf("retried create: %+v", res)
	}
	v := r.view()
	all, more, err := v.Schedules("ann", 0, 0, 0)
	if err != nil || more || len(all) != 3 {
		t.Fatalf("list: %d %v %v", len(all), more, err)
	}
	want := []uint64{ids[1], ids[2], ids[0]}
	for i := range want {
		if all[i].ID != want[i] {
			t.Fatalf("list order %d: %d, want %d", i, all[i].ID, want[i])
		}
	}
	page, more, _ := v.Schedules("ann", 0, 0, 2)
	if len(page) != 2 || !more {
		t.Fatalf("first page: %d more=%v", len(page), more)
	}
	last := page[1]
	rest, more, _ := v.Schedules("ann", last.FireMS, last.ID, 2)
	if len(rest) != 1 || more || rest[0].ID != ids[0] {
		t.Fatalf("second page: %+v more=%v", rest, more)
	}
}

func TestSchedCreate_EachLimitHasItsOwnStatus(t *testing.T) {
	r := schedRig(t)
	lim := &SchedLimits{PerConv: 2, PerUser: 3}
	if res := r.schedule("bob", 1, r.now+9_999, lim); res.Status != StatusTooSoon {
		t.Fatalf("9.999 s ahead: %v", res.Status)
	}
	if res := r.schedule("bob", 1, r.now+DefaultSchedMaxAheadMS+1, lim); res.Status != StatusTooFar {
		t.Fatalf("366 days and 1 ms ahead: %v", res.Status)
	}
	if res := r.schedule("bob", 1, r.now+DefaultSchedMaxAheadMS, lim); res.Status != StatusOK {
		t.Fatalf("366 days ahead: %v", res.Status)
	}
	if res := r.schedule("bob", 2, r.now+10_000, lim); res.Status != StatusOK {
		t.Fatalf("10 s ahead: %v", res.Status)
	}
	if res := r.schedule("bob", 3, r.now+20_000, lim); res.Status != StatusConvFull {
		t.Fatalf("third to bob: %v", res.Status)
	}
	cat := r.schedule("cat", 4, r.now+20_000, lim)
	if cat.Status != StatusOK {
		t.Fatalf("first to cat: %v", cat.Status)
	}
	if res := r.schedule("cat", 5, r.now+20_000, lim); res.Status != StatusUserFull {
		t.Fatalf("fourth of ann: %v", res.Status)
	}
	// A cancel gives the room back.
	if res := r.one(Cmd{Op: OpSchedCancel, User: "ann", ID: cat.Sched.ID, Device: "phone"}); res.Status != StatusOK {
		t.Fatalf("cancel: %v", res.Status)
	}
	if res := r.schedule("cat", 6, r.now+20_000, lim); res.Status != StatusOK {
		t.Fatalf("after a cancel: %v", res.Status)
	}
	// Strangers are refused as a send would be.
	r.register("dan")
	if res := r.schedule("dan", 7, r.now+20_000, nil); res.Status != StatusRefused {
		t.Fatalf("to a stranger: %v", res.Status)
	}
	if res := r.one(Cmd{Op: OpSchedCreate, User: "ann", Peer: "g/nope", CMID: 8, Body: []byte("x"), AtMS: r.now + 20_000}); res.Status != StatusRefused {
		t.Fatalf("to a group ann is not in: %v", res.Status)
	}
}

func TestSchedEdit_MovesFireTimeAndBody(t *testing.T) {
	r := schedRig(t)
	a := r.schedule("bob", 1, r.now+100_000, nil).Sched
	b := r.schedule("bob", 2, r.now+200_000, nil).Sched
	res := r.one(Cmd{Op: OpSchedEdit, User: "ann", ID: a.ID, AtMS: r.now + 300_000, Body: []byte("new"), Device: "laptop"})
	if res.Status != StatusOK || res.Sched.FireMS != r.now+300_000 || string(res.Sched.Body) != "new" || res.Sched.Version != 2 {
		t.Fatalf("edit: %+v", res)
	}
	if e := schedEffect(res); e == nil || e.Locs[0].Device != "phone" {
		t.Fatalf("edit pushes %+v, want the phone", e)
	}
	if res := r.one(Cmd{Op: OpSchedEdit, User: "ann", ID: a.ID, AtMS: r.now + 1}); res.Status != StatusTooSoon {
		t.Fatalf("edit too soon: %v", res.Status)
	}
	v := r.view()
	all, _, _ := v.Schedules("ann", 0, 0, 0)
	if len(all) != 2 || all[0].ID != b.ID || all[1].ID != a.ID {
		t.Fatalf("after the edit the list is %+v", all)
	}
	var acts []SchedAction
	v.SchedActions(func(x SchedAction) bool { acts = append(acts, x); return true })
	if len(acts) != 2 || acts[0].ID != b.ID || acts[1].AtMS != r.now+300_000 {
		t.Fatalf("action index %+v", acts)
	}
}

func TestSchedFire_DecidesWithTheEntryClock(t *testing.T) {
	r := schedRig(t)
	s := r.schedule("bob", 1, r.now+60_000, nil).Sched
	fire := Cmd{Op: OpSchedFire, User: "ann", ID: s.ID, Sched: &SchedLimits{MaxLateMS: 5_000}}
	if res := r.one(fire); res.Status != StatusTooSoon {
		t.Fatalf("fire before its time: %v", res.Status)
	}
	r.now += 60_000
	res := r.one(fire)
	if res.Status != StatusOK || res.Sched.State != SchedFiring {
		t.Fatalf("fire on time: %+v", res)
	}
	if res := r.one(Cmd{Op: OpSchedCancel, User: "ann", ID: s.ID}); res.Status != StatusNotPending {
		t.Fatalf("cancel while firing: %v", res.Status)
	}
	if res := r.one(Cmd{Op: OpSchedEdit, User: "ann", ID: s.ID, Body: []byte("x")}); res.Status != StatusNotPending {
		t.Fatalf("edit while firing: %v", res.Status)
	}
	// A new leader claims it again and gets it again.
	if res := r.one(fire); res.Status != StatusOK || res.Sched.State != SchedFiring {
		t.Fatalf("second claim: %+v", res)
	}
	// The send, then done.
	send := res.Sched.SendCmd()
	sent := r.one(send)
	if sent.Status != StatusOK {
		t.Fatalf("send: %v", sent.Status)
	}
	if again := r.one(send); !again.Dup || again.MsgID != sent.MsgID {
		t.Fatalf("repeated fire not deduplicated: %+v", again)
	}
	done := r.one(Cmd{Op: OpSchedDone, User: "ann", ID: s.ID, CMID: sent.MsgID, Seq: sent.Seq})
	if done.Status != StatusOK || done.Sched.State != SchedFired || done.Sched.MsgID != sent.MsgID {
		t.Fatalf("done: %+v", done)
	}
	if e := schedEffect(done); e == nil || e.Event != SchedFired || len(e.Locs) != 2 {
		t.Fatalf("done pushes %+v, want both devices", e)
	}
	if again := r.one(Cmd{Op: OpSchedDone, User: "ann", ID: s.ID, Reason: ReasonRefused}); again.Status != StatusNotPending {
		t.Fatalf("second done: %v", again.Status)
	}
	// Late: a fire later than MaxLateMS fails.
	late := r.schedule("bob", 2, r.now+60_000, nil).Sched
	r.now += 60_000 + 5_001
	res = r.one(Cmd{Op: OpSchedFire, User: "ann", ID: late.ID, Sched: &SchedLimits{MaxLateMS: 5_000}})
	if res.Status != StatusExpired || res.Sched.State != SchedFailed || res.Sched.Reason != ReasonLate {
		t.Fatalf("late fire: %+v", res)
	}
	// The pending counts went back to zero.
	v := r.view()
	all, _, _ := v.Schedules("ann", 0, 0, 0)
	if len(all) != 2 {
		t.Fatalf("finished schedules are listed: %d", len(all))
	}
	for k := range dump(t, r.db, 3) {
		if strings.Contains(k, "\x00f"+string([]byte{skSchedUser})) {
			t.Fatalf("a count is left: %q", k)
		}
	}
	// Finished schedules are forgotten after SchedKeepMS.
	forget := Cmd{Op: OpSchedCancel, User: "ann", ID: s.ID, Reason: "forget"}
	if res := r.one(forget); res.Status != StatusNotPending {
		t.Fatalf("forget too early: %v", res.Status)
	}
	r.now += SchedKeepMS
	if res := r.one(forget); res.Status != StatusOK {
		t.Fatalf("forget: %v", res.Status)
	}
	if got, _ := r.view().Schedule("ann", s.ID); got != nil {
		t.Fatalf("forgotten schedule still there: %+v", got)
	}
}

func TestSchedFire_RefusedWhenNoLongerFriends(t *testing.T) {
	r := schedRig(t)
	s := r.schedule("bob", 1, r.now+60_000, nil).Sched
	r.one(Cmd{Op: OpFriendRemove, User: "bob", Peer: "ann"})
	r.deliverOutbox()
	r.now += 60_000
	claim := r.one(Cmd{Op: OpSchedFire, User: "ann", ID: s.ID})
	sent := r.one(claim.Sched.SendCmd())
	if sent.Status != StatusRefused {
		t.Fatalf("send after the friendship ended: %v", sent.Status)
	}
	done := r.one(Cmd{Op: OpSchedDone, User: "ann", ID: s.ID, Reason: ReasonRefused})
	if done.Sched.State != SchedFailed || done.Sched.Reason != ReasonRefused {
		t.Fatalf("done: %+v", done.Sched)
	}
}

func TestSchedCancel_AndDeleteAccountLeaveNothing(t *testing.T) {
	r := schedRig(t)
	before := dump(t, r.db, 3)
	s := r.schedule("bob", 1, r.now+60_000, nil).Sched
	res := r.one(Cmd{Op: OpSchedCancel, User: "ann", ID: s.ID, Device: "phone"})
	if res.Status != StatusOK || res.Sched.State != SchedCancelled {
		t.Fatalf("cancel: %+v", res)
	}
	if res := r.one(Cmd{Op: OpSchedFire, User: "ann", ID: s.ID}); res.Status != StatusNotPending {
		t.Fatalf("fire of a cancelled schedule: %v", res.Status)
	}
	// Kept as cancelled (a retried cancel or create gets it) until the
	// leader forgets it, which leaves nothing.
	if res := r.one(Cmd{Op: OpSchedCancel, User: "ann", ID: s.ID, Reason: "forget"}); res.Status != StatusNotPending {
		t.Fatalf("forget before the keep time: %v", res.Status)
	}
	r.now += SchedKeepMS + 1
	if res := r.one(Cmd{Op: OpSchedCancel, User: "ann", ID: s.ID, Reason: "forget"}); res.Status != StatusOK {
		t.Fatalf("forget after the keep time: %v", res.Status)
	}
	meta := string(r.fsm.prefix) + string([]byte{skMeta})
	for k := range dump(t, r.db, 3) {
		if _, ok := before[k]; !ok && k != meta {
			t.Fatalf("cancel left %q", k)
		}
	}
	r.schedule("bob", 2, r.now+60_000, nil)
	r.one(Cmd{Op: OpDeleteAccount, User: "ann"})
	for k := range dump(t, r.db, 3) {
		sub := k[len(r.fsm.prefix):]
		if strings.IndexByte(string([]byte{skSched, skSchedAction, skSchedList, skSchedConv, skSchedUser, skSchedDedup}), sub[0]) >= 0 {
			t.Fatalf("account deletion left %q", k)
		}
	}
}

// TestSchedCancel_RefusedOnceFired: a cancel that comes after the fire is
// refused (schedule_not_pending), and the schedule stays fired: answering
// "cancelled" would tell the sender a delivered message never went out.
func TestSchedCancel_RefusedOnceFired(t *testing.T) {
	r := schedRig(t)
	s := r.schedule("bob", 1, r.now+60_000, nil).Sched
	r.now = s.FireMS
	if claim := r.one(Cmd{Op: OpSchedFire, User: "ann", ID: s.ID}); claim.Status != StatusOK {
		t.Fatalf("claim: %+v", claim)
	}
	if res := r.one(Cmd{Op: OpSchedCancel, User: "ann", ID: s.ID, Device: "phone"}); res.Status != StatusNotPending {
		t.Fatalf("cancel of a firing schedule: %+v", res)
	}
	sent := r.one(s.SendCmd())
	r.one(Cmd{Op: OpSchedDone, User: "ann", ID: s.ID, CMID: sent.MsgID, Seq: sent.Seq})
	if res := r.one(Cmd{Op: OpSchedCancel, User: "ann", ID: s.ID, Device: "phone"}); res.Status != StatusNotPending {
		t.Fatalf("cancel of a fired schedule: %+v, want not_pending", res)
	}
	if got, err := r.view().Schedule("ann", s.ID); err != nil || got == nil || got.State != SchedFired || got.MsgID != sent.MsgID {
		t.Fatalf("after the refused cancel: %+v (%v), want it fired as message %d", got, err, sent.MsgID)
	}
}

// TestSchedCancel_RetriesGetTheCancelledSchedule: a cancelled schedule is
// kept: the cancel retried answers it again (no second push), and so does
// the create retried with its cmid (dup), which schedules nothing.
func TestSchedCancel_RetriesGetTheCancelledSchedule(t *testing.T) {
	r := schedRig(t)
	s := r.schedule("bob", 7, r.now+60_000, nil).Sched
	first := r.one(Cmd{Op: OpSchedCancel, User: "ann", ID: s.ID, Device: "phone"})
	if first.Status != StatusOK || first.Sched.State != SchedCancelled || schedEffect(first) == nil {
		t.Fatalf("cancel: %+v", first)
	}
	again := r.one(Cmd{Op: OpSchedCancel, User: "ann", ID: s.ID, Device: "phone"})
	if again.Status != StatusOK || !again.Dup || again.Sched == nil || again.Sched.State != SchedCancelled || again.Sched.Version != first.Sched.Version || schedEffect(again) != nil {
		t.Fatalf("retried cancel: %+v", again)
	}
	create := r.schedule("bob", 7, r.now+60_000, nil)
	if create.Status != StatusOK || !create.Dup || create.Sched == nil || create.Sched.ID != s.ID || create.Sched.State != SchedCancelled {
		t.Fatalf("retried create after the cancel: %+v, want the cancelled schedule as a duplicate", create)
	}
	for _, op := range []Op{OpSchedEdit, OpSchedNow} {
		if res := r.one(Cmd{Op: op, User: "ann", ID: s.ID, AtMS: r.now + 90_000, Sched: &SchedLimits{}}); res.Status != StatusNotPending {
			t.Fatalf("%s of a cancelled schedule: %v", op, res.Status)
		}
	}
	// Its slot is free: 100 more to bob fit (PerConv).
	for i := 0; i < DefaultSchedPerConv; i++ {
		if res := r.schedule("bob", uint64(100+i), r.now+60_000, nil); res.Status != StatusOK {
			t.Fatalf("schedule %d after the cancel: %v", i, res.Status)
		}
	}
}
