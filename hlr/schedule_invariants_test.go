package hlr

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/cockroachdb/pebble"
	"github.com/hashicorp/raft"

	"github.com/roamhq/roam/hlr/keyspace"
)

// TestSchedRandomHistories applies random schedule commands (creates,
// edits, cancels, sends now, fires, dones, forgets, account deletions)
// of users who are friends to a state machine with the value cache and
// one without: the results and the stored state must be the same, the
// indexes and counts exact after every batch, and a snapshot restore
// must reproduce the state.
func TestSchedRandomHistories(t *testing.T) {
	okOps := map[Op]int{}
	for seed := uint64(1); seed <= 10; seed++ {
		rng := rand.New(rand.NewPCG(seed, 7))
		cached, plain := schedRig(t), schedRig(t)
		plain.fsm.cache = nil
		for step := 0; step < 200; step++ {
			var logs [2][]*raft.Log
			var sent [][]Cmd
			for e := 0; e < 1+rng.IntN(3); e++ {
				cmds := make([]Cmd, 1+rng.IntN(4))
				for i := range cmds {
					u := []string{"ann", "ann", "bob"}[rng.IntN(3)]
					p := map[string]string{"ann": []string{"bob", "cat"}[rng.IntN(2)], "bob": "ann"}[u]
					cmds[i] = randomSchedCmd(rng, u, p, []string{"phone", "laptop"}[rng.IntN(2)])
					if rng.IntN(150) == 0 {
						cmds[i] = Cmd{Op: OpDeleteAccount, User: "bob"}
					}
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
				t.Fatalf("seed %d step %d: results differ", seed, step)
			}
			if err := schedInvariants(cached.db, 3); err != nil {
				t.Fatalf("seed %d step %d: %v", seed, step, err)
			}
			for e, res := range a {
				for i, r := range res.([]Result) {
					if r.Status == StatusOK {
						okOps[sent[e][i].Op]++
					}
				}
			}
		}
		da, db := dump(t, cached.db, 3), dump(t, plain.db, 3)
		if !reflect.DeepEqual(da, db) {
			t.Fatalf("seed %d: stored state differs", seed)
		}
	}
	t.Logf("successes %v", okOps)
	for _, op := range []Op{OpSchedCreate, OpSchedEdit, OpSchedCancel, OpSchedNow, OpSchedFire, OpSchedDone} {
		if okOps[op] < 20 {
			t.Fatalf("the histories exercise %v too little: %v", op, okOps)
		}
	}
}

// randomSchedCmd is a schedule command for the random histories of
// TestCacheChangesNothing: fire times around the histories' clock
// (1,000,000 + 700 ms a step), small limits, fires some of them late.
func randomSchedCmd(rng *rand.Rand, u, p, dev string) Cmd {
	id := uint64(3)<<msgIDBits | uint64(1+rng.IntN(12))
	lim := &SchedLimits{MinAheadMS: 1, PerConv: 3, PerUser: 5, MaxLateMS: 20_000}
	at := int64(1_000_000 + rng.IntN(120_000))
	switch rng.IntN(10) {
	case 0, 1:
		return Cmd{Op: OpSchedCreate, User: u, Peer: p, Device: dev, CMID: uint64(rng.IntN(20)), Body: []byte("s"), TTLMS: 5000, AtMS: at, Sched: lim}
	case 2:
		return Cmd{Op: OpSchedEdit, User: u, ID: id, AtMS: at, Body: []byte("e"), Sched: lim}
	case 3:
		c := Cmd{Op: OpSchedCancel, User: u, ID: id}
		if rng.IntN(2) == 0 {
			c.Reason = "forget"
		}
		return c
	case 4:
		return Cmd{Op: OpSchedNow, User: u, ID: id}
	case 5, 6, 7:
		return Cmd{Op: OpSchedFire, User: u, ID: id, Sched: lim}
	}
	c := Cmd{Op: OpSchedDone, User: u, ID: id, CMID: uint64(rng.IntN(9)), Seq: 1}
	if rng.IntN(3) == 0 {
		c.Reason = ReasonRefused
	}
	return c
}

// schedInvariants checks the schedule indexes against the records: every
// record has its action and list entries and no entry is without its
// record; the pending counts are the pending and firing records per
// conversation and per user; every create dedup record names a record.
func schedInvariants(db *pebble.DB, pid uint16) error {
	prefix := keyspace.Partition(pid, keyspace.KindFSM)
	lo, hi := keyspace.Range(pid, keyspace.KindFSM)
	it, err := db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return err
	}
	defer it.Close()
	recs := map[string]Schedule{} // user/id
	keys := map[string]bool{}
	counts := map[string]int{}
	var dedups [][]byte
	for ok := it.First(); ok; ok = it.Next() {
		sub := append([]byte(nil), it.Key()[len(prefix):]...)
		switch sub[0] {
		case skSched:
			var s Schedule
			if err := decodeRec(it.Value(), &s); err != nil {
				return err
			}
			recs[fmt.Sprintf("%s/%d", s.User, s.ID)] = s
		case skSchedAction, skSchedList:
			keys[string(sub)] = true
		case skSchedConv, skSchedUser:
			counts[string(sub)] = int(binary.BigEndian.Uint64(it.Value()))
		case skSchedDedup:
			dedups = append(dedups, append([]byte(nil), it.Value()...))
		}
	}
	want := map[string]int{}
	for k, s := range recs {
		for _, ik := range [][]byte{schedActionKey(s.actionMS(), s.User, s.ID), schedListKey(s.User, s.FireMS, s.ID)} {
			if !keys[string(ik)] {
				return fmt.Errorf("schedule %s (%s) lacks index entry %q", k, s.State, ik)
			}
			delete(keys, string(ik))
		}
		if !s.Done() {
			want[string(schedConvKey(s.User, s.Conv()))]++
			want[string(schedUserKey(s.User))]++
		}
	}
	for k := range keys {
		return fmt.Errorf("index entry %q without its schedule", k)
	}
	if fmt.Sprint(want) != fmt.Sprint(counts) {
		return fmt.Errorf("pending counts %v, the records say %v", counts, want)
	}
	if len(dedups) != len(recs) {
		return fmt.Errorf("%d create dedup records for %d schedules", len(dedups), len(recs))
	}
	return nil
}
