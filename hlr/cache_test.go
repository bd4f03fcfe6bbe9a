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

// randomMaxDevices is the device bound of the random histories' logins.
const randomMaxDevices = 4

// randomCmd draws a command over a few users, devices and tokens, so that
// many of them succeed, many are refused and the same records are read and
// written again and again. Logins come from more devices than the bound,
// so devices are evicted, attached and detached all the time.
func randomCmd(rng *rand.Rand) Cmd {
	users := []string{"ann", "bob", "cat", "dan", "eve"}
	u, p := users[rng.IntN(len(users))], users[rng.IntN(len(users))]
	dev := fmt.Sprintf("d%d", rng.IntN(3))
	if rng.IntN(2) == 0 {
		dev = fmt.Sprintf("d%d", rng.IntN(12))
	}
	// Tokens mostly belong to one device, so resumes often find theirs;
	// some are shared, as a replayed or forged command could make them.
	tok := func() []byte {
		if rng.IntN(8) == 0 {
			return []byte{byte(rng.IntN(4))}
		}
		return []byte(fmt.Sprintf("%s.%d", dev, rng.IntN(3)))
	}
	name := fmt.Sprintf("n%d", rng.IntN(100))
	login := Cmd{Op: OpLogin, User: u, Device: dev, Node: fmt.Sprintf("node%d", rng.IntN(3)), Token: tok(),
		CredGen: uint64(1 + rng.IntN(3)), TTLMS: int64(1000 + rng.IntN(8000)), Limit: randomMaxDevices}
	switch rng.IntN(23) {
	case 0, 1:
		return Cmd{Op: OpRegister, User: u, Creds: creds(byte(1 + rng.IntN(3)))}
	case 2:
		if rng.IntN(3) == 0 {
			return Cmd{Op: OpDeleteAccount, User: u, Device: dev}
		}
		return Cmd{Op: OpPurge, User: u, Device: dev, Epoch: uint64(1 + rng.IntN(4))}
	case 3:
		if rng.IntN(2) == 0 {
			return login
		}
		return Cmd{Op: OpSetCreds, User: u, Device: dev, Token: tok(), Creds: creds(byte(1 + rng.IntN(3)))}
	case 4:
		return Cmd{Op: OpSetProfile, User: u, Name: &name}
	case 5, 6, 19, 20, 21:
		return login
	case 7:
		return Cmd{Op: OpResume, User: u, Device: dev, Node: "node1", Token: tok(), NewToken: tok(),
			TTLMS: int64(1000 + rng.IntN(8000)), Limit: randomMaxDevices}
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
		return Cmd{Op: []Op{OpFriendConfirm, OpFriendDecline, OpFriendRemove, OpFriendDrop, OpBlock, OpUnblock}[rng.IntN(6)], User: u, Peer: p, Limit: 3}
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
	stats, evicted := map[Status]int{}, 0
	okOps := map[Op]int{}
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
			var sent [][]Cmd
			for e := 0; e < 1+rng.IntN(3); e++ {
				cmds := make([]Cmd, 1+rng.IntN(6))
				for i := range cmds {
					cmds[i] = randomCmd(rng)
				}
				sent = append(sent, cmds)
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
			if err := invariants(cached.db, 3, randomMaxDevices); err != nil {
				t.Fatalf("seed %d step %d: %v", seed, step, err)
			}
			for e, res := range a {
				for i, r := range res.([]Result) {
					stats[r.Status]++
					if r.Status == StatusOK {
						okOps[sent[e][i].Op]++
					}
					for _, l := range cancelLocs(r) {
						if op := sent[e][i].Op; (op == OpLogin || op == OpResume) && l.Device != sent[e][i].Device {
							evicted++ // an attached device evicted
						}
					}
				}
			}
		}
		da, db := dump(t, cached.db, 3), dump(t, plain.db, 3)
		if !reflect.DeepEqual(da, db) {
			t.Fatalf("seed %d: stored state differs (%d vs %d keys)", seed, len(da), len(db))
		}
		if len(da) < 10 {
			t.Fatalf("seed %d: the history left only %d keys; it exercises too little", seed, len(da))
		}
		// A snapshot carries the indexes: the restored state is the same
		// and as exact.
		restored := newRig(t, 3)
		if err := restored.fsm.Restore(io.NopCloser(bytes.NewReader(snapshotOf(t, cached)))); err != nil {
			t.Fatal(err)
		}
		if dr := dump(t, restored.db, 3); !reflect.DeepEqual(da, dr) {
			t.Fatalf("seed %d: restored state differs (%d vs %d keys)", seed, len(da), len(dr))
		}
		checkInvariants(t, restored.db, 3, randomMaxDevices)
	}
	// The histories must reach the paths the indexes are kept by.
	t.Logf("results %v; %d attached devices evicted; successes %v", stats, evicted, okOps)
	if stats[StatusOK] < 1000 || evicted < 20 {
		t.Fatalf("the histories exercise too little: results %v; %d attached devices evicted", stats, evicted)
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
