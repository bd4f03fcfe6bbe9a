package vlr

import (
	"math"
	"sync"
	"time"
)

// limits holds the per-node throttles (PROTOCOL.md §3.3). Failures lock
// out by address and name; everything else is a token bucket per user,
// so that a script is slowed down and a person never notices:
//
//   - registrations per client address, sends per user;
//   - failed password logins per address and per name, which lock out
//     password logins only;
//   - failed resumes per address, which lock out resumes only;
//   - successful password logins and resumes per user, spent only on
//     success, so a stranger's attempts cannot use up the owner's;
//   - friend operations, blocks and unblocks, and profile changes
//     (set_profile, change_password, delete_account) per user.
//
// Each table prunes its idle entries as it grows and is capped, so a
// flood of distinct keys cannot exhaust memory.
type limits struct {
	register *buckets
	send     *buckets
	logins   *failures
	resumes  *failures
	login    *buckets
	resume   *buckets
	friend   *buckets
	block    *buckets
	profile  *buckets
	gsend    *buckets // group sends per user
	gop      *buckets // other group operations per user
	role     *buckets // role operations per user (conn_roles.go)
	say      *buckets // scene says and actions per user
}

func newLimits(c *Config) (*limits, error) {
	return &limits{
		register: newBuckets(c.RegisterRate, c.RegisterBurst),
		send:     newBuckets(c.SendRate, c.SendBurst),
		logins:   newFailures(c.LoginFailures, c.LoginWindow, c.LoginMaxDelay),
		resumes:  newFailures(c.ResumeFailures, c.LoginWindow, c.LoginMaxDelay),
		login:    newBuckets(c.LoginRate, c.LoginBurst),
		resume:   newBuckets(c.ResumeRate, c.ResumeBurst),
		friend:   newBuckets(c.FriendRate, c.FriendBurst),
		block:    newBuckets(c.BlockRate, c.BlockBurst),
		profile:  newBuckets(c.ProfileRate, c.ProfileBurst),
		gsend:    newBuckets(c.GroupSendRate, c.GroupSendBurst),
		gop:      newBuckets(c.GroupOpRate, c.GroupOpBurst),
		role:     newBuckets(c.Roles.Rate, c.Roles.Burst),
		say:      newBuckets(c.Scene.SayRate, c.Scene.SayBurst),
	}, nil
}

// maxKeys caps each table. When a table is full it is pruned at once;
// if that leaves it over 7/8 full, arbitrary entries go until it is not
// (a bucket that goes is as if full again, a lockout that goes is lifted:
// the cap is a last resort against a flood of addresses, far above what
// real traffic needs). Freeing an eighth at a time keeps the cost of an
// insert constant on average.
const maxKeys = 1 << 17

func shrink[V any](m map[string]V) {
	for k := range m {
		if len(m) <= maxKeys-maxKeys/8 {
			return
		}
		delete(m, k)
	}
}

// pruneEvery is how many operations pass between sweeps of a table.
const pruneEvery = 4096

// buckets is a set of token buckets keyed by string.
type buckets struct {
	mu    sync.Mutex
	m     map[string]*bucket
	rate  float64 // tokens per second
	burst float64
	ops   int
}

type bucket struct {
	tokens float64
	last   time.Time
}

func newBuckets(rate float64, burst int) *buckets {
	return &buckets{m: make(map[string]*bucket), rate: rate, burst: float64(burst)}
}

// take spends one token of key's bucket. When none is left it reports how
// long until one is.
func (b *buckets) take(key string, now time.Time) (ok bool, retryAfter time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ops++; b.ops >= pruneEvery {
		b.ops = 0
		b.pruneLocked(now)
	}
	k := b.refillLocked(key, now)
	if k.tokens >= 1 {
		k.tokens--
		return true, 0
	}
	return false, b.waitLocked(k)
}

