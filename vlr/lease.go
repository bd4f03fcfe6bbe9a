package vlr

import (
	"errors"
	"time"
)

// A session's lease is its licence to act: to send, and to be pushed
// anything (messages, presence, friend events). It is the time of the
// session's last validated contact with its home partition — the send
// time of a request whose answer said "still attached here with this
// epoch": the login's cursor read, a renewal, a session-bound inbox read —
// and it is fresh for LeaseConfig.TTL after that. A Cancel Location that
// is lost therefore leaves a revoked session at most TTL (plus the time a
// deposed leader can still answer, its leader lease) before it next tries
// to act and finds out. See ARCHITECTURE.md, "How delivery and revocation
// are bounded".
//
// This file is the pure state machine; the renewer (lease_renew.go) runs
// the renewals, session.go and conn.go consult it.

// LeaseConfig tunes session leases and Cancel Location tombstones.
type LeaseConfig struct {
	// TTL is how long a validated contact lets a session act. A revoked
	// session whose Cancel Location was lost acts at most this long.
	TTL time.Duration
	// RetryAfter is how long after a renewal that could not reach the
	// home register the next one may be queued; until then the session's
	// sends fail at once with unavailable.
	RetryAfter time.Duration
	// BatchDelay is how long the renewer gathers renewals before it
	// sends them, one request per home partition.
	BatchDelay time.Duration
	// IdleRecheck: a heartbeat of a session whose lease is older than
	// this renews it in the background, so that a revoked session that
	// only heartbeats ends too. Sessions that heartbeat and nothing else
	// cost one validation per IdleRecheck.
	IdleRecheck time.Duration
	// TombstoneTTL is how long a Cancel Location that found no session is
	// remembered, so that a login whose attach is still running when its
	// cancellation arrives does not come up; MaxTombstones bounds them
	// (the oldest go first).
	TombstoneTTL  time.Duration
	MaxTombstones int
}

// DefaultLeaseConfig returns the production settings.
func DefaultLeaseConfig() LeaseConfig {
	return LeaseConfig{
		TTL:           3 * time.Second,
		RetryAfter:    250 * time.Millisecond,
		BatchDelay:    2 * time.Millisecond,
		IdleRecheck:   2 * time.Minute,
		TombstoneTTL:  30 * time.Second,
		MaxTombstones: 1 << 16,
	}
}

func (c *LeaseConfig) validate() error {
	switch {
	case c.TTL <= 0 || c.RetryAfter <= 0 || c.BatchDelay < 0 || c.IdleRecheck <= 0:
		return errors.New("vlr: Lease.TTL, RetryAfter and IdleRecheck must be positive, BatchDelay not negative")
	case c.TombstoneTTL <= 0 || c.MaxTombstones < 1:
		return errors.New("vlr: Lease.TombstoneTTL and MaxTombstones must be positive")
	}
	return nil
}

// lease is one session's lease. Its owner (the session) guards it with
// its mutex; nothing here blocks or reads a clock.
type lease struct {
	from    time.Time     // send time of the last validated contact; zero: none
	pending bool          // a renewal is queued or in flight
	failed  bool          // the last renewal could not reach the home register
	retryAt time.Time     // after a failure, no renewal is queued before this
	done    chan struct{} // closed when the pending renewal ends; made by the first waiter
}

// fresh reports whether the lease lets the session act at now.
func (l *lease) fresh(now time.Time, ttl time.Duration) bool {
	return !l.from.IsZero() && now.Sub(l.from) < ttl
}

// act is called when the session is about to act at now. It reports
// whether the lease is fresh, and whether a renewal must be queued (it is
// then marked pending): when the lease is stale, or past half its life —
// an active session renews before its lease runs out, so that it rarely
// waits. No renewal is queued while one is pending, or before retryAt
// after a failed one.
func (l *lease) act(now time.Time, ttl time.Duration) (fresh, renew bool) {
	fresh = l.fresh(now, ttl)
	if l.pending || now.Before(l.retryAt) {
		return fresh, false
	}
	if fresh && now.Sub(l.from) < ttl/2 {
		return true, false
	}
	l.pending = true
	return fresh, true
}

// stale queues a renewal of a lease older than age, if none is pending
// (a heartbeat's idle recheck). It reports whether one must be queued.
func (l *lease) stale(now time.Time, age time.Duration) bool {
	if l.pending || now.Before(l.retryAt) || !l.from.IsZero() && now.Sub(l.from) < age {
		return false
	}
	l.pending = true
	return true
}

// grant records a validated contact whose request was sent at sentAt.
// Contacts may be answered out of order; the latest send time counts.
func (l *lease) grant(sentAt time.Time) {
	if sentAt.After(l.from) {
		l.from = sentAt
	}
}

// renewed ends the pending renewal: ok says the home register answered
// (with a grant, recorded separately, or a revocation); otherwise the
// next renewal waits until now+retry.
func (l *lease) renewed(ok bool, now time.Time, retry time.Duration) {
	l.pending = false
	l.failed = !ok
	if !ok {
		l.retryAt = now.Add(retry)
	}
	if l.done != nil {
		close(l.done)
		l.done = nil
	}
}

// wait returns a channel closed when the pending renewal ends, or nil if
// none is pending.
func (l *lease) wait() <-chan struct{} {
	if !l.pending {
		return nil
	}
	if l.done == nil {
		l.done = make(chan struct{})
	}
	return l.done
}
