package sim

import (
	"testing"
	"time"
)

func acked(body, to string, at time.Duration, seq uint64) Send {
	return Send{Body: body, From: "alice", To: to, Start: at - 10*time.Millisecond, End: at, Outcome: Acked, AckSeq: seq, AckID: seq}
}

// deliveryHistory: bob's phone is online at n1 from 0 to 10 s and gets
// m1 in time; m2 arrives late; m3 never does; m4 is acked too close to the
// end of the stretch to be held to the bound; m5 is acked then but
// arrives in time anyway. A revoked record and a device that was offline
// are not held to anything.
func deliveryHistory() History {
	s := time.Second
	ms := time.Millisecond
	return History{
		Sends: []Send{
			acked("m1", "bob", 1*s, 1), acked("m2", "bob", 2*s, 2), acked("m3", "bob", 3*s, 3),
			acked("m4", "bob", 9*s, 4), acked("m5", "bob", 9500*ms, 5),
			{Body: "u1", From: "alice", To: "bob", Start: 1 * s, End: 2 * s, Outcome: Unknown},
		},
		Devices: []Device{
			{ID: "bob-phone", User: "bob", Online: []Stretch{{From: 0, To: 10 * s, Addr: "n1"}},
				Delivered: []Delivery{{Seq: 1, Body: "m1", At: 1100 * ms}, {Seq: 2, Body: "m2", At: 5 * s}, {Seq: 5, Body: "m5", At: 9600 * ms}}},
			{ID: "bob-old", User: "bob", Revoked: true, Online: []Stretch{{From: 0, To: 10 * s, Addr: "n1"}}},
			{ID: "bob-laptop", User: "bob", Online: []Stretch{{From: 20 * s, To: 30 * s, Addr: "n2"}}},
		},
	}
}

func TestCheckDeliveryCatchesLateAndMissing(t *testing.T) {
	r := CheckDelivery(deliveryHistory(), 2*time.Second)
	if r.Checked != 4 || r.Late != 1 || r.Missing != 1 || r.Violations() != 2 {
		t.Fatalf("checked %d late %d missing %d: %+v", r.Checked, r.Late, r.Missing, r.Findings)
	}
	// m4 on the phone, everything on the laptop.
	if r.NotOnline != 1+5 {
		t.Fatalf("not online %d, want 6", r.NotOnline)
	}
	if len(r.Findings) != 2 || r.Findings[0].Kind != "delivery_late" || r.Findings[0].Body != "m2" || r.Findings[1].Body != "m3" {
		t.Fatalf("findings %v", r.Findings)
	}
	if r.Maxms != 3000 || r.P50ms != 100 {
		t.Fatalf("latency p50 %v max %v, want 100 and 3000", r.P50ms, r.Maxms)
	}
}

func TestCheckDeliveryCleanAndCutoffs(t *testing.T) {
	s := time.Second
	ms := time.Millisecond
	h := deliveryHistory()
	h.Sends = h.Sends[:1]
	if r := CheckDelivery(h, 2*time.Second); r.Violations() != 0 || r.Checked != 1 {
		t.Fatalf("clean history: %+v", r)
	}
	// n1 is cut off from 4 s to 6 s: m6 (acked inside) and m7 (whose
	// window reaches into it) are due 2 s after 6 s; m8 is not.
	h.Cutoffs = []Cutoff{{Addr: "n1", Kind: FaultPause, From: 4 * s, To: 6 * s}, {Addr: "n2", Kind: FaultPause, From: 0, To: 100 * s}}
	h.Sends = append(h.Sends, acked("m6", "bob", 4500*ms, 2), acked("m7", "bob", 3500*ms, 3), acked("m8", "bob", 4500*ms, 4))
	d := &h.Devices[0]
	d.Delivered = []Delivery{{Seq: 1, Body: "m1", At: 1100 * ms}, {Seq: 2, Body: "m6", At: 6500 * ms}, {Seq: 3, Body: "m7", At: 7900 * ms}, {Seq: 4, Body: "m8", At: 8100 * ms}}
	r := CheckDelivery(h, 2*time.Second)
	if r.Checked != 4 || r.Shifted != 3 || r.Late != 1 || r.Missing != 0 || r.Findings[0].Body != "m8" {
		t.Fatalf("with a cut-off: %+v %v", r, r.Findings)
	}
	if r.Maxms != 2100 {
		t.Fatalf("max latency %v, want 2100 (m8 from the end of the cut-off)", r.Maxms)
	}
}
