package vlr

import "sync/atomic"

// budget is the node-wide bound on queued client output
// (Config.OutputBudget). Every outQueue reserves the bytes it appends and
// releases them once written or dropped, so used is the sum of all queues
// and never exceeds limit. When a reservation fails, the queue asks evict
// to disconnect the connection holding the most output (possibly itself)
// as a slow consumer, and tries again.
type budget struct {
	limit int64
	used  atomic.Int64
	slow  atomic.Uint64 // slow consumers disconnected

	// victim returns the queue holding the most output, or nil. Set by
	// the Server; it takes the Server's mutex, never a queue's.
	victim func() *outQueue
}

func (b *budget) reserve(n int) bool {
	for {
		u := b.used.Load()
		if u+int64(n) > b.limit {
			return false
		}
		if b.used.CompareAndSwap(u, u+int64(n)) {
			return true
		}
	}
}

func (b *budget) release(n int) {
	if n != 0 {
		b.used.Add(-int64(n))
	}
}

// evictFor makes room for q: it disconnects the largest queue if that is
// not q, and reports whether it did (q should then try again). The caller
// holds no queue's mutex.
func (b *budget) evictFor(q *outQueue) bool {
	if b.victim == nil {
		return false
	}
	v := b.victim()
	if v == nil || v == q {
		return false
	}
	v.evict()
	return true
}
