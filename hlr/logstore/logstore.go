package logstore

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/cockroachdb/pebble"
	"github.com/hashicorp/raft"

	"github.com/roamhq/roam/hlr/keyspace"
)

// errNotFound is returned by the stable store for a missing key. raft
// compares the error's text with "not found", so the text must not change.
var errNotFound = errors.New("not found")

// ErrCorrupt means a stored log entry could not be decoded.
var ErrCorrupt = errors.New("logstore: corrupt log entry")

// Options tune a Store.
type Options struct {
	// NoSync commits writes without fsync. It exists ONLY so that the
	// power-loss test can run a control that must lose acknowledged
	// entries, which proves that the test is able to fail. Never set it
	// anywhere else: raft assumes that what StoreLogs and Set acknowledge
	// survives a crash.
	NoSync bool
}

// Store is the Raft log and stable store of one partition inside a node's
// shared Pebble DB. It implements raft.LogStore and raft.StableStore and is
// safe for concurrent use.
type Store struct {
	db   *pebble.DB
	pid  uint16
	wopt *pebble.WriteOptions

	logLo, logHi       []byte // bounds of the partition's log keys
	stableLo, stableHi []byte // bounds of the partition's stable keys

	// mu serialises writers and guards the cached bounds, which are kept
	// equal to what the bounded iterators would return.
	mu          sync.RWMutex
	first, last uint64
}

var (
	_ raft.LogStore    = (*Store)(nil)
	_ raft.StableStore = (*Store)(nil)
)

// New opens the log and stable store of partition pid in db. The DB is
// shared with other partitions and the state machines; the Store never
// closes it.
func New(db *pebble.DB, pid uint16, opts Options) (*Store, error) {
	if db == nil {
		return nil, errors.New("logstore: nil DB")
	}
	s := &Store{db: db, pid: pid, wopt: pebble.Sync}
	if opts.NoSync {
		s.wopt = pebble.NoSync
	}
	s.logLo, s.logHi = keyspace.Range(pid, keyspace.KindLog)
	s.stableLo, s.stableHi = keyspace.Range(pid, keyspace.KindStable)
	if err := s.loadBounds(); err != nil {
		return nil, err
	}
	return s, nil
}

// loadBounds reads the first and last log index from the DB. Callers hold
// mu for writing (or own s exclusively).
func (s *Store) loadBounds() error {
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: s.logLo, UpperBound: s.logHi})
	if err != nil {
		return err
	}
	var first, last uint64
	if it.First() {
		idx, ok := keyspace.LogIndex(it.Key())
		if !ok {
			it.Close()
			return fmt.Errorf("%w: bad key %x", ErrCorrupt, it.Key())
		}
		first = idx
		if !it.Last() {
			it.Close()
			return fmt.Errorf("logstore: iterator lost its last key: %w", it.Error())
		}
		if last, ok = keyspace.LogIndex(it.Key()); !ok {
			it.Close()
			return fmt.Errorf("%w: bad key %x", ErrCorrupt, it.Key())
		}
	}
	if err := it.Close(); err != nil {
		return err
	}
	s.first, s.last = first, last
	return nil
}

// FirstIndex returns the first index written, 0 when the log is empty.
func (s *Store) FirstIndex() (uint64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.first, nil
}

// LastIndex returns the last index written, 0 when the log is empty.
func (s *Store) LastIndex() (uint64, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.last, nil
}

// GetLog reads entry index into log. A missing entry is raft.ErrLogNotFound.
func (s *Store) GetLog(index uint64, log *raft.Log) error {
	var kb [keyspace.PartitionPrefixLen + 8]byte
	key := keyspace.AppendLogKey(kb[:0], s.pid, index)
	val, closer, err := s.db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return raft.ErrLogNotFound
	}
	if err != nil {
		return err
	}
	defer closer.Close()
	if err := decodeLog(val, log); err != nil {
		return err
	}
	if log.Index != index {
		return fmt.Errorf("%w: entry under index %d says %d", ErrCorrupt, index, log.Index)
	}
	return nil
}

// StoreLog stores one entry.
func (s *Store) StoreLog(log *raft.Log) error {
	return s.StoreLogs([]*raft.Log{log})
}

// StoreLogs stores the entries in one batch committed with fsync: when it
// returns nil, all of them survive a crash; otherwise none may be relied on.
func (s *Store) StoreLogs(logs []*raft.Log) error {
	if len(logs) == 0 {
		return nil
	}
	size := 0
	for _, l := range logs {
		size += keyspace.PartitionPrefixLen + 8 + maxHeaderLen + len(l.Data) + len(l.Extensions)
	}
	b := s.db.NewBatch()
	defer b.Close()
	buf := make([]byte, 0, size)
	lo, hi := logs[0].Index, logs[0].Index
	for _, l := range logs {
		start := len(buf)
		buf = keyspace.AppendLogKey(buf, s.pid, l.Index)
		mid := len(buf)
		buf = appendLog(buf, l)
		if err := b.Set(buf[start:mid], buf[mid:], nil); err != nil {
			return err
		}
		lo, hi = min(lo, l.Index), max(hi, l.Index)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := b.Commit(s.wopt); err != nil {
		return err
	}
	if s.first == 0 || lo < s.first {
		s.first = lo
	}
	if hi > s.last {
		s.last = hi
	}
	return nil
}

// DeleteRange deletes the entries min through max, both included.
func (s *Store) DeleteRange(min, max uint64) error {
	if min > max {
		return nil
	}
	lo := keyspace.LogKey(s.pid, min)
	var hi []byte
	if max == ^uint64(0) {
		hi = s.logHi // pebble's end is exclusive; max+1 would wrap
	} else {
		hi = keyspace.LogKey(s.pid, max+1)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.db.DeleteRange(lo, hi, s.wopt); err != nil {
		return err
	}
	switch {
	case s.first == 0:
	case min <= s.first && max >= s.last:
		s.first, s.last = 0, 0
	case min > s.first && max < s.last:
		// A hole in the middle: the bounds do not move.
	default:
		return s.loadBounds()
	}
	return nil
}

// Set stores a stable-store value.
func (s *Store) Set(key, val []byte) error {
	return s.db.Set(keyspace.StableKey(s.pid, key), val, s.wopt)
}

// Get returns a stable-store value; a missing key is an error whose text is
// "not found", as raft expects.
func (s *Store) Get(key []byte) ([]byte, error) {
	val, closer, err := s.db.Get(keyspace.StableKey(s.pid, key))
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, errNotFound
	}
	if err != nil {
		return nil, err
	}
	out := append([]byte(nil), val...)
	return out, closer.Close()
}

// SetUint64 stores a stable-store integer.
func (s *Store) SetUint64(key []byte, val uint64) error {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], val)
	return s.Set(key, b[:])
}

