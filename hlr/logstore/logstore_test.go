package logstore

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/cockroachdb/pebble"
	"github.com/cockroachdb/pebble/vfs"
	"github.com/hashicorp/raft"

	"github.com/roamhq/roam/hlr/keyspace"
)

func memDB(t testing.TB) *pebble.DB {
	t.Helper()
	db, err := pebble.Open("", &pebble.Options{FS: vfs.NewMem()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func newStore(t testing.TB, db *pebble.DB, pid uint16) *Store {
	t.Helper()
	s, err := New(db, pid, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mkLog(idx uint64) *raft.Log {
	return &raft.Log{
		Index: idx, Term: idx/10 + 1, Type: raft.LogCommand,
		Data:       []byte(fmt.Sprintf("data-%d", idx)),
		Extensions: []byte{byte(idx)},
		AppendedAt: time.Unix(1700000000, int64(idx)),
	}
}

func storeRange(t testing.TB, s *Store, lo, hi uint64) {
	t.Helper()
	var logs []*raft.Log
	for i := lo; i <= hi; i++ {
		logs = append(logs, mkLog(i))
	}
	if err := s.StoreLogs(logs); err != nil {
		t.Fatal(err)
	}
}

func bounds(t testing.TB, s *Store) (uint64, uint64) {
	t.Helper()
	f, err := s.FirstIndex()
	if err != nil {
		t.Fatal(err)
	}
	l, err := s.LastIndex()
	if err != nil {
		t.Fatal(err)
	}
	return f, l
}

// diskBounds recomputes the bounds from the DB, to check the cache.
func diskBounds(t testing.TB, s *Store) (uint64, uint64) {
	t.Helper()
	fresh, err := New(s.db, s.pid, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return bounds(t, fresh)
}

func wantBounds(t testing.TB, s *Store, first, last uint64) {
	t.Helper()
	if f, l := bounds(t, s); f != first || l != last {
		t.Fatalf("cached bounds (%d, %d), want (%d, %d)", f, l, first, last)
	}
	if f, l := diskBounds(t, s); f != first || l != last {
		t.Fatalf("stored bounds (%d, %d), want (%d, %d)", f, l, first, last)
	}
}

func sameLog(a, b *raft.Log) bool {
	return a.Index == b.Index && a.Term == b.Term && a.Type == b.Type &&
		bytes.Equal(a.Data, b.Data) && bytes.Equal(a.Extensions, b.Extensions) &&
		a.AppendedAt.Equal(b.AppendedAt)
}

func present(t testing.TB, s *Store, idx uint64) bool {
	t.Helper()
	var l raft.Log
	err := s.GetLog(idx, &l)
	switch {
	case err == nil:
		if !sameLog(&l, mkLog(idx)) {
			t.Fatalf("entry %d read back as %+v", idx, l)
		}
		return true
	case errors.Is(err, raft.ErrLogNotFound):
		return false
	}
	t.Fatalf("GetLog(%d): %v", idx, err)
	return false
}

func TestIndexes_EmptyAndPopulated(t *testing.T) {
	s := newStore(t, memDB(t), 1)
	wantBounds(t, s, 0, 0)
	storeRange(t, s, 5, 9)
	wantBounds(t, s, 5, 9)
	if err := s.StoreLog(mkLog(10)); err != nil {
		t.Fatal(err)
	}
	wantBounds(t, s, 5, 10)
	for i := uint64(5); i <= 10; i++ {
		if !present(t, s, i) {
			t.Fatalf("entry %d missing", i)
		}
	}
}

func TestGetLog_MissingIsErrLogNotFound(t *testing.T) {
	s := newStore(t, memDB(t), 1)
	var l raft.Log
	if err := s.GetLog(1, &l); !errors.Is(err, raft.ErrLogNotFound) {
		t.Fatalf("empty store: %v", err)
	}
	storeRange(t, s, 1, 3)
	for _, idx := range []uint64{0, 4, 1 << 40} {
		if err := s.GetLog(idx, &l); !errors.Is(err, raft.ErrLogNotFound) {
			t.Fatalf("GetLog(%d): %v", idx, err)
		}
	}
}

func TestRoundTrip_AllFields(t *testing.T) {
	s := newStore(t, memDB(t), 1)
	cases := []*raft.Log{
		{Index: 1, Term: 1, Type: raft.LogNoop},
		{Index: 2, Term: 7, Type: raft.LogConfiguration, Data: []byte{1, 2, 3}},
		{Index: 3, Term: 1<<64 - 1, Type: raft.LogCommand, Data: bytes.Repeat([]byte{9}, 70000),
			Extensions: []byte("ext"), AppendedAt: time.Unix(0, -5)},
		{Index: 1<<64 - 2, Term: 2, Type: raft.LogBarrier, AppendedAt: time.Unix(1<<33, 999)},
	}
	if err := s.StoreLogs(cases); err != nil {
		t.Fatal(err)
	}
	for _, want := range cases {
		var got raft.Log
		if err := s.GetLog(want.Index, &got); err != nil {
			t.Fatal(err)
		}
		if !sameLog(&got, want) {
			t.Fatalf("got %+v, want %+v", got, want)
		}
	}
	wantBounds(t, s, 1, 1<<64-2)
	// A range deletion up to the largest index must not wrap around.
	if err := s.DeleteRange(3, 1<<64-1); err != nil {
		t.Fatal(err)
	}
	wantBounds(t, s, 1, 2)
}

func TestDeleteRange_InclusiveAtBothEnds(t *testing.T) {
	db := memDB(t)
	s := newStore(t, db, 1)
	storeRange(t, s, 1, 20)

	// A hole in the middle: 5 and 8 go, 4 and 9 stay.
	if err := s.DeleteRange(5, 8); err != nil {
		t.Fatal(err)
	}
	for i := uint64(1); i <= 20; i++ {
		if want := i < 5 || i > 8; present(t, s, i) != want {
			t.Fatalf("after DeleteRange(5,8) entry %d present=%v", i, !want)
		}
	}
	wantBounds(t, s, 1, 20)

	// Compaction of the head (raft: DeleteRange(first, snapshotIndex-trailing)).
	if err := s.DeleteRange(1, 3); err != nil {
		t.Fatal(err)
	}
	wantBounds(t, s, 4, 20)

	// Truncation of the tail (a follower dropping conflicting entries).
	if err := s.DeleteRange(15, 20); err != nil {
		t.Fatal(err)
	}
	wantBounds(t, s, 4, 14)
	if present(t, s, 15) || !present(t, s, 14) {
		t.Fatal("tail truncation is not inclusive of its bounds")
	}

	// The head deletion crossing the hole: the first entry becomes 10.
	if err := s.DeleteRange(4, 9); err != nil {
		t.Fatal(err)
	}
	wantBounds(t, s, 10, 14)

	// Single entry at each end.
	if err := s.DeleteRange(10, 10); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteRange(14, 14); err != nil {
		t.Fatal(err)
	}
	wantBounds(t, s, 11, 13)

	// Wider than the log: empty.
	if err := s.DeleteRange(0, 100); err != nil {
		t.Fatal(err)
	}
	wantBounds(t, s, 0, 0)

	// Appending after everything was deleted (snapshot install) works.
	storeRange(t, s, 50, 52)
	wantBounds(t, s, 50, 52)
}

func TestPartitionsAreIsolated(t *testing.T) {
	db := memDB(t)
	s1, s2 := newStore(t, db, 1), newStore(t, db, 2)
	storeRange(t, s1, 1, 10)
	storeRange(t, s2, 100, 105)
	if err := s1.SetUint64([]byte("CurrentTerm"), 7); err != nil {
		t.Fatal(err)
	}
	if err := s2.SetUint64([]byte("CurrentTerm"), 9); err != nil {
		t.Fatal(err)
	}
	wantBounds(t, s1, 1, 10)
	wantBounds(t, s2, 100, 105)
	if present(t, s2, 5) || present(t, s1, 100) {
		t.Fatal("an entry is visible in the other partition")
	}
	// Deleting all of partition 1 leaves partition 2 alone.
	if err := s1.DeleteRange(0, 1<<64-1); err != nil {
		t.Fatal(err)
	}
	wantBounds(t, s1, 0, 0)
	wantBounds(t, s2, 100, 105)
	if v, err := s2.GetUint64([]byte("CurrentTerm")); err != nil || v != 9 {
		t.Fatalf("partition 2 term: %d %v", v, err)
	}
	// Neighbours at the edges of the pid space do not overlap either.
	lo, hi := newStore(t, db, 0), newStore(t, db, 0xffff)
	storeRange(t, lo, 1, 2)
	storeRange(t, hi, 3, 4)
	wantBounds(t, lo, 1, 2)
	wantBounds(t, hi, 3, 4)
	if err := s2.Drop(); err != nil {
		t.Fatal(err)
	}
	wantBounds(t, lo, 1, 2)
	wantBounds(t, hi, 3, 4)
}

func TestStable_GetSetAndNotFound(t *testing.T) {
	s := newStore(t, memDB(t), 3)
	if _, err := s.Get([]byte("LastVoteCand")); err == nil || err.Error() != "not found" {
		t.Fatalf("missing Get: %v", err)
	}
	if v, err := s.GetUint64([]byte("CurrentTerm")); err == nil || err.Error() != "not found" || v != 0 {
		t.Fatalf("missing GetUint64: %d %v", v, err)
	}
	if err := s.Set([]byte("LastVoteCand"), []byte("node-1")); err != nil {
		t.Fatal(err)
	}
	if v, err := s.Get([]byte("LastVoteCand")); err != nil || string(v) != "node-1" {
		t.Fatalf("Get: %q %v", v, err)
	}
	// An empty value is a value, not a missing key.
	if err := s.Set([]byte("empty"), nil); err != nil {
		t.Fatal(err)
	}
	if v, err := s.Get([]byte("empty")); err != nil || len(v) != 0 {
		t.Fatalf("empty value: %q %v", v, err)
	}
	for _, v := range []uint64{0, 1, 1<<64 - 1} {
		if err := s.SetUint64([]byte("CurrentTerm"), v); err != nil {
			t.Fatal(err)
		}
		if got, err := s.GetUint64([]byte("CurrentTerm")); err != nil || got != v {
			t.Fatalf("GetUint64: %d %v, want %d", got, err, v)
		}
	}
	// The returned value is the caller's to keep.
	v1, _ := s.Get([]byte("LastVoteCand"))
	v1[0] = 'X'
	if v2, _ := s.Get([]byte("LastVoteCand")); string(v2) != "node-1" {
		t.Fatal("Get returned memory the store still uses")
	}
	// A value of the wrong size is an error, not a silent zero.
	s.Set([]byte("bad"), []byte{1, 2, 3})
	if _, err := s.GetUint64([]byte("bad")); err == nil {
		t.Fatal("GetUint64 of a 3-byte value succeeded")
	}
}

func TestDrop_DeletesLogAndStableOnly(t *testing.T) {
	db := memDB(t)
	s := newStore(t, db, 4)
	storeRange(t, s, 1, 50)
	s.SetUint64([]byte("CurrentTerm"), 3)
	// A state-machine key of the same partition is not the store's.
	fsmKey := keyspace.FSMKey(4, []byte("x"))
	if err := db.Set(fsmKey, []byte("v"), pebble.Sync); err != nil {
		t.Fatal(err)
	}
	if err := s.Drop(); err != nil {
		t.Fatal(err)
	}
	wantBounds(t, s, 0, 0)
	if present(t, s, 1) || present(t, s, 50) {
		t.Fatal("log entries survived Drop")
	}
	if _, err := s.GetUint64([]byte("CurrentTerm")); err == nil || err.Error() != "not found" {
		t.Fatalf("stable key survived Drop: %v", err)
	}
	if _, c, err := db.Get(fsmKey); err != nil {
		t.Fatalf("Drop removed a state-machine key: %v", err)
	} else {
		c.Close()
	}
	// raft sees no existing state after a drop.
	has, err := raft.HasExistingState(s, s, raft.NewDiscardSnapshotStore())
	if err != nil || has {
		t.Fatalf("HasExistingState after Drop: %v %v", has, err)
	}
	// The store is usable again.
	storeRange(t, s, 7, 8)
	wantBounds(t, s, 7, 8)
}

func TestReopen_RecoversBounds(t *testing.T) {
	db := memDB(t)
	s := newStore(t, db, 1)
	storeRange(t, s, 3, 30)
	s.DeleteRange(3, 10)
	s2 := newStore(t, db, 1)
	wantBounds(t, s2, 11, 30)
}

func TestWithLogCache(t *testing.T) {
	s := newStore(t, memDB(t), 1)
	c, err := raft.NewLogCache(4, s)
	if err != nil {
		t.Fatal(err)
	}
	var logs []*raft.Log
	for i := uint64(1); i <= 10; i++ {
		logs = append(logs, mkLog(i))
	}
	if err := c.StoreLogs(logs); err != nil {
		t.Fatal(err)
	}
	if err := c.DeleteRange(1, 5); err != nil {
		t.Fatal(err)
	}
	var l raft.Log
	if err := c.GetLog(5, &l); !errors.Is(err, raft.ErrLogNotFound) {
		t.Fatalf("deleted entry through the cache: %v", err)
	}
	if err := c.GetLog(6, &l); err != nil || !sameLog(&l, mkLog(6)) {
		t.Fatalf("entry 6: %+v %v", l, err)
	}
}

func TestDecode_RejectsDamagedEntries(t *testing.T) {
	good := appendLog(nil, mkLog(42))
	var l raft.Log
	if err := decodeLog(good, &l); err != nil || !sameLog(&l, mkLog(42)) {
		t.Fatalf("good entry: %+v %v", l, err)
	}
	for i := 0; i < len(good); i++ {
		if err := decodeLog(good[:i], &l); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("truncated to %d bytes: %v", i, err)
		}
	}
	bad := map[string][]byte{
		"version":  append([]byte{9}, good[1:]...),
		"flags":    append([]byte{encVersion, 0x80}, good[2:]...),
		"trailing": append(append([]byte(nil), good...), 0),
		// data length claims far more than the entry holds
		"huge length": {encVersion, 0, 1, 1, byte(raft.LogCommand), 0xff, 0xff, 0xff, 0xff, 0x0f},
	}
	for name, b := range bad {
		if err := decodeLog(b, &l); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("%s: %v", name, err)
		}
	}
	// An entry stored under the wrong key is detected by GetLog.
	db := memDB(t)
	s := newStore(t, db, 1)
	if err := db.Set(keyspace.LogKey(1, 5), appendLog(nil, mkLog(6)), pebble.Sync); err != nil {
		t.Fatal(err)
	}
	if err := s.GetLog(5, &l); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("misplaced entry: %v", err)
	}
}

func FuzzDecodeLog(f *testing.F) {
	f.Add(appendLog(nil, mkLog(1)))
	f.Add(appendLog(nil, &raft.Log{Index: 1}))
	f.Add([]byte{encVersion, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, data []byte) {
		var l raft.Log
		if err := decodeLog(data, &l); err != nil {
			return
		}
		// Whatever decodes re-encodes to the same bytes.
		if again := appendLog(nil, &l); !bytes.Equal(again, data) {
			// Non-canonical varints may decode; they must at least
			// decode to the same entry.
			var l2 raft.Log
			if err := decodeLog(again, &l2); err != nil || !sameLog(&l, &l2) {
				t.Fatalf("re-encoding changed the entry: %v", err)
			}
		}
	})
}
