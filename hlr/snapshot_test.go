package hlr

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"testing"
)

type bufSink struct {
	bytes.Buffer
	cancelled bool
}

func (s *bufSink) ID() string    { return "test" }
func (s *bufSink) Cancel() error { s.cancelled = true; return nil }
func (s *bufSink) Close() error  { return nil }

func snapshotOf(t *testing.T, r *fsmRig) []byte {
	t.Helper()
	snap, err := r.fsm.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Release()
	var sink bufSink
	if err := snap.Persist(&sink); err != nil {
		t.Fatal(err)
	}
	return sink.Bytes()
}

func TestSnapshotRestore_ReplacesStateExactly(t *testing.T) {
	src := newRig(t, 5)
	src.register("alice", "bob")
	src.befriend("alice", "bob")
	for c := uint64(1); c <= 50; c++ {
		src.one(Cmd{Op: OpSend, User: "bob", Peer: "alice", Device: "d", CMID: c, Body: bytes.Repeat([]byte{byte(c)}, 100), TTLMS: 60_000})
	}
	data := snapshotOf(t, src)

	// The destination has unrelated state in the same partition and a
	// neighbour partition that must not be touched.
	dst := newRig(t, 5)
	dst.register("zed")
	other, err := NewFSM(dst.db, 6, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	otherRig := &fsmRig{t: t, db: dst.db, fsm: other, now: 1}
	otherRig.register("neighbour")
	neighbour := dump(t, dst.db, 6)

	if err := dst.fsm.Restore(io.NopCloser(bytes.NewReader(data))); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(dump(t, src.db, 5), dump(t, dst.db, 5)) {
		t.Fatal("restored state differs from the source")
	}
	if dst.fsm.AppliedIndex() != src.fsm.AppliedIndex() {
		t.Fatalf("applied index %d, want %d", dst.fsm.AppliedIndex(), src.fsm.AppliedIndex())
	}
	if !reflect.DeepEqual(neighbour, dump(t, dst.db, 6)) {
		t.Fatal("restore touched another partition")
	}
	// The restored state machine keeps working from where the source was.
	dst.idx = src.idx
	res := dst.one(Cmd{Op: OpSend, User: "bob", Peer: "alice", Device: "d", CMID: 51, TTLMS: 60_000})
	if res.Seq != 51 {
		t.Fatalf("seq after restore: %d", res.Seq)
	}
}

func TestSnapshotRestore_RejectsCorruptStreams(t *testing.T) {
	src := newRig(t, 1)
	src.register("alice", "bob")
	data := snapshotOf(t, src)
	cases := map[string][]byte{
		"empty":     nil,
		"bad magic": append([]byte("XXXX"), data[4:]...),
		"truncated": data[:len(data)-3],
		"bit flip":  flip(data, len(data)/2),
		"trailing":  append(append([]byte(nil), data...), 0),
	}
	for name, in := range cases {
		t.Run(name, func(t *testing.T) {
			dst := newRig(t, 1)
			err := dst.fsm.Restore(io.NopCloser(bytes.NewReader(in)))
			if !errors.Is(err, ErrBadEntry) {
				t.Fatalf("got %v, want ErrBadEntry", err)
			}
		})
	}
}

func flip(b []byte, i int) []byte {
	out := append([]byte(nil), b...)
	out[i] ^= 0x40
	return out
}

func FuzzRestore(f *testing.F) {
	src := newRig(f, 1)
	src.register("alice")
	snap, _ := src.fsm.Snapshot()
	var sink bufSink
	snap.Persist(&sink)
	snap.Release()
	f.Add(sink.Bytes())
	f.Add([]byte("RSNP\x01\x00"))
	f.Add([]byte("RSNP\x01\xff\xff\xff\xff\x0f"))
	f.Fuzz(func(t *testing.T, data []byte) {
		dst := newRig(t, 1)
		_ = dst.fsm.Restore(io.NopCloser(bytes.NewReader(data))) // must not panic
	})
}

func FuzzDecodeEntry(f *testing.F) {
	good, _ := encodeEntry(&entry{TimeMS: 5, Cmds: []Cmd{{Op: OpSend, User: "bob", Peer: "alice", Body: []byte("x")}}})
	f.Add(good)
	f.Add([]byte{entryVersion, 0xdd, 0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := decodeEntry(data)
		if err == nil && e == nil {
			t.Fatal("nil entry without error")
		}
	})
}
