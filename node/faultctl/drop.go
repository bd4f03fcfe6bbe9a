package faultctl

import (
	"math/rand/v2"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// dropRule is one gate-drop fault: items of kinds (all when nil) are
// dropped with probability p until until.
type dropRule struct {
	p     float64
	kinds map[string]bool
	until time.Time

	mu  sync.Mutex // guards rng
	rng *rand.Rand
}

func (r *dropRule) matches(kind string) bool { return r.kinds == nil || r.kinds[kind] }

func (r *dropRule) draw() bool {
	if r.p >= 1 {
		return true
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.rng.Float64() < r.p
}

func (r *dropRule) kindList() []string {
	if r.kinds == nil {
		return []string{"all"}
	}
	out := make([]string, 0, len(r.kinds))
	for k := range r.kinds {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// kindCounters counts items per kind. Kinds are few (the gate's one-way
// kinds), so a map under a mutex is enough; it is touched only while a
// drop rule is in force.
type kindCounters struct {
	mu sync.Mutex
	n  map[string]uint64
}

func (c *kindCounters) add(kind string) {
	c.mu.Lock()
	if c.n == nil {
		c.n = map[string]uint64{}
	}
	c.n[kind]++
	c.mu.Unlock()
}

func (c *kindCounters) snapshot() map[string]uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]uint64, len(c.n))
	for k, v := range c.n {
		out[k] = v
	}
	return out
}

// dropper holds the drop rule in force and what it did.
type dropper struct {
	rule    atomic.Pointer[dropRule]
	dropped kindCounters
	passed  kindCounters
	now     func() time.Time
}

// drop decides about one item: the gate's Config.DropOneWay.
func (d *dropper) drop(kind string) bool {
	r := d.rule.Load()
	if r == nil {
		return false
	}
	if !d.now().Before(r.until) {
		d.rule.CompareAndSwap(r, nil)
		return false
	}
	if r.matches(kind) && r.draw() {
		d.dropped.add(kind)
		return true
	}
	d.passed.add(kind)
	return false
}
