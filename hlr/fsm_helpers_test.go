package hlr

import (
	"bytes"
	"log/slog"
	"testing"

	"github.com/cockroachdb/pebble"
	"github.com/cockroachdb/pebble/vfs"
	"github.com/hashicorp/raft"

	"github.com/roamhq/roam/hlr/keyspace"
)

// testLogger sends logs to t.Log.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(string(bytes.TrimRight(p, "\n")))
	return len(p), nil
}

func memDB(t testing.TB) *pebble.DB {
	t.Helper()
	db, err := pebble.Open("", &pebble.Options{FS: vfs.NewMem()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// fsmRig drives an FSM directly with synthetic Raft entries.
type fsmRig struct {
	t   testing.TB
	db  *pebble.DB
	fsm *FSM
	idx uint64
	now int64
}

func newRig(t testing.TB, pid uint16) *fsmRig {
	db := memDB(t)
	f, err := NewFSM(db, pid, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	return &fsmRig{t: t, db: db, fsm: f, now: 1_000_000}
}

func (r *fsmRig) entry(cmds ...Cmd) *raft.Log {
	r.t.Helper()
	data, err := encodeEntry(&entry{TimeMS: r.now, Cmds: cmds})
	if err != nil {
		r.t.Fatal(err)
	}
	r.idx++
	return &raft.Log{Index: r.idx, Term: 1, Type: raft.LogCommand, Data: data}
}

// do applies cmds as one entry and returns their results.
func (r *fsmRig) do(cmds ...Cmd) []Result {
	r.t.Helper()
	out := r.fsm.ApplyBatch([]*raft.Log{r.entry(cmds...)})
	res, ok := out[0].([]Result)
	if !ok {
		r.t.Fatalf("apply returned %T: %v", out[0], out[0])
	}
	return res
}

func (r *fsmRig) one(c Cmd) Result {
	r.t.Helper()
	return r.do(c)[0]
}

func (r *fsmRig) view() *View {
	v := r.fsm.Reader()
	r.t.Cleanup(func() { v.Close() })
	return v
}

func creds(b byte) *Creds {
	return &Creds{Salt: bytes.Repeat([]byte{b}, 16), Iters: 4096,
		StoredKey: bytes.Repeat([]byte{b}, 32), ServerKey: bytes.Repeat([]byte{b + 1}, 32)}
}

func (r *fsmRig) register(users ...string) {
	r.t.Helper()
	for _, u := range users {
		if res := r.one(Cmd{Op: OpRegister, User: u, Creds: creds(1)}); res.Status != StatusOK {
			r.t.Fatalf("register %s: %v", u, res.Status)
		}
	}
}

// befriend makes a and b friends by applying both halves (both users are in
// this rig's partition).
func (r *fsmRig) befriend(a, b string) {
	r.t.Helper()
	if res := r.one(Cmd{Op: OpFriendRequest, User: b, Peer: a}); res.Status != StatusOK {
		r.t.Fatalf("request: %v", res.Status)
	}
	r.one(Cmd{Op: OpFriendSent, User: a, Peer: b})
	if res := r.one(Cmd{Op: OpFriendAccept, User: b, Peer: a}); res.Status != StatusOK || !res.Outbox {
		r.t.Fatalf("accept: %+v", res)
	}
	r.deliverOutbox()
}

// deliverOutbox applies pending outbox items locally (all test users live
// in one partition) and marks them done, as a leader would.
func (r *fsmRig) deliverOutbox() {
	r.t.Helper()
	v := r.fsm.Reader()
	items, err := v.Outbox(1000)
	v.Close()
	if err != nil {
		r.t.Fatal(err)
	}
	for _, it := range items {
		r.one(it.Cmd)
		r.one(Cmd{Op: OpOutboxDone, ID: it.ID})
	}
}

// dump returns every key/value of the partition's FSM range.
func dump(t testing.TB, db *pebble.DB, pid uint16) map[string]string {
	t.Helper()
	lo, hi := keyspace.Range(pid, keyspace.KindFSM)
	it, err := db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	out := map[string]string{}
	for ok := it.First(); ok; ok = it.Next() {
		out[string(it.Key())] = string(it.Value())
	}
	return out
}

// cancelled returns the locations res's CancelEffects end, checking that
// each carries reason.
func cancelled(t testing.TB, res Result, reason string) []Location {
	t.Helper()
	var out []Location
	for _, e := range res.Effects {
		if c, ok := e.(CancelEffect); ok {
			if c.Reason != reason {
				t.Fatalf("Cancel Location of %+v with reason %q, want %q", c.Loc, c.Reason, reason)
			}
			out = append(out, c.Loc)
		}
	}
	return out
}

// cancelLocs returns the locations of res's CancelEffects, whatever the
// reason.
func cancelLocs(res Result) []Location {
	var out []Location
	for _, e := range res.Effects {
		if c, ok := e.(CancelEffect); ok {
			out = append(out, c.Loc)
		}
	}
	return out
}

// delivery returns res's DeliverEffect, or nil.
func delivery(res Result) *DeliverEffect {
	for _, e := range res.Effects {
		if d, ok := e.(DeliverEffect); ok {
			return &d
		}
	}
	return nil
}
