package hlr

import (
	"bytes"
	"errors"
	"io"
	"sync"
	"testing"

	"github.com/cockroachdb/pebble/vfs"
)

// TestBackup_RestoreIntoAnotherHostKeepsEverything: a partition's backup,
// restored into the same partition number of another (empty) host, holds
// every account; writes after the restore survive a restart of the new
// host (its applied index moved past the restored snapshot), and the
// leadership subscribers hear the partition lost and led again.
func TestBackup_RestoreIntoAnotherHostKeepsEverything(t *testing.T) {
	src := newTestNode(t, "n1", vfs.NewMem())
	src.start()
	p := src.open(testPID, src.self())
	waitLeader(t, p)
	users := registerMany(t, p, 40, 4, nil)
	if len(users) != 40 {
		t.Fatalf("registered %d of 40", len(users))
	}
	meta, rc, err := p.Backup(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := io.Copy(&buf, rc); err != nil {
		t.Fatal(err)
	}
	rc.Close()
	if meta.Partition != testPID || meta.Size != int64(buf.Len()) || meta.Index == 0 {
		t.Fatalf("meta %+v for %d bytes", meta, buf.Len())
	}
	// Nothing new since: the same snapshot again.
	meta2, rc2, err := p.Backup(ctxT(t))
	if err != nil {
		t.Fatalf("second backup with nothing new: %v", err)
	}
	rc2.Close()
	if meta2.Index != meta.Index {
		t.Fatalf("second backup at %d, first at %d", meta2.Index, meta.Index)
	}

	dst := newTestNode(t, "m1", vfs.NewMem())
	var mu sync.Mutex
	var heard []bool
	dst.hook = func(h *Host) {
		h.OnLeader(func(pid uint16, leader bool) {
			if pid == testPID {
				mu.Lock()
				heard = append(heard, leader)
				mu.Unlock()
			}
		})
	}
	dst.start()
	q := dst.open(testPID, dst.self())
	waitLeader(t, q)
	waitFor(t, "the first leadership report", 5e9, func() bool { mu.Lock(); defer mu.Unlock(); return len(heard) == 1 })
	if err := q.Restore(ctxT(t), meta, bytes.NewReader(buf.Bytes())); err != nil {
		t.Fatal(err)
	}
	if missing := missingAccounts(t, q, users); len(missing) > 0 {
		t.Fatalf("after the restore, missing %v", missing)
	}
	waitFor(t, "lost and led again", 5e9, func() bool { mu.Lock(); defer mu.Unlock(); return len(heard) == 3 })
	mu.Lock()
	if !heard[0] || heard[1] || !heard[2] {
		t.Fatalf("leadership reports %v, want [true false true]", heard)
	}
	mu.Unlock()
	if q.AppliedIndex() <= meta.Index {
		t.Fatalf("applied %d, not past the backup's %d", q.AppliedIndex(), meta.Index)
	}
	// A second restore is refused: the partition holds data now.
	if err := q.Restore(ctxT(t), meta, bytes.NewReader(buf.Bytes())); !errors.Is(err, ErrNotEmpty) {
		t.Fatalf("restore into a used partition: %v", err)
	}
	// Writes after the restore, then a restart.
	more := registerMany(t, q, 10, 2, nil)
	dst.host.Shutdown()
	dst.host = nil
	cfg := testConfig(t, "m1", dst.snapDir)
	h, err := New(cfg, dst.db, NopEffects{})
	if err != nil {
		t.Fatal(err)
	}
	dst.host = h
	h.Start(nil)
	q, err = h.Open(testPID, dst.trans, nil)
	if err != nil {
		t.Fatal(err)
	}
	waitLeader(t, q)
	if missing := missingAccounts(t, q, append(users, more...)); len(missing) > 0 {
		t.Fatalf("after a restart, missing %v", missing)
	}
}

// TestBackup_RestoreRefusesAnotherPartition: a backup goes only into the
// partition number it came from (keys are hashed to partitions).
func TestBackup_RestoreRefusesAnotherPartition(t *testing.T) {
	n := newTestNode(t, "n1", vfs.NewMem())
	n.start()
	p := n.open(testPID, n.self())
	waitLeader(t, p)
	err := p.Restore(ctxT(t), BackupMeta{Partition: testPID + 1, Index: 5, Term: 1, Size: 3}, bytes.NewReader([]byte("abc")))
	if err == nil {
		t.Fatal("restore of another partition's backup accepted")
	}
}
