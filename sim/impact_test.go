package sim

import (
	"math"
	"testing"
	"time"
)

func ms(n int) time.Duration { return time.Duration(n) * time.Millisecond }

func TestImpactsMeasureStallsGapsAndRecovery(t *testing.T) {
	var sends []Send
	// A steady stream: one send every 100 ms from 0 to 20 s, acked in 5 ms...
	for at := 0; at < 20000; at += 100 {
		s := Send{Start: ms(at), End: ms(at + 5), Outcome: Acked}
		// ...except that the kill at 5 s stalls every send started in
		// [5 s, 7 s) until 8 s, and the send at 6 s fails at 8.5 s.
		if at >= 5000 && at < 7000 {
			s.End = ms(8000)
		}
		if at == 6000 {
			s.Outcome, s.End = Unknown, ms(8500)
		}
		sends = append(sends, s)
	}
	faults := []FaultEvent{
		{At: ms(5000), AtS: 5, Kind: FaultKill, Target: "n1"},
		{At: ms(9000), AtS: 9, Kind: "restart", Target: "n1"}, // not a window of its own
		{At: ms(15000), AtS: 15, Kind: FaultPause, Target: "n2"},
		{At: ms(16000), AtS: 16, Kind: FaultDisconnect, Target: "d1"}, // neither
	}
	im := Impacts(sends, faults, ms(20000))
	if len(im) != 2 {
		t.Fatalf("got %d impacts, want 2 (kill, pause): %+v", len(im), im)
	}
	k := im[0]
	if k.Kind != FaultKill || k.WindowS != 10 || k.Sends != 100 {
		t.Fatalf("kill window: %+v", k)
	}
	if k.Failed != 1 || k.Slow != 19 {
		t.Fatalf("kill: failed %d slow %d, want 1 and 19", k.Failed, k.Slow)
	}
	if k.MaxWaitMs != 3000 {
		t.Fatalf("kill: max wait %v ms, want 3000", k.MaxWaitMs)
	}
	if math.Abs(k.RecoveredS-3.5) > 1e-9 {
		t.Fatalf("kill: recovered after %v s, want 3.5", k.RecoveredS)
	}
	// Acks: 4.905 s, then nothing until the stalled ones at 8 s, and the
	// first send after the stall (7 s) also acked at 7.005 s.
	if k.AckGapMs != 2005 {
		t.Fatalf("kill: ack gap %v ms, want 2005 (5.0 s to 7.005 s)", k.AckGapMs)
	}
	p := im[1]
	if p.Kind != FaultPause || p.Slow != 0 || p.Failed != 0 || p.RecoveredS != 0 || p.WindowS != 5 {
		t.Fatalf("quiet pause window: %+v", p)
	}
}

// TestImpacts_FrozenWaitCountsSendsBegunWhileFrozen: a pause's frozen
// wait is the worst of the sends begun between its SIGSTOP and its
// SIGCONT; a slow send begun after the node woke counts in the window's
// max wait only.
func TestImpacts_FrozenWaitCountsSendsBegunWhileFrozen(t *testing.T) {
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	sends := []Send{
		{Start: ms(1000), End: ms(1100), Outcome: Acked},
		{Start: ms(2100), End: ms(5300), Outcome: Acked},  // begun frozen: 3.2 s
		{Start: ms(4500), End: ms(6000), Outcome: Acked},  // begun frozen: 1.5 s
		{Start: ms(9000), End: ms(14500), Outcome: Acked}, // after the SIGCONT: 5.5 s
	}
	faults := []FaultEvent{
		{At: ms(2000), AtS: 2, Kind: FaultPause, Target: "n2"},
		{At: ms(3000), AtS: 3, Kind: "resume", Target: "n1"}, // another node's
		{At: ms(6000), AtS: 6, Kind: "resume", Target: "n2"},
	}
	im := Impacts(sends, faults, ms(20000))
	if len(im) != 1 || im[0].MaxWaitMs != 5500 || im[0].FrozenMaxWaitMs != 3200 {
		t.Fatalf("%+v, want max wait 5500 ms and frozen 3200 ms", im)
	}
}

func TestLongestGap(t *testing.T) {
	ts := []time.Duration{ms(1), ms(2), ms(10), ms(11)}
	if g := longestGap(ts, 0, ms(12)); g != ms(8) {
		t.Fatalf("gap %v, want 8ms", g)
	}
	if g := longestGap(nil, 0, ms(12)); g != ms(12) {
		t.Fatalf("empty: gap %v, want 12ms", g)
	}
}
