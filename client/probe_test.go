package client

import (
	"testing"
	"time"
)

// TestProbe_Step walks the liveness probe through its cases: nothing
// waiting, a request too young or a server that spoke recently (no ping),
// a ping answered (alive), a ping unanswered (silent, also when an
// in-order request waits: a live server pushes busy pongs then).
func TestProbe_Step(t *testing.T) {
	const after, timeout = time.Second, time.Second
	ms := func(d int) int64 { return int64(d) * int64(time.Millisecond) }
	type look struct {
		now      int
		n        int
		oldest   int
		lastRecv int
		want     probeAction
	}
	for name, looks := range map[string][]look{
		"idle": {{now: 5000, want: probeIdle}},
		"young request": {
			{now: 900, n: 1, oldest: 0, lastRecv: -5000, want: probeWait},
		},
		"server spoke recently": {
			{now: 1500, n: 1, oldest: 0, lastRecv: 1000, want: probeWait},
		},
		"ping answered": {
			{now: 1000, n: 1, oldest: 0, lastRecv: -1, want: probePing},
			{now: 1250, n: 1, oldest: 0, lastRecv: 1100, want: probeWait},
			// Silent again for ProbeAfter: ping again.
			{now: 2100, n: 1, oldest: 0, lastRecv: 1100, want: probePing},
		},
		"ping unanswered": {
			{now: 1000, n: 1, oldest: 0, lastRecv: -1, want: probePing},
			{now: 1750, n: 1, oldest: 0, lastRecv: -1, want: probeWait},
			{now: 2000, n: 1, oldest: 0, lastRecv: -1, want: probeSilent},
		},
		"held by a request, busy pongs arriving": {
			{now: 1000, n: 2, oldest: 0, lastRecv: 400, want: probeWait},
			{now: 1250, n: 2, oldest: 0, lastRecv: 800, want: probeWait},
			{now: 3000, n: 2, oldest: 0, lastRecv: 2800, want: probeWait},
			// The pongs stop: ping, then silent.
			{now: 4000, n: 2, oldest: 0, lastRecv: 2800, want: probePing},
			{now: 5000, n: 2, oldest: 0, lastRecv: 2800, want: probeSilent},
		},
		"request answered meanwhile": {
			{now: 1000, n: 1, oldest: 0, lastRecv: -1, want: probePing},
			{now: 1100, n: 0, want: probeIdle},
			{now: 3000, n: 1, oldest: 2900, lastRecv: 1050, want: probeWait},
		},
	} {
		var p probe
		for i, l := range looks {
			got := p.step(ms(l.now), l.n, ms(l.oldest), ms(l.lastRecv), after, timeout)
			if got != l.want {
				t.Fatalf("%s, look %d (%+v): %v, want %v", name, i, l, got, l.want)
			}
		}
	}
}
