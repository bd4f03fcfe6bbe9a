package vlr_test

import (
	"math"
	"testing"

	"github.com/roamhq/roam/wire"
)

// TestSchedule_InMSOutOfBoundsRefusedAtReceipt: an in_ms beyond the
// bounds is refused by the node that receives it, with the code of the
// bound it breaks, before it is added to the clock: a huge one used to
// overflow into a time in the past and come back "too soon". An edit
// whose body is empty (the same as absent) and that gives no time is a
// bad request, not an edit that changes nothing.
func TestSchedule_InMSOutOfBoundsRefusedAtReceipt(t *testing.T) {
	home := &fakeHome{}
	c, rd := helloConn(t, homeServer(t, "sb", home))
	if f := exchange(t, c, rd, wire.TResume, 2, &wire.Resume{User: "alice", Device: "d1", Token: fuzzToken}); f.Type != wire.TLoginOK {
		t.Fatalf("resume: %s", f.Type)
	}
	rid := uint32(10)
	want := func(what string, typ wire.Type, body any, code wire.Code) {
		t.Helper()
		rid++
		f := exchange(t, c, rd, typ, rid, body)
		var e wire.Error
		if f.Type != wire.TError || wire.Decode(f.Body, &e) != nil || e.Code != code {
			t.Fatalf("%s: %s %+v, want error %s", what, f.Type, e, code.Name())
		}
	}
	for _, in := range []int64{math.MaxInt64, math.MaxInt64 - 1000, 367 * 24 * 3600 * 1000} {
		want("schedule in_ms", wire.TSchedule, &wire.Schedule{To: "bob", Body: []byte("x"), CMID: 1, InMS: in}, wire.CodeSchedTooFar)
		want("edit in_ms", wire.TScheduleEdit, &wire.ScheduleEdit{ID: 5, InMS: in}, wire.CodeSchedTooFar)
	}
	for _, in := range []int64{-1, math.MinInt64, 9999} {
		want("schedule in_ms", wire.TSchedule, &wire.Schedule{To: "bob", Body: []byte("x"), CMID: 1, InMS: in}, wire.CodeSchedTooSoon)
	}
	want("edit with an empty body and no time", wire.TScheduleEdit, &wire.ScheduleEdit{ID: 5, Body: []byte{}}, wire.CodeBadRequest)
}
