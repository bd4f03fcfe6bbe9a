package hlr

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/hashicorp/raft"
)

// Backup and restore of one partition, through Raft's own snapshots.
//
// A backup is the stream of a snapshot the leader takes (the state-machine
// format of snapshot.go, every key of the partition at one applied index,
// with its CRC) and the snapshot's metadata. A restore hands that stream to
// Raft's user restore on the leader of the same partition number in
// another cluster: Raft writes it as a local snapshot whose index is above
// both the backup's and its own log, the state machine replaces its state
// with it, and followers catch up by snapshot installation. The state
// machine's applied index then comes from the old cluster and lies below
// the new snapshot's index, so the restore ends with one empty command
// entry: applying it moves the applied index past the snapshot (otherwise
// every restart would restore the snapshot again, and reads waiting for
// the applied index would wait for the next write).

// ErrNotEmpty refuses a restore into a partition that holds data: restore
// makes a new cluster, it does not merge into a used one.
var ErrNotEmpty = errors.New("hlr: the partition holds data")

// BackupMeta describes one partition's backup stream.
type BackupMeta struct {
	Partition uint16 `msgpack:"p" json:"partition"`
	Index     uint64 `msgpack:"i" json:"index"` // Raft index the state reflects
	Term      uint64 `msgpack:"t" json:"term"`
	Size      int64  `msgpack:"s" json:"size"` // bytes of the stream
}

// Backup takes a snapshot at this node, which must lead the partition, and
// returns its metadata and stream; the caller must Close the stream. When
// nothing was applied since the last snapshot, that one is the backup.
func (p *Partition) Backup(ctx context.Context) (BackupMeta, io.ReadCloser, error) {
	if !p.IsLeader() {
		return BackupMeta{}, nil, ErrNotLeader
	}
	// The barrier makes the state hold every entry of earlier terms.
	if _, err := p.barrier(ctx); err != nil {
		return BackupMeta{}, nil, err
	}
	f := p.raft.Snapshot()
	err := futureError(f, p.prop.done)
	var meta *raft.SnapshotMeta
	var rc io.ReadCloser
	switch {
	case err == nil:
		meta, rc, err = f.Open()
	case errors.Is(err, raft.ErrNothingNewToSnapshot):
		meta, rc, err = p.latestSnapshot()
	}
	if err != nil {
		// Not the leader any more, or handing the leadership over:
		// ErrNotLeader, to be asked again at the leader.
		return BackupMeta{}, nil, fmt.Errorf("hlr: snapshot of partition %d: %w", p.id, mapRaftErr(err))
	}
	return BackupMeta{Partition: p.id, Index: meta.Index, Term: meta.Term, Size: meta.Size}, rc, nil
}

func (p *Partition) latestSnapshot() (*raft.SnapshotMeta, io.ReadCloser, error) {
	list, err := p.snaps.List()
	if err != nil {
		return nil, nil, err
	}
	if len(list) == 0 {
		return nil, nil, errors.New("no snapshot")
	}
	return p.snaps.Open(list[0].ID)
}

// Empty reports whether the partition's state holds nothing but its
// counters: no account, no group, no record of any kind.
func (v *View) Empty() (bool, error) {
	empty := true
	err := v.st.scan(nil, func(sub, _ []byte) (bool, error) {
		if len(sub) == 1 && sub[0] == skMeta {
			return true, nil
		}
		empty = false
		return false, nil
	})
	return empty, err
}

// Restore replaces the state of this partition, which this node must
// lead and which must be empty, with a backup of the same partition
// number: meta and r as Backup returned them. The host's leadership
// subscribers then hear the partition lost and led again, so that what
// they derive from the state (timers, interest, delivery) starts afresh.
func (p *Partition) Restore(ctx context.Context, meta BackupMeta, r io.Reader) error {
	if meta.Partition != p.id {
		return fmt.Errorf("hlr: backup of partition %d given to partition %d", meta.Partition, p.id)
	}
	v, err := p.View(ctx, true)
	if err != nil {
		return err
	}
	empty, err := v.Empty()
	v.Close()
	if err != nil {
		return err
	}
	if !empty {
		return fmt.Errorf("%w: partition %d", ErrNotEmpty, p.id)
	}
	timeout := 5 * time.Minute
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
	}
	rm := &raft.SnapshotMeta{Version: raft.SnapshotVersionMax, Index: meta.Index, Term: meta.Term, Size: meta.Size}
	if err := p.raft.Restore(rm, r, timeout); err != nil {
		// Refused before anything changed (not the leader, a leadership
		// transfer in progress: ErrNotLeader, to be tried again at the
		// leader), or the stream was bad.
		return fmt.Errorf("hlr: restore partition %d: %w", p.id, mapRaftErr(err))
	}
	p.restored()
	// The restore is done; the empty entry only moves the applied index
	// past the snapshot. Should it fail (leadership lost just now), the
	// next write does that.
	data, err := encodeEntry(&entry{TimeMS: p.now().UnixMilli()})
	if err == nil {
		err = futureError(p.raft.Apply(data, timeout), p.prop.done)
	}
	if err != nil {
		p.log.Warn("restored; the entry after the snapshot failed (the next write moves the applied index)", "err", err)
	}
	return nil
}
