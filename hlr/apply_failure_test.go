package hlr

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/cockroachdb/pebble"
	"github.com/hashicorp/raft"

	"github.com/roamhq/roam/hlr/keyspace"
)

// TestApplyBatch_FailedEntryAppliesNothing: when a command fails halfway
// through an entry, none of the entry's commands may stay applied, while
// the other entries of the same batch are applied normally.
func TestApplyBatch_FailedEntryAppliesNothing(t *testing.T) {
	r := newRig(t, 1)
	r.register("bob")
	// Corrupt bob's account record so that reading it fails.
	if err := r.db.Set(keyspace.FSMKey(1, accountKey("bob")), []byte{0xc1}, pebble.Sync); err != nil {
		t.Fatal(err)
	}
	before := r.entry(Cmd{Op: OpRegister, User: "carol", Creds: creds(1)})
	bad := r.entry(
		Cmd{Op: OpRegister, User: "alice", Creds: creds(1)},   // would succeed...
		Cmd{Op: OpSetProfile, User: "bob", Name: new(string)}, // ...but this fails
		Cmd{Op: OpRegister, User: "dave", Creds: creds(1)},
	)
	after := r.entry(Cmd{Op: OpRegister, User: "erin", Creds: creds(1)})
	out := r.fsm.ApplyBatch([]*raft.Log{before, bad, after})
	if _, ok := out[1].(error); !ok {
		t.Fatalf("failed entry answered %T", out[1])
	}
	for _, i := range []int{0, 2} {
		if res, ok := out[i].([]Result); !ok || res[0].Status != StatusOK {
			t.Fatalf("entry %d: %v", i, out[i])
		}
	}
	v := r.view()
	for user, want := range map[string]bool{"carol": true, "alice": false, "dave": false, "erin": true} {
		a, err := v.Account(user)
		if err != nil {
			t.Fatal(err)
		}
		if (a != nil) != want {
			t.Fatalf("account %s present=%v, want %v", user, a != nil, want)
		}
	}
	if r.fsm.AppliedIndex() != after.Index {
		t.Fatalf("applied index %d, want %d", r.fsm.AppliedIndex(), after.Index)
	}
}

// TestRestore_InterruptedRestoreLeavesNoAppliedIndex: a restore that has
// already committed part of the new state and then fails must not leave an
// applied index behind (a restart then restores again), and the FSM refuses
// to apply onto the half-replaced state until a restore succeeds.
func TestRestore_InterruptedRestoreLeavesNoAppliedIndex(t *testing.T) {
	src := newRig(t, 2)
	src.register("alice", "bob")
	src.befriend("alice", "bob")
	body := bytes.Repeat([]byte{7}, 64<<10)
	for c := uint64(1); c <= 100; c++ { // > restoreBatchBytes in total
		src.one(Cmd{Op: OpSend, User: "bob", Peer: "alice", Device: "d", CMID: c, Body: body, TTLMS: 60_000})
	}
	data := snapshotOf(t, src)
	bad := flip(data, len(data)-2) // damage the checksum only

	dst := newRig(t, 2)
	dst.register("zed")
	err := dst.fsm.Restore(io.NopCloser(bytes.NewReader(bad)))
	if !errors.Is(err, ErrBadEntry) {
		t.Fatalf("restore of a damaged snapshot: %v", err)
	}
	reopened, err := NewFSM(dst.db, 2, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if reopened.AppliedIndex() != 0 {
		t.Fatalf("half-restored state claims applied index %d", reopened.AppliedIndex())
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("apply onto a half-restored state did not panic")
			}
		}()
		dst.fsm.ApplyBatch([]*raft.Log{dst.entry(Cmd{Op: OpRegister, User: "x", Creds: creds(1)})})
	}()
	if _, err := dst.fsm.Snapshot(); err == nil {
		t.Fatal("snapshot of a half-restored state succeeded")
	}
	if err := dst.fsm.Restore(io.NopCloser(bytes.NewReader(data))); err != nil {
		t.Fatal(err)
	}
	if dst.fsm.AppliedIndex() != src.fsm.AppliedIndex() {
		t.Fatalf("applied %d, want %d", dst.fsm.AppliedIndex(), src.fsm.AppliedIndex())
	}
	dst.idx = src.idx
	dst.register("late")
}

// TestApply_RejectsNulInKeyParts: 0x00 separates key parts, so names and
// device ids containing it are refused before they reach a key.
func TestApply_RejectsNulInKeyParts(t *testing.T) {
	r := newRig(t, 1)
	r.register("alice", "bob")
	r.befriend("alice", "bob")
	for _, c := range []Cmd{
		{Op: OpRegister, User: "bob\x00x", Creds: creds(1)},
		{Op: OpLogin, User: "bob", Device: "d\x00e", Node: "n", Token: []byte("t"), TTLMS: 1000, CredGen: 1},
		{Op: OpSend, User: "bob", Peer: "alice", Device: "d\x00alice", CMID: 1, TTLMS: 1000},
		{Op: OpFriendRequest, User: "bob", Peer: "alice\x00"},
	} {
		if res := r.one(c); res.Status != StatusInvalid {
			t.Fatalf("%s with a NUL: %+v", c.Op, res)
		}
	}
}
