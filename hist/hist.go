// Package hist is a fixed-bucket histogram of integers whose Observe is a
// few atomic adds: no lock and no allocation, so it can sit on a request
// path. Readers take a Snapshot (roamd's metrics endpoint turns it into a
// Prometheus histogram at scrape time).
//
//	h := hist.New(1, 2, 4, 8)      // upper bounds, ascending
//	h.Observe(3)                   // counted in the bucket "≤ 4"
//	s := h.Snapshot()              // s.Counts has len(bounds)+1 buckets, the last is +Inf
//
// Values are integers in the caller's unit (nanoseconds for latencies,
// commands for batch sizes); the reader scales them.
package hist

import "sync/atomic"

// Histogram counts observations into buckets with fixed upper bounds. The
// zero value is not usable; make one with New. Safe for concurrent use.
type Histogram struct {
	bounds []int64
	counts []atomic.Uint64 // len(bounds)+1; the last is +Inf
	sum    atomic.Int64
}

// New returns a histogram with the given ascending upper bounds (a value v
// is counted in the first bucket whose bound is ≥ v). It panics if the
// bounds are not strictly ascending: they are constants of the caller.
func New(bounds ...int64) *Histogram {
	for i := 1; i < len(bounds); i++ {
		if bounds[i] <= bounds[i-1] {
			panic("hist: bounds must be strictly ascending")
		}
	}
	return &Histogram{bounds: append([]int64(nil), bounds...), counts: make([]atomic.Uint64, len(bounds)+1)}
}

// Observe counts v.
func (h *Histogram) Observe(v int64) {
	i := 0
	for i < len(h.bounds) && v > h.bounds[i] {
		i++
	}
	h.counts[i].Add(1)
	h.sum.Add(v)
}

// Snapshot is a histogram's content at one moment. Observations that race
// with it may be in the counts and not yet in Sum, or the other way round.
type Snapshot struct {
	Bounds []int64  // upper bounds, ascending
	Counts []uint64 // per bucket (not cumulative); len(Bounds)+1, the last is +Inf
	Sum    int64    // sum of the observed values
}

// Snapshot reads the histogram.
func (h *Histogram) Snapshot() Snapshot {
	s := Snapshot{Bounds: h.bounds, Counts: make([]uint64, len(h.counts)), Sum: h.sum.Load()}
	for i := range h.counts {
		s.Counts[i] = h.counts[i].Load()
	}
	return s
}

// Count is the number of observations.
func (s Snapshot) Count() uint64 {
	var n uint64
	for _, c := range s.Counts {
		n += c
	}
	return n
}

// Cumulative returns, for each bound, the observations ≤ that bound (the
// +Inf bucket, which is Count, is left out), as Prometheus wants them.
func (s Snapshot) Cumulative() []uint64 {
	out := make([]uint64, len(s.Bounds))
	var n uint64
	for i := range s.Bounds {
		n += s.Counts[i]
		out[i] = n
	}
	return out
}

// Add returns the bucket-wise sum of s and o, which must have the same
// bounds (it returns s unchanged otherwise).
func (s Snapshot) Add(o Snapshot) Snapshot {
	if len(s.Counts) == 0 {
		return o
	}
	if len(o.Counts) != len(s.Counts) {
		return s
	}
	out := Snapshot{Bounds: s.Bounds, Counts: make([]uint64, len(s.Counts)), Sum: s.Sum + o.Sum}
	for i := range s.Counts {
		out.Counts[i] = s.Counts[i] + o.Counts[i]
	}
	return out
}