// check reports whether key has a token, without spending it.
func (b *buckets) check(key string, now time.Time) (ok bool, retryAfter time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	k, found := b.m[key]
	if !found {
		return true, 0
	}
	tokens := k.tokens
	if el := now.Sub(k.last).Seconds(); el > 0 {
		tokens = math.Min(b.burst, tokens+el*b.rate)
	}
	if tokens >= 1 {
		return true, 0
	}
	c := *k
	c.tokens = tokens
	return false, b.waitLocked(&c)
}

// spend takes one token of key's bucket after the fact (the operation was
// checked and has succeeded). Concurrent successes may take it below
// zero; it refills from there.
func (b *buckets) spend(key string, now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.ops++; b.ops >= pruneEvery {
		b.ops = 0
		b.pruneLocked(now)
	}
	b.refillLocked(key, now).tokens--
}

func (b *buckets) refillLocked(key string, now time.Time) *bucket {
	k := b.m[key]
	if k == nil {
		if len(b.m) >= maxKeys {
			b.pruneLocked(now)
			shrink(b.m)
		}
		k = &bucket{tokens: b.burst, last: now}
		b.m[key] = k
	}
	if el := now.Sub(k.last).Seconds(); el > 0 {
		k.tokens = math.Min(b.burst, k.tokens+el*b.rate)
	}
	k.last = now
	return k
}

// waitLocked is how long until k has a whole token.
func (b *buckets) waitLocked(k *bucket) time.Duration {
	wait := (1 - k.tokens) / b.rate
	return time.Duration(wait*float64(time.Second)) + time.Millisecond
}

// pruneLocked drops buckets that have refilled: they carry no information.
func (b *buckets) pruneLocked(now time.Time) {
	for key, k := range b.m {
		if k.tokens+now.Sub(k.last).Seconds()*b.rate >= b.burst {
			delete(b.m, key)
		}
	}
}

func (b *buckets) size() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.m)
}

// failures throttles failed logins. Every threshold failures within window
// lock the key out; each lockout of the same key lasts twice as long as the
// one before, up to maxDelay.
type failures struct {
	mu        sync.Mutex
	m         map[string]*failRec
	threshold int
	window    time.Duration
	maxDelay  time.Duration
	ops       int
}

type failRec struct {
	count int
	first time.Time
	until time.Time
	level uint
}

func newFailures(threshold int, window, maxDelay time.Duration) *failures {
	return &failures{m: make(map[string]*failRec), threshold: threshold, window: window, maxDelay: maxDelay}
}

// blocked returns how long key is still locked out (0: not locked).
func (f *failures) blocked(key string, now time.Time) time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	r := f.m[key]
	if r == nil || !now.Before(r.until) {
		return 0
	}
	return r.until.Sub(now)
}

// fail records a failed attempt for key.
func (f *failures) fail(key string, now time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ops++; f.ops >= pruneEvery {
		f.ops = 0
		f.pruneLocked(now)
	}
	r := f.m[key]
	if r == nil {
		if len(f.m) >= maxKeys {
			f.pruneLocked(now)
			shrink(f.m)
		}
		r = &failRec{first: now}
		f.m[key] = r
	}
	if now.Sub(r.first) > f.window {
		r.count, r.first = 0, now
	}
	r.count++
	if r.count >= f.threshold {
		d := time.Second << min(r.level, 20)
		if d > f.maxDelay {
			d = f.maxDelay
		}
		r.until = now.Add(d)
		r.level++
		r.count, r.first = 0, now
	}
}

// pruneLocked drops records that no longer lock anything out and whose
// window has passed.
func (f *failures) pruneLocked(now time.Time) {
	for k, r := range f.m {
		if now.Sub(r.first) > f.window && now.After(r.until) && now.Sub(r.until) > f.maxDelay {
			delete(f.m, k)
		}
	}
}

func (f *failures) size() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.m)
}

// success forgets key's failures.
func (f *failures) success(key string) {
	f.mu.Lock()
	delete(f.m, key)
	f.mu.Unlock()
}
