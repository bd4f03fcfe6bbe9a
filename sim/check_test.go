package sim

import (
	"testing"
	"time"
)

// cleanHistory: alice sends three messages to bob (two acked, one with an
// unknown outcome that got through) and one refused; bob's phone and his
// fresh reader device get them all in order.
func cleanHistory() History {
	ms := time.Millisecond
	sends := []Send{
		{Body: "m1", From: "alice", To: "bob", CMID: 1, Start: 1 * ms, End: 2 * ms, Outcome: Acked, AckID: 11, AckSeq: 1},
		{Body: "m2", From: "alice", To: "bob", CMID: 2, Start: 3 * ms, End: 4 * ms, Outcome: Acked, AckID: 12, AckSeq: 2},
		{Body: "m3", From: "alice", To: "bob", CMID: 3, Start: 5 * ms, End: 9 * ms, Outcome: Unknown, Err: "busy"},
		{Body: "m4", From: "alice", To: "bob", CMID: 4, Start: 5 * ms, End: 9 * ms, Outcome: Refused, Err: "refused"},
	}
	all := []Delivery{{Seq: 1, ID: 11, From: "alice", Body: "m1"}, {Seq: 2, ID: 12, From: "alice", Body: "m2"}, {Seq: 3, ID: 13, From: "alice", Body: "m3"}}
	return History{
		Sends: sends,
		Devices: []Device{
			{ID: "bob-phone", User: "bob", Complete: true, Delivered: append([]Delivery(nil), all...)},
			{ID: "bob-final", User: "bob", Complete: true, Delivered: append([]Delivery(nil), all...)},
			// An offline-at-the-end device may lag behind but must not gap.
			{ID: "bob-laptop", User: "bob", Delivered: append([]Delivery(nil), all[:1]...)},
		},
	}
}

func TestCheckClean(t *testing.T) {
	r := Check(cleanHistory())
	if !r.OK() {
		t.Fatalf("clean history flagged: %+v", r.Findings)
	}
	if r.Acked != 2 || r.Unknown != 1 || r.Refused != 1 || r.Recovered != 1 || r.Delivered != 7 {
		t.Fatalf("counts: %+v", r)
	}
}

func TestCheckPlantedLoss(t *testing.T) {
	h := cleanHistory()
	// bob-final misses m2 (and so m3 arrives after a gap).
	h.Devices[1].Delivered = []Delivery{h.Devices[1].Delivered[0], h.Devices[1].Delivered[2]}
	r := Check(h)
	if r.Lost != 1 || r.LostDeliveries != 1 {
		t.Fatalf("lost = %d (%d deliveries), want 1: %+v", r.Lost, r.LostDeliveries, r.Findings)
	}
	if r.OrderViolations != 1 {
		t.Fatalf("order violations = %d, want 1 (the gap)", r.OrderViolations)
	}
	if r.OK() {
		t.Fatal("OK with a loss")
	}
}

func TestCheckPlantedLossAtTail(t *testing.T) {
	h := cleanHistory()
	h.Devices[0].Delivered = h.Devices[0].Delivered[:1] // the phone stops after m1
	r := Check(h)
	if r.Lost != 1 || r.OrderViolations != 0 {
		t.Fatalf("lost = %d, order = %d; want 1, 0", r.Lost, r.OrderViolations)
	}
}

func TestCheckPlantedDuplicate(t *testing.T) {
	h := cleanHistory()
	d := &h.Devices[0]
	dup := d.Delivered[1]
	dup.Seq = 4 // a second copy, later in the stream
	d.Delivered = append(d.Delivered, dup)
	r := Check(h)
	if r.Duplicated != 1 || r.OrderViolations != 0 || r.Lost != 0 || r.Unexpected != 0 {
		t.Fatalf("dup %d order %d lost %d unexpected %d: %+v", r.Duplicated, r.OrderViolations, r.Lost, r.Unexpected, r.Findings)
	}
	if r.OK() {
		t.Fatal("OK with a duplicate")
	}
}

func TestCheckPlantedRedelivery(t *testing.T) {
	h := cleanHistory()
	d := &h.Devices[0]
	d.Delivered = append(d.Delivered, d.Delivered[2]) // the same seq again
	r := Check(h)
	if r.Duplicated != 1 || r.OrderViolations != 1 {
		t.Fatalf("dup %d order %d; want 1, 1", r.Duplicated, r.OrderViolations)
	}
}

