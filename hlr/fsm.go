package hlr

import (
	"fmt"
	"io"
	"log/slog"
	"sync"

	"github.com/cockroachdb/pebble"
	"github.com/hashicorp/raft"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/roamhq/roam/hlr/keyspace"
	"github.com/roamhq/roam/wire"
)

// FSM is the state machine of one partition. It is a thin bridge between
// hashicorp/raft and the apply functions: it decodes entries, skips entries
// it has already applied (raft replays the log after a restart), applies a
// whole batch of entries in one Pebble batch and writes the applied index in
// that same batch, so data and index can never disagree.
//
// Apply batches are committed without fsync: the Raft log entries they come
// from were synced before they were committed, and Snapshot syncs the DB
// before raft may truncate the log behind it.
type FSM struct {
	db     *pebble.DB
	pid    uint16
	prefix []byte
	log    *slog.Logger

	mu      sync.Mutex // serialises apply, snapshot start and restore; guards meta
	meta    partMeta
	applied appliedIndex
	// broken is set when a failed restore left the state half replaced;
	// only a successful restore clears it.
	broken error
	// cache holds committed values the apply path reads often.
	cache *valueCache
	// dedup answers the dedup lookups of new sends (dedup_filter.go).
	dedup *dedupFilter
}

var _ raft.BatchingFSM = (*FSM)(nil)

// NewFSM opens the state machine of partition pid stored in db.
func NewFSM(db *pebble.DB, pid uint16, logger *slog.Logger) (*FSM, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	f := &FSM{
		db:     db,
		pid:    pid,
		prefix: keyspace.Partition(pid, keyspace.KindFSM),
		log:    logger.With("component", "fsm", "partition", pid),
		cache:  newValueCache(cacheEntries),
		dedup:  newDedupFilter(0),
	}
	f.applied.init()
	if err := f.loadMeta(); err != nil {
		return nil, err
	}
	return f, nil
}

func (f *FSM) loadMeta() error {
	st := &state{r: f.db, prefix: f.prefix}
	var m partMeta
	if _, err := st.getRec([]byte{skMeta}, &m); err != nil {
		return err
	}
	f.meta = m
	f.applied.set(m.Applied)
	return nil
}

// AppliedIndex returns the last Raft index reflected in the state.
func (f *FSM) AppliedIndex() uint64 { return f.applied.get() }

// WaitApplied blocks until the state reflects index idx or done is closed.
func (f *FSM) WaitApplied(idx uint64, done <-chan struct{}) bool {
	return f.applied.wait(idx, done)
}

// Apply implements raft.FSM.
func (f *FSM) Apply(l *raft.Log) interface{} {
	return f.ApplyBatch([]*raft.Log{l})[0]
}

// ApplyBatch implements raft.BatchingFSM. The response for a command entry
// is a []Result with one result per command of the entry.
//
// An entry whose command fails (it cannot be decoded, or the store failed)
// is answered with the error and applied not at all: the batch is rebuilt
// without it, because a half-applied entry would leave replicas different.
func (f *FSM) ApplyBatch(logs []*raft.Log) []interface{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.broken != nil {
		// Applying onto an unknown state would make this replica diverge.
		panic(fmt.Sprintf("hlr: partition %d: apply after failed restore: %v", f.pid, f.broken))
	}
	if err := f.dedup.step(f.db, f.prefix, dedupScanStep); err != nil { // nil: no filter
		f.log.Warn("dedup filter: scan failed; lookups read the store", "err", err)
		f.dedup = newDedupFilter(0)
	}
	failed := map[int]error{}
	for {
		out, retry := f.applyBatch(logs, failed)
		if !retry {
			return out
		}
	}
}

