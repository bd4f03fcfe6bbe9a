package hlr

import (
	"reflect"
	"sort"
	"testing"

	"github.com/roamhq/roam/hlr/keyspace"
)

// changedKinds applies c and returns the kinds of the keys it wrote or
// deleted (the partition meta aside), sorted.
func (r *fsmRig) changedKinds(c Cmd) (Result, []byte) {
	r.t.Helper()
	before := dump(r.t, r.db, r.fsm.pid)
	res := r.one(c)
	after := dump(r.t, r.db, r.fsm.pid)
	prefix := len(keyspace.Partition(r.fsm.pid, keyspace.KindFSM))
	kinds := map[byte]bool{}
	for k, v := range after {
		if old, ok := before[k]; !ok || old != v {
			kinds[k[prefix]] = true
		}
	}
	for k := range before {
		if _, ok := after[k]; !ok {
			kinds[k[prefix]] = true
		}
	}
	delete(kinds, skMeta)
	var out []byte
	for k := range kinds {
		out = append(out, k)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return res, out
}

// TestFriendRequest_MissingOrBlockingPeerLooksUnanswered: a request to a
// missing user and one to a user who blocked the asker are answered like
// a request to a user who has not answered yet, and each shows as an
// outgoing request on the asker's side, written the same way (through the
// peer partition's outbox).
func TestFriendRequest_MissingOrBlockingPeerLooksUnanswered(t *testing.T) {
	r := newRig(t, 1)
	r.register("ann", "bob", "cat")
	r.one(Cmd{Op: OpBlock, User: "cat", Peer: "ann"})
	r.deliverOutbox()
	results := map[string]Result{}
	for _, peer := range []string{"bob", "cat", "ghost"} {
		res, kinds := r.changedKinds(Cmd{Op: OpFriendRequest, User: peer, Peer: "ann"})
		if res.Status != StatusOK || !res.Outbox {
			t.Fatalf("request to %s: %+v", peer, res)
		}
		results[peer] = res
		if peer != "bob" && !reflect.DeepEqual(kinds, []byte{skOutbox}) {
			t.Fatalf("a request to %s wrote %q, want only the outbox item for the asker's side", peer, kinds)
		}
	}
	if !reflect.DeepEqual(results["cat"], results["ghost"]) {
		t.Fatalf("blocked %+v and missing %+v differ", results["cat"], results["ghost"])
	}
	r.deliverOutbox()
	fa, _ := r.view().Friends("ann")
	if !reflect.DeepEqual(fa.Outgoing, []string{"bob", "cat", "ghost"}) {
		t.Fatalf("ann's outgoing requests %v, want all three shown alike", fa.Outgoing)
	}
	fc, _ := r.view().Friends("cat")
	if len(fc.Incoming) != 0 || !reflect.DeepEqual(fc.Blocked, []string{"ann"}) {
		t.Fatalf("the blocker's side changed: %+v", fc)
	}
}

// TestBlock_MissingNameWritesLikeAStranger: blocking a name without an
// account writes exactly what blocking an existing stranger writes (the
// block and its count, nothing for the other partition), so neither the
// answer nor the block list tells whether the name exists; unblocking
// either again leaves nothing behind.
func TestBlock_MissingNameWritesLikeAStranger(t *testing.T) {
	r := newRig(t, 1)
	r.register("ann", "bob")
	before := dump(t, r.db, 1)
	stranger, sk := r.changedKinds(Cmd{Op: OpBlock, User: "ann", Peer: "bob"})
	missing, mk := r.changedKinds(Cmd{Op: OpBlock, User: "ann", Peer: "ghost"})
	if !reflect.DeepEqual(stranger, missing) || stranger.Status != StatusOK || stranger.Outbox {
		t.Fatalf("stranger %+v, missing %+v", stranger, missing)
	}
	if !reflect.DeepEqual(mk, []byte{skBlocks, skEdge}) || !reflect.DeepEqual(sk, mk) {
		t.Fatalf("blocking a stranger wrote %q, a missing name %q", sk, mk)
	}
	fa, _ := r.view().Friends("ann")
	if !reflect.DeepEqual(fa.Blocked, []string{"bob", "ghost"}) {
		t.Fatalf("blocked list %v", fa.Blocked)
	}
	for _, p := range []string{"bob", "ghost", "never-blocked"} {
		if res := r.one(Cmd{Op: OpUnblock, User: "ann", Peer: p}); res.Status != StatusOK {
			t.Fatalf("unblock %s: %+v", p, res)
		}
	}
	after := dump(t, r.db, 1)
	meta := string(keyspace.Partition(1, keyspace.KindFSM)) + string(rune(skMeta))
	for k, v := range before {
		if k != meta && after[k] != v {
			t.Fatalf("key %q changed", k)
		}
	}
	if len(after) != len(before) {
		t.Fatalf("block and unblock left %d keys, there were %d", len(after), len(before))
	}
}

// TestBlock_BoundedPerUser: a user can block at most Limit users; the
// refusal is the same for existing and missing names.
func TestBlock_BoundedPerUser(t *testing.T) {
	r := newRig(t, 1)
	r.register("ann", "bob", "cat")
	block := func(p string) Status {
		return r.one(Cmd{Op: OpBlock, User: "ann", Peer: p, Limit: 2}).Status
	}
	if block("x1") != StatusOK || block("x2") != StatusOK {
		t.Fatal("blocks under the bound refused")
	}
	if s1, s2 := block("bob"), block("ghost"); s1 != StatusRefused || s2 != s1 {
		t.Fatalf("blocks over the bound: existing %v, missing %v", s1, s2)
	}
	if block("x1") != StatusOK {
		t.Fatal("a repeated block over the bound refused")
	}
	r.one(Cmd{Op: OpUnblock, User: "ann", Peer: "x2"})
	if block("bob") != StatusOK {
		t.Fatal("a block after an unblock refused")
	}
	checkInvariants(t, r.db, 1, 0)
}

// TestBlock_PendingRequestOfTheBlockedStaysUnanswered: blocking a user
// whose request is pending leaves that request pending on the requester's
// side (a block looks like no answer); blocking a friend ends the
// friendship on both sides, as a removal does.
func TestBlock_PendingRequestOfTheBlockedStaysUnanswered(t *testing.T) {
	r := newRig(t, 1)
	r.register("ann", "bob", "cat")
	r.one(Cmd{Op: OpFriendRequest, User: "bob", Peer: "ann"})
	r.deliverOutbox()
	if res := r.one(Cmd{Op: OpBlock, User: "bob", Peer: "ann"}); res.Status != StatusOK || res.Outbox {
		t.Fatalf("block of a requester: %+v", res)
	}
	r.deliverOutbox()
	if fa, _ := r.view().Friends("ann"); !reflect.DeepEqual(fa.Outgoing, []string{"bob"}) {
		t.Fatalf("the requester's side after the block: %+v", fa)
	}
	r.befriend("cat", "bob")
	if res := r.one(Cmd{Op: OpBlock, User: "bob", Peer: "cat"}); !res.Outbox {
		t.Fatalf("block of a friend: %+v", res)
	}
	r.deliverOutbox()
	if fc, _ := r.view().Friends("cat"); len(fc.Friends) != 0 {
		t.Fatalf("the friendship survived the block: %+v", fc)
	}
}
