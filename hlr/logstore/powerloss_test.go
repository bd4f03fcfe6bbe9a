package logstore

import (
	"sync"
	"sync/atomic"
	"testing"

	"github.com/cockroachdb/pebble"
	"github.com/cockroachdb/pebble/vfs"
	"github.com/hashicorp/raft"
)

// crash simulates power loss the way Pebble's own tests do: from now on
// syncs are ignored, the DB is closed (background work finishes, but nothing
// it writes becomes durable), everything that was not synced is thrown
// away, and the DB is opened again on what is left.
func crash(t *testing.T, fs *vfs.MemFS, db *pebble.DB) *pebble.DB {
	t.Helper()
	fs.SetIgnoreSyncs(true)
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	fs.ResetToSyncedState()
	fs.SetIgnoreSyncs(false)
	return openStrict(t, fs)
}

func openStrict(t *testing.T, fs *vfs.MemFS) *pebble.DB {
	t.Helper()
	db, err := pebble.Open("", &pebble.Options{FS: fs, Logger: pebbleLog{t}})
	if err != nil {
		t.Fatal(err)
	}
	return db
}

// powerLossRun writes entries through a Store on a strict in-memory file
// system, from one writer goroutine, while the test pulls the plug at a
// moment the writer does not know about. It returns how many entries were
// acknowledged before the plug was pulled and how many of those survived.
func powerLossRun(t *testing.T, opts Options) (acked, survived uint64) {
	fs := vfs.NewStrictMem()
	db := openStrict(t, fs)
	s, err := New(db, 7, opts)
	if err != nil {
		t.Fatal(err)
	}
	// Stable-store writes must survive too (raft's term and vote).
	if err := s.SetUint64([]byte("CurrentTerm"), 42); err != nil {
		t.Fatal(err)
	}
	if err := s.Set([]byte("LastVoteCand"), []byte("n1")); err != nil {
		t.Fatal(err)
	}

	const batch = 8
	var lastAcked atomic.Uint64 // highest index whose StoreLogs returned nil
	var stop atomic.Bool
	var wg sync.WaitGroup
	reached := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		next := uint64(1)
		for !stop.Load() {
			logs := make([]*raft.Log, batch)
			for i := range logs {
				logs[i] = mkLog(next + uint64(i))
			}
			if err := s.StoreLogs(logs); err != nil {
				t.Error(err)
				return
			}
			next += batch
			lastAcked.Store(next - 1)
			if next-1 == 200*batch {
				close(reached)
			}
		}
	}()
	<-reached
	// Everything acknowledged before this point was synced before syncs
	// started being ignored.
	acked = lastAcked.Load()
	fs.SetIgnoreSyncs(true)
	stop.Store(true)
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}

	db = crash(t, fs, db)
	defer db.Close()
	s, err = New(db, 7, opts)
	if err != nil {
		t.Fatal(err)
	}
	first, last := bounds(t, s)
	t.Logf("acknowledged 1..%d, after power loss the log holds %d..%d", acked, first, last)
	for i := uint64(1); i <= acked; i++ {
		if !present(t, s, i) {
			break
		}
		survived = i
	}
	if opts.NoSync {
		return acked, survived
	}
	if v, err := s.GetUint64([]byte("CurrentTerm")); err != nil || v != 42 {
		t.Fatalf("stable uint64 lost: %d %v", v, err)
	}
	if v, err := s.Get([]byte("LastVoteCand")); err != nil || string(v) != "n1" {
		t.Fatalf("stable value lost: %q %v", v, err)
	}
	if first != 1 && acked > 0 {
		t.Fatalf("first index after power loss is %d", first)
	}
	return acked, survived
}

// TestPowerLoss_AcknowledgedEntriesSurvive is the durability proof required
// by the design: every entry whose StoreLogs returned nil is still there
// after power loss.
func TestPowerLoss_AcknowledgedEntriesSurvive(t *testing.T) {
	acked, survived := powerLossRun(t, Options{})
	if acked == 0 {
		t.Fatal("nothing was acknowledged")
	}
	if survived != acked {
		t.Fatalf("acknowledged entries 1..%d but only 1..%d survived power loss", acked, survived)
	}
}

// TestPowerLoss_ControlWithoutSyncLosesEntries runs the same test against a
// store that does not fsync. It must lose acknowledged entries; if it did
// not, the test above would prove nothing.
func TestPowerLoss_ControlWithoutSyncLosesEntries(t *testing.T) {
	acked, survived := powerLossRun(t, Options{NoSync: true})
	if acked == 0 {
		t.Fatal("nothing was acknowledged")
	}
	if survived >= acked {
		t.Fatalf("the NoSync control kept all %d acknowledged entries: the power-loss test cannot fail", acked)
	}
	t.Logf("control lost entries %d..%d as expected", survived+1, acked)
}

// TestPowerLoss_DeleteRangeIsDurable checks that compaction and truncation
// survive power loss too, so that a deleted entry never comes back.
func TestPowerLoss_DeleteRangeIsDurable(t *testing.T) {
	fs := vfs.NewStrictMem()
	db := openStrict(t, fs)
	s, err := New(db, 1, Options{})
	if err != nil {
		t.Fatal(err)
	}
	storeRange(t, s, 1, 100)
	if err := s.DeleteRange(1, 40); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteRange(91, 100); err != nil {
		t.Fatal(err)
	}
	db = crash(t, fs, db)
	defer db.Close()
	s, err = New(db, 1, Options{})
	if err != nil {
		t.Fatal(err)
	}
	wantBounds(t, s, 41, 90)
}

// pebbleLog sends Pebble's log to t.Log.
type pebbleLog struct{ t testing.TB }

func (l pebbleLog) Infof(format string, args ...interface{}) { l.t.Logf("pebble: "+format, args...) }
func (l pebbleLog) Fatalf(format string, args ...interface{}) {
	l.t.Errorf("pebble fatal: "+format, args...)
	panic("pebble fatal error")
}