// GetUint64 returns a stable-store integer; a missing key returns 0 and the
// "not found" error.
func (s *Store) GetUint64(key []byte) (uint64, error) {
	val, err := s.Get(key)
	if err != nil {
		return 0, err
	}
	if len(val) != 8 {
		return 0, fmt.Errorf("logstore: stable key %q holds %d bytes, not a uint64", key, len(val))
	}
	return binary.BigEndian.Uint64(val), nil
}

// Drop deletes every log entry and stable key of the partition, for a node
// that stops replicating it. The Store stays usable and is empty afterwards.
func (s *Store) Drop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.db.NewBatch()
	defer b.Close()
	if err := b.DeleteRange(s.logLo, s.logHi, nil); err != nil {
		return err
	}
	if err := b.DeleteRange(s.stableLo, s.stableHi, nil); err != nil {
		return err
	}
	if err := b.Commit(s.wopt); err != nil {
		return err
	}
	s.first, s.last = 0, 0
	return nil
}

// Entry encoding (the key holds the index too; the copy in the value lets
// GetLog detect an entry stored under the wrong key):
//
//	version(1)=1 flags(1)
//	uvarint index
//	uvarint term
//	type(1)
//	varint appended-at (Unix ns)        only if flags&flagAppendedAt
//	uvarint len(data) data
//	uvarint len(extensions) extensions
const (
	encVersion     byte = 1
	flagAppendedAt byte = 1 << 0
	// maxHeaderLen bounds everything but data and extensions.
	maxHeaderLen = 2 + 3*binary.MaxVarintLen64 + 1 + 2*binary.MaxVarintLen64
)

func appendLog(dst []byte, l *raft.Log) []byte {
	var flags byte
	if !l.AppendedAt.IsZero() {
		flags |= flagAppendedAt
	}
	dst = append(dst, encVersion, flags)
	dst = binary.AppendUvarint(dst, l.Index)
	dst = binary.AppendUvarint(dst, l.Term)
	dst = append(dst, byte(l.Type))
	if flags&flagAppendedAt != 0 {
		dst = binary.AppendVarint(dst, l.AppendedAt.UnixNano())
	}
	dst = binary.AppendUvarint(dst, uint64(len(l.Data)))
	dst = append(dst, l.Data...)
	dst = binary.AppendUvarint(dst, uint64(len(l.Extensions)))
	return append(dst, l.Extensions...)
}

// decodeLog fills l from src, copying what it keeps: src belongs to Pebble.
// Every length is checked against the bytes that remain.
func decodeLog(src []byte, l *raft.Log) error {
	d := decoder{b: src}
	if len(src) < 2 || src[0] != encVersion {
		return fmt.Errorf("%w: version", ErrCorrupt)
	}
	flags := src[1]
	if flags&^flagAppendedAt != 0 {
		return fmt.Errorf("%w: flags %#x", ErrCorrupt, flags)
	}
	d.b = src[2:]
	index := d.uvarint()
	term := d.uvarint()
	typ := d.byte()
	var at time.Time
	if flags&flagAppendedAt != 0 {
		at = time.Unix(0, d.varint())
	}
	data := d.bytes()
	ext := d.bytes()
	if d.err != nil {
		return d.err
	}
	if len(d.b) != 0 {
		return fmt.Errorf("%w: %d trailing bytes", ErrCorrupt, len(d.b))
	}
	*l = raft.Log{Index: index, Term: term, Type: raft.LogType(typ), Data: data, Extensions: ext, AppendedAt: at}
	return nil
}

type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s", ErrCorrupt, what)
	}
	d.b = nil
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("uvarint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail("varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) byte() byte {
	if len(d.b) < 1 {
		d.fail("short entry")
		return 0
	}
	c := d.b[0]
	d.b = d.b[1:]
	return c
}

// bytes reads a length-prefixed field and returns a copy (nil when empty).
func (d *decoder) bytes() []byte {
	n := d.uvarint()
	if d.err != nil {
		return nil
	}
	if n > uint64(len(d.b)) {
		d.fail("length exceeds entry")
		return nil
	}
	if n == 0 {
		return nil
	}
	out := make([]byte, n)
	copy(out, d.b[:n])
	d.b = d.b[n:]
	return out
}