// applyBatch applies logs except those in failed in one Pebble batch. When a
// new entry fails it records it in failed, discards the batch and reports
// retry.
func (f *FSM) applyBatch(logs []*raft.Log, failed map[int]error) (out []interface{}, retry bool) {
	out = make([]interface{}, len(logs))
	b := f.db.NewIndexedBatch()
	defer b.Close()
	meta := f.meta
	var tc *txnCache
	if f.cache != nil {
		tc = &txnCache{c: f.cache, overlay: make(map[string]write)}
	}
	t := &txn{state: state{r: b, prefix: f.prefix, tc: tc, db: f.db}, b: b, meta: &meta, pid: f.pid, dedup: f.dedup}
	last := meta.Applied
	for i, l := range logs {
		if l.Index <= meta.Applied {
			continue // already applied before a restart
		}
		last = l.Index
		if l.Type != raft.LogCommand {
			continue
		}
		if err, ok := failed[i]; ok {
			out[i] = err
			continue
		}
		res, err := f.applyEntry(t, l.Data)
		if err != nil {
			// A command that cannot be decoded or applied is a bug or a
			// corrupted log; applying none of it keeps replicas identical.
			f.log.Error("apply failed", "index", l.Index, "err", err)
			failed[i] = err
			return nil, true
		}
		out[i] = res
	}
	if last == meta.Applied {
		return out, false
	}
	meta.Applied = last
	if err := t.setRec([]byte{skMeta}, &meta); err != nil {
		panic(fmt.Sprintf("hlr: encode meta: %v", err))
	}
	if err := b.Commit(pebble.NoSync); err != nil {
		// The node cannot make progress without its store.
		panic(fmt.Sprintf("hlr: commit apply batch of partition %d: %v", f.pid, err))
	}
	if tc != nil {
		tc.committed()
	}
	f.meta = meta
	f.applied.set(last)
	if f.dedup != nil && f.dedup.ready && f.dedup.full() {
		f.dedup = newDedupFilter(2 * f.dedup.n)
	}
	return out, false
}

func (f *FSM) applyEntry(t *txn, data []byte) ([]Result, error) {
	e, err := decodeEntry(data)
	if err != nil {
		return nil, err
	}
	if e.TimeMS > t.meta.NowMS {
		t.meta.NowMS = e.TimeMS // the state-machine clock never goes back
	}
	t.now = t.meta.NowMS
	res := make([]Result, len(e.Cmds))
	for i := range e.Cmds {
		r, err := apply(t, &e.Cmds[i])
		if err != nil {
			return nil, fmt.Errorf("%s: %w", e.Cmds[i].Op, err)
		}
		res[i] = r
	}
	return res, nil
}

// Snapshot implements raft.FSM. It makes the state durable (apply batches
// are not synced) and then streams a Pebble snapshot of the partition.
func (f *FSM) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.broken != nil {
		return nil, fmt.Errorf("hlr: snapshot after failed restore: %w", f.broken)
	}
	if err := f.db.LogData(nil, pebble.Sync); err != nil {
		return nil, fmt.Errorf("hlr: sync before snapshot: %w", err)
	}
	return &fsmSnapshot{snap: f.db.NewSnapshot(), prefix: f.prefix}, nil
}

// Restore implements raft.FSM: it replaces the partition's state with the
// snapshot's.
func (f *FSM) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cache.reset()
	f.dedup = newDedupFilter(0)
	partial, err := restoreSnapshot(f.db, f.prefix, rc)
	if err != nil {
		if partial {
			f.broken = err
		}
		return err
	}
	f.broken = nil
	return f.loadMeta()
}

// Reader returns a consistent read view of the partition's state. The
// caller must Close it.
func (f *FSM) Reader() *View {
	snap := f.db.NewSnapshot()
	return &View{st: state{r: snap, prefix: f.prefix}, snap: snap, pid: f.pid}
}

func encodeEntry(e *entry) ([]byte, error) {
	raw, err := msgpack.Marshal(e)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(raw)+1)
	out = append(out, entryVersion)
	return append(out, raw...), nil
}

func decodeEntry(data []byte) (*entry, error) {
	if len(data) == 0 || data[0] != entryVersion {
		return nil, fmt.Errorf("%w: version", ErrBadEntry)
	}
	// Every declared length is checked against the bytes there before
	// msgpack allocates anything: a crafted entry declaring gigabytes hung
	// make fuzz-short (FuzzDecodeEntry; msgpack/v5 issue #401).
	if err := wire.CheckBody(data[1:]); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadEntry, err)
	}
	var e entry
	if err := msgpack.Unmarshal(data[1:], &e); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadEntry, err)
	}
	return &e, nil
}

// drop deletes the partition's state-machine keys.
func (f *FSM) drop() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	lo, hi := keyspace.Range(f.pid, keyspace.KindFSM)
	f.cache.reset()
	if err := f.db.DeleteRange(lo, hi, pebble.Sync); err != nil {
		return err
	}
	f.meta = partMeta{}
	f.broken = nil
	f.dedup = newDedupFilter(0)
	f.applied.set(0)
	return nil
}