func TestCheckPlantedUnexpected(t *testing.T) {
	for _, tc := range []struct {
		name string
		body string
		user string
	}{{"never sent", "ghost", "bob"}, {"refused", "m4", "bob"}} {
		h := cleanHistory()
		for i := range h.Devices[:2] {
			h.Devices[i].Delivered = append(h.Devices[i].Delivered, Delivery{Seq: 4, ID: 99, From: "alice", Body: tc.body})
		}
		r := Check(h)
		if r.Unexpected != 2 || r.OK() {
			t.Fatalf("%s: unexpected = %d, want 2", tc.name, r.Unexpected)
		}
	}
	// A message delivered to the wrong user.
	h := cleanHistory()
	h.Devices = append(h.Devices, Device{ID: "carol-phone", User: "carol", Delivered: []Delivery{{Seq: 1, ID: 11, Body: "m1"}}})
	if r := Check(h); r.Unexpected != 1 {
		t.Fatalf("misrouted: unexpected = %d, want 1", r.Unexpected)
	}
}

func TestCheckPlantedGap(t *testing.T) {
	h := cleanHistory()
	// The laptop (not expected complete) skips seq 2: no loss is charged
	// to it, but the gap is an order violation.
	h.Devices[2].Delivered = []Delivery{h.Devices[0].Delivered[0], h.Devices[0].Delivered[2]}
	r := Check(h)
	if r.OrderViolations != 1 || r.Lost != 0 {
		t.Fatalf("order %d lost %d; want 1, 0: %+v", r.OrderViolations, r.Lost, r.Findings)
	}
	// Reordering is caught too.
	h = cleanHistory()
	d := h.Devices[0].Delivered
	d[0], d[1] = d[1], d[0]
	if r := Check(h); r.OrderViolations == 0 {
		t.Fatal("reorder not caught")
	}
}

func TestCheckSeqMismatch(t *testing.T) {
	h := cleanHistory()
	h.Sends[0].AckSeq = 5
	if r := Check(h); r.SeqMismatch != 3 || r.OK() { // phone, reader and laptop
		t.Fatalf("seq mismatch = %d, want 3", r.SeqMismatch)
	}
}

func TestCheckSeqConflict(t *testing.T) {
	h := cleanHistory()
	h.Sends[1].AckSeq = 1 // m1 and m2 both acked at seq 1
	r := Check(h)
	if r.SeqConflicts != 1 || r.OK() {
		t.Fatalf("seq conflicts = %d, want 1", r.SeqConflicts)
	}
	h = cleanHistory()
	h.Sends[1].AckID = 11 // the same message id twice
	if r := Check(h); r.SeqConflicts != 1 {
		t.Fatalf("id conflicts = %d, want 1", r.SeqConflicts)
	}
}

func TestCheckRealtimeViolation(t *testing.T) {
	h := cleanHistory()
	// m2 was acked (at 4ms) before m1 was sent (now at 5ms), yet m1 got
	// the lower seq: no linearization of the appends explains that.
	h.Sends[0].Start, h.Sends[0].End = 5*time.Millisecond, 6*time.Millisecond
	r := Check(h)
	if r.RealtimeViolations != 1 || r.OK() {
		t.Fatalf("realtime violations = %d, want 1: %v", r.RealtimeViolations, r.Findings)
	}
	// Overlapping sends may take either order.
	h = cleanHistory()
	h.Sends[0].Start, h.Sends[0].End = 3*time.Millisecond, 6*time.Millisecond
	if r := Check(h); r.RealtimeViolations != 0 {
		t.Fatalf("concurrent sends flagged: %v", r.Findings)
	}
}

// A revoked session's record may skip seqs (the device's new session
// moved the cursor), but not repeat one.
func TestCheckRevokedRecordMaySkip(t *testing.T) {
	h := cleanHistory()
	h.Devices = append(h.Devices, Device{ID: "bob-phone~1", User: "bob", Revoked: true,
		Delivered: []Delivery{h.Devices[0].Delivered[0], h.Devices[0].Delivered[2]}})
	if r := Check(h); !r.OK() {
		t.Fatalf("a skip on a revoked record flagged: %v", r.Findings)
	}
	h.Devices[3].Delivered = append(h.Devices[3].Delivered, h.Devices[0].Delivered[2])
	if r := Check(h); r.Duplicated != 1 {
		t.Fatalf("a repeat on a revoked record: duplicated %d", r.Duplicated)
	}
	h.Devices[3].Revoked = false
	if r := Check(h); r.OrderViolations == 0 {
		t.Fatal("a skip on a device's own record not flagged")
	}
}
