package hlr

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/hashicorp/raft"
)

// randomCmd draws a command over a few users, devices and tokens, so that
// many of them succeed, many are refused and the same records are read and
// written again and again.
func randomCmd(rng *rand.Rand) Cmd {
	users := []string{"ann", "bob", "cat", "dan", "eve"}
	u, p := users[rng.IntN(len(users))], users[rng.IntN(len(users))]
	tok := func() []byte { return []byte{byte(rng.IntN(4))} }
	dev := fmt.Sprintf("d%d", rng.IntN(3))
	name := fmt.Sprintf("n%d", rng.IntN(100))
	switch rng.IntN(20) {
	case 0, 1:
		return Cmd{Op: OpRegister, User: u, Creds: creds(byte(1 + rng.IntN(3)))}
	case 2:
		return Cmd{Op: OpDeleteAccount, User: u, Device: dev}
	case 3:
		return Cmd{Op: OpSetCreds, User: u, Device: dev, Token: tok(), Creds: creds(byte(1 + rng.IntN(3)))}
	case 4:
		return Cmd{Op: OpSetProfile, User: u, Name: &name}
	case 5, 6:
		return Cmd{Op: OpLogin, User: u, Device: dev, Node: fmt.Sprintf("node%d", rng.IntN(3)), Token: tok(), Epoch: uint64(rng.IntN(5))}
	case 7:
		return Cmd{Op: OpResume, User: u, Device: dev, Node: "node1", Token: tok(), NewToken: tok()}
	case 8:
		return Cmd{Op: OpLogout, User: u, Device: dev, Token: tok(), Epoch: uint64(rng.IntN(5))}
	case 9:
		return Cmd{Op: OpPurge, User: u, Device: dev, Epoch: uint64(rng.IntN(5))}
	case 10:
		return Cmd{Op: OpFriendRequest, User: u, Peer: p}
	case 11:
		return Cmd{Op: OpFriendSent, User: u, Peer: p}
	case 12:
		return Cmd{Op: OpFriendAccept, User: u, Peer: p}
	case 13:
		return Cmd{Op: []Op{OpFriendConfirm, OpFriendDecline, OpFriendRemove, OpFriendDrop, OpBlock, OpUnblock}[rng.IntN(6)], User: u, Peer: p}
	case 14, 15, 16:
		return Cmd{Op: OpSend, User: u, Peer: p, Device: dev, CMID: uint64(rng.IntN(40)), Body: []byte(name), TTLMS: int64(1000 + rng.IntN(5000))}
	case 17:
		return Cmd{Op: OpCursor, User: u, Device: dev, Seq: uint64(rng.IntN(20))}
	case 18:
		return Cmd{Op: OpExpire}
	}
	return Cmd{Op: OpOutboxDone, ID: uint64(rng.IntN(30))}
}

// TestCacheChangesNothing applies the same random history to a state
// machine with the value cache and one without, entry batches of several
// entries included, and wants identical results and identical stored
// state after every batch.
func TestCacheChangesNothing(t *testing.T) {
	for seed := uint64(1); seed <= 20; seed++ {
		rng := rand.New(rand.NewPCG(seed, 99))
		cached, plain := newRig(t, 3), newRig(t, 3)
		plain.fsm.cache = nil
		if cached.fsm.cache == nil {
			t.Fatal("a new FSM has no cache")
		}
		small := seed%2 == 0
		if small {
			cached.fsm.cache = newValueCache(8) // emptied often
		}
		for step := 0; step < 150; step++ {
			var logs [2][]*raft.Log
			for e := 0; e < 1+rng.IntN(3); e++ {
				cmds := make([]Cmd, 1+rng.IntN(6))
				for i := range cmds {
					cmds[i] = randomCmd(rng)
				}
				now := int64(1_000_000 + step*700)
				for k, r := range []*fsmRig{cached, plain} {
					r.now = now
					logs[k] = append(logs[k], r.entry(cmds...))
				}
			}
			a := cached.fsm.ApplyBatch(logs[0])
			b := plain.fsm.ApplyBatch(logs[1])
			if !reflect.DeepEqual(a, b) {
				t.Fatalf("seed %d step %d: results differ:\ncached %+v\nplain  %+v", seed, step, a, b)
			}
		}
		da, db := dump(t, cached.db, 3), dump(t, plain.db, 3)
		if !reflect.DeepEqual(da, db) {
			t.Fatalf("seed %d: stored state differs (%d vs %d keys)", seed, len(da), len(db))
		}
		if len(da) < 10 {
			t.Fatalf("seed %d: the history left only %d keys; it exercises too little", seed, len(da))
		}
	}
}

// TestCacheForgetsRestoredState: a restore replaces the state under the
// cache, which must not answer with the values from before it.
func TestCacheForgetsRestoredState(t *testing.T) {
	r := newRig(t, 1)
	r.register("ann", "bob")
	r.befriend("ann", "bob")
	data := snapshotOf(t, r)
	// After the snapshot: bob blocks ann (the edge is now cached as
	// blocked, since applySend and block read it).
	r.one(Cmd{Op: OpBlock, User: "bob", Peer: "ann"})
	if res := r.one(Cmd{Op: OpSend, User: "bob", Peer: "ann", Device: "d", CMID: 1, Body: []byte("x"), TTLMS: 60_000}); res.Status == StatusOK {
		t.Fatal("send through a block succeeded")
	}
	if err := r.fsm.Restore(io.NopCloser(bytes.NewReader(data))); err != nil {
		t.Fatal(err)
	}
	r.idx = r.fsm.meta.Applied
	if res := r.one(Cmd{Op: OpSend, User: "bob", Peer: "ann", Device: "d", CMID: 2, Body: []byte("x"), TTLMS: 60_000}); res.Status != StatusOK {
		t.Fatalf("send after restoring the state from before the block: %v (a stale cached edge?)", res.Status)
	}
}
