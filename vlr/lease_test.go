package vlr

import (
	"testing"
	"time"
)

// TestLease_Table drives the lease state machine through its transitions
// with a fake clock (ttl 3s, retry 250ms).
func TestLease_Table(t *testing.T) {
	const ttl, retry = 3 * time.Second, 250 * time.Millisecond
	t0 := time.Unix(1000, 0)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	type step struct {
		op           string // act, grant, ok, fail, stale
		at           time.Duration
		fresh, renew bool // for act and stale (renew)
	}
	cases := []struct {
		name  string
		steps []step
	}{
		{"never validated: stale, one renewal", []step{
			{op: "act", at: 0, fresh: false, renew: true},
			{op: "act", at: time.Millisecond, fresh: false, renew: false}, // pending
		}},
		{"fresh and young: no renewal", []step{
			{op: "grant", at: 0}, {op: "act", at: time.Second, fresh: true, renew: false},
		}},
		{"past half-life: renew in the background, still fresh", []step{
			{op: "grant", at: 0},
			{op: "act", at: 1600 * time.Millisecond, fresh: true, renew: true},
			{op: "act", at: 1700 * time.Millisecond, fresh: true, renew: false},
			{op: "grant", at: 1600 * time.Millisecond}, {op: "ok", at: 1650 * time.Millisecond},
			{op: "act", at: 3 * time.Second, fresh: true, renew: false}, // 1.4s after the renewal was sent
		}},
		{"expired: stale until the renewal answers", []step{
			{op: "grant", at: 0},
			{op: "act", at: 3 * time.Second, fresh: false, renew: true},
			{op: "grant", at: 3 * time.Second}, {op: "ok", at: 3010 * time.Millisecond},
			{op: "act", at: 3020 * time.Millisecond, fresh: true, renew: false},
		}},
		{"failure: no new renewal before retryAt, then one", []step{
			{op: "act", at: 0, fresh: false, renew: true},
			{op: "fail", at: 100 * time.Millisecond},
			{op: "act", at: 200 * time.Millisecond, fresh: false, renew: false},
			{op: "act", at: 350 * time.Millisecond, fresh: false, renew: true},
		}},
		{"an older answer does not move the lease back", []step{
			{op: "grant", at: 2 * time.Second}, {op: "grant", at: time.Second},
			{op: "act", at: 4900 * time.Millisecond, fresh: true, renew: true},
		}},
		{"idle recheck only for old leases", []step{
			{op: "grant", at: 0},
			{op: "stale", at: time.Minute, renew: false},
			{op: "stale", at: 2 * time.Minute, renew: true},
			{op: "stale", at: 2*time.Minute + time.Second, renew: false}, // pending
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var l lease
			for i, s := range tc.steps {
				switch s.op {
				case "act":
					fresh, renew := l.act(at(s.at), ttl)
					if fresh != s.fresh || renew != s.renew {
						t.Fatalf("step %d: act at %v = (fresh %v, renew %v), want (%v, %v)", i, s.at, fresh, renew, s.fresh, s.renew)
					}
				case "stale":
					if renew := l.stale(at(s.at), 2*time.Minute); renew != s.renew {
						t.Fatalf("step %d: stale at %v = %v", i, s.at, renew)
					}
				case "grant":
					l.grant(at(s.at))
				case "ok":
					l.renewed(true, at(s.at), retry)
				case "fail":
					l.renewed(false, at(s.at), retry)
				}
			}
		})
	}
}

// TestLease_WaitersWakeOnAnswer: a waiter's channel closes when the pending
// renewal ends, and there is nothing to wait for when none is pending.
func TestLease_WaitersWakeOnAnswer(t *testing.T) {
	var l lease
	if l.wait() != nil {
		t.Fatal("a channel with no renewal pending")
	}
	l.act(time.Unix(0, 0), time.Second)
	a, b := l.wait(), l.wait()
	if a == nil || a != b {
		t.Fatal("waiters do not share the pending renewal's channel")
	}
	l.renewed(false, time.Unix(0, 0), time.Millisecond)
	select {
	case <-a:
	default:
		t.Fatal("waiter not woken")
	}
	if !l.failed || l.pending {
		t.Fatalf("after a failure: %+v", l)
	}
}

// BenchmarkLease_Act is what every send and push pays for the lease: the
// check of a fresh lease (the background renewal at half-life is one
// batched home-register read per session per TTL/2, not counted here).
func BenchmarkLease_Act(b *testing.B) {
	var l lease
	now := time.Now()
	l.grant(now)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if fresh, _ := l.act(now.Add(time.Duration(i%1000)*time.Microsecond), 3*time.Second); !fresh {
			b.Fatal("stale")
		}
	}
}
