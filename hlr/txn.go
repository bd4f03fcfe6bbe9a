package hlr

import (
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble"
	"github.com/vmihailenco/msgpack/v5"
)

// state gives typed access to one partition's state-machine keys through a
// pebble.Reader (the DB, a snapshot, or an indexed batch that also sees its
// own uncommitted writes). Keys passed in are sub-keys; the partition prefix
// is added here.
type state struct {
	r      pebble.Reader
	prefix []byte // keyspace.Partition(pid, KindFSM)
	kbuf   []byte
	// Set only in an apply txn: reads go through its overlay and the
	// partition's cache, and misses read the committed state from db.
	tc *txnCache
	db pebble.Reader
}

func (s *state) key(sub []byte) []byte {
	s.kbuf = append(append(s.kbuf[:0], s.prefix...), sub...)
	return s.kbuf
}

// get returns a copy of the value stored under sub.
func (s *state) get(sub []byte) ([]byte, bool, error) {
	tc := s.tc
	if tc == nil || tc.bypass {
		return readValue(s.r, s.key(sub))
	}
	k := string(sub)
	if v, found, known := tc.lookup(k); known {
		if !found {
			return nil, false, nil
		}
		return append([]byte(nil), v...), true, nil
	}
	// Not written by this batch: the committed value is the answer.
	v, ok, err := readValue(s.db, s.key(sub))
	if ok {
		tc.c.put(k, v)
		v = append([]byte(nil), v...) // the cache keeps its own copy
	}
	return v, ok, err
}

// readValue returns a copy of the value under key in r.
func readValue(r pebble.Reader, key []byte) ([]byte, bool, error) {
	v, closer, err := r.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	out := append([]byte(nil), v...)
	return out, true, closer.Close()
}

// getRec decodes the record stored under sub into v.
func (s *state) getRec(sub []byte, v any) (bool, error) {
	raw, ok, err := s.get(sub)
	if err != nil || !ok {
		return false, err
	}
	if err := msgpack.Unmarshal(raw, v); err != nil {
		return false, fmt.Errorf("hlr: decode %q: %w", sub, err)
	}
	return true, nil
}

// scan calls fn for every key under the sub-key prefix p, in order, until fn
// returns false. The slices passed to fn are only valid during the call.
func (s *state) scan(p []byte, fn func(sub, val []byte) (bool, error)) error {
	lo := append(append([]byte(nil), s.prefix...), p...)
	hi := prefixEnd(lo)
	return s.scanRange(lo, hi, fn)
}

// scanFrom is scan restricted to sub-keys >= from (from must start with p).
func (s *state) scanFrom(p, from []byte, fn func(sub, val []byte) (bool, error)) error {
	lo := append(append([]byte(nil), s.prefix...), from...)
	hi := prefixEnd(append(append([]byte(nil), s.prefix...), p...))
	return s.scanRange(lo, hi, fn)
}

func (s *state) scanRange(lo, hi []byte, fn func(sub, val []byte) (bool, error)) error {
	it, err := s.r.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return err
	}
	for ok := it.First(); ok; ok = it.Next() {
		more, err := fn(it.Key()[len(s.prefix):], it.Value())
		if err != nil {
			it.Close()
			return err
		}
		if !more {
			break
		}
	}
	return it.Close()
}

// txn is a state plus the batch that the current apply writes to.
type txn struct {
	state
	b    *pebble.Batch
	meta *partMeta
	pid  uint16
	now  int64
	enc  []byte
	// dedup is the FSM's filter of dedup keys; nil in reads outside apply.
	dedup *dedupFilter
}

// dedupGet reads the dedup record under sub, without a read when the
// filter knows it cannot exist (a new message: nearly every send).
func (t *txn) dedupGet(sub []byte, d *dedupRecord) (bool, error) {
	if t.dedup != nil && t.dedup.absent(sub) {
		return false, nil
	}
	return t.getRec(sub, d)
}

// dedupSet writes the dedup record under sub and adds it to the filter.
func (t *txn) dedupSet(sub []byte, d *dedupRecord) error {
	if t.dedup != nil {
		t.dedup.add(sub)
	}
	return t.setRec(sub, d)
}

// note records a write in the txn's overlay (val nil: a deletion).
func (t *txn) note(sub, val []byte) {
	if t.tc != nil {
		t.tc.overlay[string(sub)] = write{val: val}
	}
}

func (t *txn) set(sub, val []byte) error {
	t.note(sub, append([]byte{}, val...))
	return t.b.Set(t.key(sub), val, nil)
}

func (t *txn) setRec(sub []byte, v any) error {
	raw, err := msgpack.Marshal(v)
	if err != nil {
		return err
	}
	t.note(sub, raw)
	return t.b.Set(t.key(sub), raw, nil)
}

func (t *txn) del(sub []byte) error {
	t.note(sub, nil)
	return t.b.Delete(t.key(sub), nil)
}

// delPrefix deletes every key under the sub-key prefix p. The overlay
// cannot express a range, so the rest of the batch reads through the
// batch itself and the cache is emptied when it commits.
func (t *txn) delPrefix(p []byte) error {
	if t.tc != nil {
		t.tc.bypass = true
	}
	lo := append(append([]byte(nil), t.prefix...), p...)
	return t.b.DeleteRange(lo, prefixEnd(lo), nil)
}
