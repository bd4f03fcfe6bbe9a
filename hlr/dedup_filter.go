package hlr

import (
	"hash/maphash"

	"github.com/cockroachdb/pebble"
)

// dedupFilter answers most dedup lookups of new sends without reading
// Pebble. Every send looks up its dedup key, and a new message's key is by
// design absent: that miss was a point lookup through the memtables and
// every level on each replica (profiles of the durable-send path showed
// it as one of the largest costs). The filter is a Bloom filter of every
// dedup key the partition holds (1:1 and group sends alike): "absent"
// is certain, "present" may be wrong (about 1 in 100), and then the
// lookup reads Pebble as before.
//
// It is built without stopping anything: each apply batch first scans up
// to dedupScanStep more dedup keys of the committed state, from where the
// last step stopped, and every dedup key the apply writes is added at
// once. A key committed behind the scan was added when it was written; one
// ahead of it is found by the scan; so once the scan reaches the end the
// filter holds every key there is, and only then does it answer. Deleted
// keys (expired messages) stay in it until it is built again, which
// happens when more keys were added than it was sized for (at twice the
// keys it then holds), after a restore and after a drop. A batch that is
// discarded leaves keys it never wrote in the filter: a false "present",
// which costs one read. The filter is memory only, owned by the FSM and
// used under its lock.
type dedupFilter struct {
	seed  maphash.Seed
	bits  []uint64
	nbits uint64
	cap   int    // keys it was sized for
	n     int    // keys added
	ready bool   // the scan has reached the end: answers are complete
	next  []byte // where the scan goes on (a sub-key); nil: from the start
}

const (
	dedupFilterMin    = 16 << 10 // keys a filter is sized for at least
	dedupBitsPerKey   = 10       // with dedupHashes: about 1% false "present"
	dedupHashes       = 7
	dedupScanStep     = 4096 // dedup keys scanned per apply batch while building
	dedupSubKeyPrefix = skDedup
)

func newDedupFilter(capacity int) *dedupFilter {
	if capacity < dedupFilterMin {
		capacity = dedupFilterMin
	}
	nbits := uint64(capacity * dedupBitsPerKey)
	words := (nbits + 63) / 64
	return &dedupFilter{seed: maphash.MakeSeed(), bits: make([]uint64, words), nbits: words * 64, cap: capacity}
}

func (f *dedupFilter) hashes(sub []byte) (h1, h2 uint64) {
	h := maphash.Bytes(f.seed, sub)
	return h, h>>32 | h<<32 | 1
}

// add records that dedup key sub exists.
func (f *dedupFilter) add(sub []byte) {
	h1, h2 := f.hashes(sub)
	for i := uint64(0); i < dedupHashes; i++ {
		b := (h1 + i*h2) % f.nbits
		f.bits[b/64] |= 1 << (b % 64)
	}
	f.n++
}

// absent reports whether dedup key sub certainly does not exist: only
// once the filter is complete, and only for keys it never saw.
func (f *dedupFilter) absent(sub []byte) bool {
	if !f.ready {
		return false
	}
	h1, h2 := f.hashes(sub)
	for i := uint64(0); i < dedupHashes; i++ {
		b := (h1 + i*h2) % f.nbits
		if f.bits[b/64]&(1<<(b%64)) == 0 {
			return true
		}
	}
	return false
}

// full reports whether the filter holds more keys than it was sized for
// (its false "present" rate climbs): time to build a bigger one.
func (f *dedupFilter) full() bool { return f.n > f.cap }

// step scans up to max more dedup keys of the partition (prefix) from r
// (nothing on a nil filter: none, every lookup reads the store).
func (f *dedupFilter) step(r pebble.Reader, prefix []byte, max int) error {
	if f == nil || f.ready {
		return nil
	}
	lo := append(append([]byte(nil), prefix...), dedupSubKeyPrefix)
	hi := prefixEnd(lo)
	if f.next != nil {
		lo = append(append([]byte(nil), prefix...), f.next...)
	}
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return err
	}
	n := 0
	ok := it.First()
	for ; ok && n < max; ok = it.Next() {
		f.add(it.Key()[len(prefix):])
		n++
	}
	if ok {
		f.next = append(f.next[:0], it.Key()[len(prefix):]...)
	} else {
		f.ready, f.next = true, nil
	}
	return it.Close()
}
