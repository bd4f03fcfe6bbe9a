package vlr

import "time"

// tombstones remember Cancel Locations that found no session: the race
// where the home register cancels a login (the same device logged in
// again, the password changed) between the login's commit and the moment
// this node attaches its session. The attach finds the tombstone of its
// (user, device, epoch) and refuses, with the cancellation's reason, so
// the stale session never comes up. Both sides run under registry.mu, so
// a Cancel and an attach of the same epoch are ordered: one finds the
// other.
//
// They live TombstoneTTL (far longer than an attach takes), and at most
// MaxTombstones are kept: beyond that the oldest is dropped, and a
// session it would have stopped is stopped by its lease instead. All
// tombstones share one lifetime, so insertion order is expiry order and
// a FIFO queue suffices.
type tombstones struct {
	ttl time.Duration
	max int
	m   map[tombKey]string // → reason
	q   []tombEntry        // insertion (= expiry) order
}

type tombKey struct {
	user, device string
	epoch        uint64
}

type tombEntry struct {
	k  tombKey
	at time.Time
}

func newTombstones(ttl time.Duration, max int) tombstones {
	return tombstones{ttl: ttl, max: max, m: make(map[tombKey]string)}
}

// add remembers that (user, device, epoch) was cancelled for reason.
func (t *tombstones) add(k tombKey, reason string, now time.Time) {
	t.expire(now)
	if _, ok := t.m[k]; ok {
		return
	}
	for len(t.q) >= t.max {
		t.pop()
	}
	t.m[k] = reason
	t.q = append(t.q, tombEntry{k, now})
}

// find returns the reason (user, device, epoch) was cancelled, if it was.
func (t *tombstones) find(k tombKey, now time.Time) (string, bool) {
	t.expire(now)
	r, ok := t.m[k]
	return r, ok
}

func (t *tombstones) expire(now time.Time) {
	for len(t.q) > 0 && now.Sub(t.q[0].at) >= t.ttl {
		t.pop()
	}
}

func (t *tombstones) pop() {
	delete(t.m, t.q[0].k)
	t.q[0] = tombEntry{}
	t.q = t.q[1:]
	if len(t.q) == 0 {
		t.q = nil // let the backing array go
	}
}

func (t *tombstones) len() int { return len(t.q) }
