package hlr

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"

	"github.com/cockroachdb/pebble"
	"github.com/hashicorp/raft"
)

// Snapshot stream format (all of one partition's state-machine keys):
//
//	magic "RSNP" version(1)
//	repeated: uvarint len(subkey) subkey uvarint len(value) value
//	terminator: uvarint 0 (no record has an empty sub-key)
//	crc32c (4, BE) of everything before it
//
// Sub-keys exclude the partition prefix, so a snapshot taken from one
// partition number can be restored into the same partition number on any
// node.
const (
	snapMagic   = "RSNP"
	snapVersion = 1
	// restoreBatchBytes bounds the size of one restore write batch.
	restoreBatchBytes = 4 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

type fsmSnapshot struct {
	snap   *pebble.Snapshot
	prefix []byte
}

// Persist streams the Pebble snapshot into the sink.
func (s *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	if err := s.write(sink); err != nil {
		sink.Cancel()
		return err
	}
	return sink.Close()
}

func (s *fsmSnapshot) write(w io.Writer) error {
	crc := crc32.New(castagnoli)
	bw := bufio.NewWriterSize(io.MultiWriter(w, crc), 64<<10)
	bw.WriteString(snapMagic)
	bw.WriteByte(snapVersion)
	it, err := s.snap.NewIter(&pebble.IterOptions{LowerBound: s.prefix, UpperBound: prefixEnd(s.prefix)})
	if err != nil {
		return err
	}
	var hdr [binary.MaxVarintLen64]byte
	for ok := it.First(); ok; ok = it.Next() {
		sub := it.Key()[len(s.prefix):]
		val := it.Value()
		bw.Write(hdr[:binary.PutUvarint(hdr[:], uint64(len(sub)))])
		bw.Write(sub)
		bw.Write(hdr[:binary.PutUvarint(hdr[:], uint64(len(val)))])
		if _, err := bw.Write(val); err != nil {
			it.Close()
			return err
		}
	}
	if err := it.Close(); err != nil {
		return err
	}
	bw.WriteByte(0)
	if err := bw.Flush(); err != nil {
		return err
	}
	var sum [4]byte
	binary.BigEndian.PutUint32(sum[:], crc.Sum32())
	_, err = w.Write(sum[:])
	return err
}

// Release frees the Pebble snapshot.
func (s *fsmSnapshot) Release() { s.snap.Close() }

// restoreSnapshot replaces the keys under prefix with the snapshot's. The
// old state is cleared and the new one written in batches (buffering a large
// partition in memory would be worse); the checksum is verified before the
// final, synced batch. A bad stream returns an error, which makes raft
// reject the snapshot and try again, so a half-written state is never
// reported as restored. The partition's meta record (with the applied
// index) is held back until that final batch: after a crash in the middle
// of a restore the state says it has applied nothing, and the host restores
// the snapshot again on start. partial reports whether earlier batches were
// committed, that is whether a failed restore has changed the state.
func restoreSnapshot(db *pebble.DB, prefix []byte, r io.Reader) (partial bool, err error) {
	b := db.NewBatch()
	defer func() { b.Close() }()
	if err := b.DeleteRange(prefix, prefixEnd(prefix), nil); err != nil {
		return false, err
	}
	key := append([]byte(nil), prefix...)
	meta, err := scanSnapshot(r, func(sub, val []byte) error {
		key = append(key[:len(prefix)], sub...)
		if err := b.Set(key, val, nil); err != nil {
			return err
		}
		if b.Len() >= restoreBatchBytes {
			partial = true
			if err := b.Commit(pebble.NoSync); err != nil {
				return err
			}
			b.Close()
			b = db.NewBatch()
		}
		return nil
	})
	if err != nil {
		return partial, err
	}
	if meta != nil {
		if err := b.Set(append(key[:len(prefix)], skMeta), meta, nil); err != nil {
			return partial, err
		}
	}
	return true, b.Commit(pebble.Sync)
}

// scanSnapshot reads a snapshot stream (the format above), calling fn for
// every record but the partition's meta record, whose value it returns. It
// verifies the checksum and that nothing follows it; fn has seen every
// record by then, so a caller that writes must not trust them before.
func scanSnapshot(r io.Reader, fn func(sub, val []byte) error) (meta []byte, err error) {
	br := &crcReader{r: bufio.NewReaderSize(r, 64<<10), crc: crc32.New(castagnoli)}
	crc := br.crc
	var head [5]byte
	if _, err := io.ReadFull(br, head[:]); err != nil {
		return nil, fmt.Errorf("%w: snapshot header: %v", ErrBadEntry, err)
	}
	if string(head[:4]) != snapMagic || head[4] != snapVersion {
		return nil, fmt.Errorf("%w: snapshot magic/version", ErrBadEntry)
	}
	var sub []byte
	for {
		klen, err := binary.ReadUvarint(br)
		if err != nil {
			return nil, fmt.Errorf("%w: snapshot record: %v", ErrBadEntry, err)
		}
		if klen == 0 {
			break
		}
		if klen > 1<<16 {
			return nil, fmt.Errorf("%w: snapshot key length %d", ErrBadEntry, klen)
		}
		sub = append(sub[:0], make([]byte, klen)...)
		if _, err := io.ReadFull(br, sub); err != nil {
			return nil, fmt.Errorf("%w: snapshot key: %v", ErrBadEntry, err)
		}
		vlen, err := binary.ReadUvarint(br)
		if err != nil || vlen > 64<<20 {
			return nil, fmt.Errorf("%w: snapshot value length", ErrBadEntry)
		}
		val, err := readN(br, vlen)
		if err != nil {
			return nil, fmt.Errorf("%w: snapshot value: %v", ErrBadEntry, err)
		}
		if klen == 1 && sub[0] == skMeta {
			meta = val
			continue
		}
		if err := fn(sub, val); err != nil {
			return nil, err
		}
	}
	want := crc.Sum32() // everything up to and including the terminator
	var sum [4]byte
	if _, err := io.ReadFull(br.r, sum[:]); err != nil {
		return nil, fmt.Errorf("%w: snapshot checksum: %v", ErrBadEntry, err)
	}
	if binary.BigEndian.Uint32(sum[:]) != want {
		return nil, fmt.Errorf("%w: snapshot checksum mismatch", ErrBadEntry)
	}
	if _, err := br.r.ReadByte(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: trailing bytes after snapshot", ErrBadEntry)
	}
	return meta, nil
}

// CheckSnapshot reads a whole snapshot stream without storing anything
// and returns the Raft index its state reflects (its meta record's), or
// why it is not one this build can restore. A restore checks its stream
// with it first: raft panics when the state machine refuses a snapshot
// handed to Restore.
func CheckSnapshot(r io.Reader) (applied uint64, err error) {
	raw, err := scanSnapshot(r, func(_, _ []byte) error { return nil })
	if err != nil || raw == nil {
		return 0, err
	}
	var m partMeta
	if err := decodeRec(raw, &m); err != nil {
		return 0, fmt.Errorf("%w: snapshot meta record: %v", ErrBadEntry, err)
	}
	return m.Applied, nil
}

// readN reads exactly n bytes. Large declared lengths are not trusted: the
// buffer grows with the bytes actually read.
func readN(r io.Reader, n uint64) ([]byte, error) {
	if n <= 64<<10 {
		b := make([]byte, n)
		_, err := io.ReadFull(r, b)
		return b, err
	}
	b, err := io.ReadAll(io.LimitReader(r, int64(n)))
	if err == nil && uint64(len(b)) != n {
		err = io.ErrUnexpectedEOF
	}
	return b, err
}

// crcReader checksums exactly the bytes its caller consumes.
type crcReader struct {
	r   *bufio.Reader
	crc hash.Hash32
}

func (c *crcReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.crc.Write(p[:n])
	return n, err
}

func (c *crcReader) ReadByte() (byte, error) {
	b, err := c.r.ReadByte()
	if err == nil {
		c.crc.Write([]byte{b})
	}
	return b, err
}
