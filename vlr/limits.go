package vlr

import (
	"math"
	"sync"
	"time"
)

// limits holds the per-node throttles: registrations per client IP, sends
// per user, and failed logins per IP and per account. Each table prunes its
// idle entries as it grows, so a flood of distinct keys cannot exhaust
// memory.
type limits struct {
	register *buckets
	send     *buckets
	logins   *failures
}

func newLimits(c *Config) (*limits, error) {
	return &limits{
		register: newBuckets(c.RegisterRate, c.RegisterBurst),
		send:     newBuckets(c.SendRate, c.SendBurst),
		logins:   newFailures(c.LoginFailures, c.LoginWindow, c.LoginMaxDelay),
	}, nil
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
	k := b.m[key]
	if k == nil {
		k = &bucket{tokens: b.burst, last: now}
		b.m[key] = k
	}
	if el := now.Sub(k.last).Seconds(); el > 0 {
		k.tokens = math.Min(b.burst, k.tokens+el*b.rate)
	}
	k.last = now
	if k.tokens >= 1 {
		k.tokens--
		return true, 0
	}
	wait := (1 - k.tokens) / b.rate
	return false, time.Duration(wait*float64(time.Second)) + time.Millisecond
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
		for k, r := range f.m {
			if now.Sub(r.first) > f.window && now.After(r.until) && now.Sub(r.until) > f.maxDelay {
				delete(f.m, k)
			}
		}
	}
	r := f.m[key]
	if r == nil {
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

// success forgets key's failures.
func (f *failures) success(key string) {
	f.mu.Lock()
	delete(f.m, key)
	f.mu.Unlock()
}
