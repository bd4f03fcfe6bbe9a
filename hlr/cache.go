package hlr

// valueCache keeps recently read state-machine values of one partition in
// memory, so that the apply path does not look up the same records in
// Pebble for every command: the recipient's account, the friendship edge
// and the inbox head are read by every send. Profiles of the durable-send
// path showed those point lookups (memtable seeks) as its largest cost.
//
// It holds committed values only. During an apply batch, a txn reads its
// own writes from its overlay first, then the cache, then Pebble (the
// committed state: every write of the batch is in the overlay); after the
// batch commits, its writes update the entries the cache holds. A batch
// that is discarded leaves the cache as it was. Absent keys are not
// cached. It is owned by the FSM and used under the FSM's lock.
type valueCache struct {
	m   map[string][]byte
	max int
}

// cacheEntries bounds the values cached per partition. The cache is
// emptied when it is full: simple, and enough to keep the records of the
// active users of a partition.
const cacheEntries = 512

func newValueCache(max int) *valueCache {
	return &valueCache{m: make(map[string][]byte), max: max}
}

func (c *valueCache) get(k string) ([]byte, bool) {
	v, ok := c.m[k]
	return v, ok
}

func (c *valueCache) put(k string, v []byte) {
	if c.max <= 0 {
		return
	}
	if len(c.m) >= c.max {
		clear(c.m)
	}
	c.m[k] = v
}

// reset forgets everything (after a restore, a drop, or a batch with a
// range deletion).
func (c *valueCache) reset() {
	if c != nil {
		clear(c.m)
	}
}

// write is one write of a batch, kept in the txn's overlay.
type write struct {
	val []byte // nil: deleted
}

// txnCache is a txn's view through the cache: its own writes, and whether
// a range deletion made the overlay incomplete (then reads go to the
// batch, and the whole cache is dropped when the batch commits).
type txnCache struct {
	c       *valueCache
	overlay map[string]write
	bypass  bool
}

// lookup returns the value of sub-key k as the txn sees it, if the
// overlay or the cache knows it.
func (tc *txnCache) lookup(k string) (val []byte, found, known bool) {
	if w, ok := tc.overlay[k]; ok {
		return w.val, w.val != nil, true
	}
	if v, ok := tc.c.get(k); ok {
		return v, true, true
	}
	return nil, false, false
}

// committed folds the batch's writes into the cache: entries it holds are
// updated or dropped; other keys are left to the next read.
func (tc *txnCache) committed() {
	if tc.bypass {
		tc.c.reset()
		return
	}
	for k, w := range tc.overlay {
		if _, ok := tc.c.m[k]; !ok {
			continue
		}
		if w.val == nil {
			delete(tc.c.m, k)
		} else {
			tc.c.m[k] = w.val
		}
	}
}
