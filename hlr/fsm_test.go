package hlr

import (
	"bytes"
	"fmt"
	"reflect"
	"testing"

	"github.com/hashicorp/raft"
)

func TestRegister_DuplicateNameRefused(t *testing.T) {
	r := newRig(t, 3)
	if res := r.one(Cmd{Op: OpRegister, User: "alice", Creds: creds(1)}); res.Status != StatusOK {
		t.Fatalf("first register: %v", res.Status)
	}
	if res := r.one(Cmd{Op: OpRegister, User: "alice", Creds: creds(2)}); res.Status != StatusExists {
		t.Fatalf("second register: got %v, want exists", res.Status)
	}
	a, err := r.view().Account("alice")
	if err != nil || a == nil {
		t.Fatalf("account: %v %v", a, err)
	}
	if !bytes.Equal(a.Salt, creds(1).Salt) || a.CredGen != 1 {
		t.Fatalf("duplicate overwrote the account: %+v", a)
	}
}

func TestSend_OnlyFriends_SameRefusalForStrangerAndMissing(t *testing.T) {
	r := newRig(t, 1)
	r.register("alice", "bob", "carol")
	r.befriend("alice", "bob")
	send := func(from, to string, cmid uint64) Result {
		return r.one(Cmd{Op: OpSend, User: to, Peer: from, Device: "d1", CMID: cmid, Body: []byte("hi"), TTLMS: 60_000})
	}
	if res := send("alice", "bob", 1); res.Status != StatusOK || res.Seq != 1 {
		t.Fatalf("friend send: %+v", res)
	}
	stranger := send("carol", "bob", 1)
	missing := send("carol", "nobody", 1)
	if stranger.Status != StatusRefused || !reflect.DeepEqual(stranger, missing) {
		t.Fatalf("stranger %+v and missing %+v must be the same refusal", stranger, missing)
	}
	r.one(Cmd{Op: OpBlock, User: "bob", Peer: "alice"})
	if res := send("alice", "bob", 2); res.Status != StatusRefused {
		t.Fatalf("blocked send: %+v", res)
	}
}

func TestSend_RetryIsDeduplicatedEvenOutOfOrder(t *testing.T) {
	r := newRig(t, 1)
	r.register("alice", "bob")
	r.befriend("alice", "bob")
	send := func(dev string, cmid uint64) Result {
		return r.one(Cmd{Op: OpSend, User: "bob", Peer: "alice", Device: dev, CMID: cmid, Body: []byte(fmt.Sprint(cmid)), TTLMS: 60_000})
	}
	first := map[uint64]Result{}
	for _, c := range []uint64{5, 1, 9} {
		first[c] = send("phone", c)
	}
	// Retries arrive late and out of order, interleaved with new sends.
	for _, c := range []uint64{1, 9, 5} {
		res := send("phone", c)
		if !res.Dup || res.MsgID != first[c].MsgID || res.Seq != first[c].Seq {
			t.Fatalf("retry of %d: %+v, first %+v", c, res, first[c])
		}
		if len(res.Effects) != 0 {
			t.Fatalf("a duplicate must not carry a message to deliver: %+v", res.Effects)
		}
	}
	// The same cmid from another device is a different message.
	if res := send("laptop", 5); res.Dup || res.Seq != 4 {
		t.Fatalf("other device: %+v", res)
	}
	in, err := r.view().Inbox("bob", 0, 100, r.now)
	if err != nil {
		t.Fatal(err)
	}
	if len(in.Messages) != 4 || in.Head != 4 {
		t.Fatalf("inbox has %d messages, head %d; want 4", len(in.Messages), in.Head)
	}
	for i, m := range in.Messages {
		if m.Seq != uint64(i+1) {
			t.Fatalf("gap: message %d has seq %d", i, m.Seq)
		}
	}
}

func TestSend_MessageIDsAreUniqueAcrossPartitions(t *testing.T) {
	ids := map[uint64]bool{}
	for _, pid := range []uint16{0, 1, 63} {
		r := newRig(t, pid)
		r.register("alice", "bob")
		r.befriend("alice", "bob")
		for c := uint64(1); c <= 3; c++ {
			res := r.one(Cmd{Op: OpSend, User: "bob", Peer: "alice", Device: "d", CMID: c, TTLMS: 1000})
			if ids[res.MsgID] {
				t.Fatalf("message id %x reused", res.MsgID)
			}
			ids[res.MsgID] = true
		}
	}
}

func TestApplyBatch_SkipsEntriesAppliedBeforeRestart(t *testing.T) {
	r := newRig(t, 2)
	r.register("alice", "bob")
	r.befriend("alice", "bob")
	var logs []*raft.Log
	for c := uint64(1); c <= 5; c++ {
		logs = append(logs, r.entry(Cmd{Op: OpSend, User: "bob", Peer: "alice", Device: "d", CMID: c, TTLMS: 1000}))
	}
	r.fsm.ApplyBatch(logs[:3])
	before := dump(t, r.db, 2)

	// A restarted node reopens the FSM and raft replays from an older index.
	f2, err := NewFSM(r.db, 2, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if f2.AppliedIndex() != logs[2].Index {
		t.Fatalf("applied index after reopen: %d, want %d", f2.AppliedIndex(), logs[2].Index)
	}
	out := f2.ApplyBatch(logs[:3])
	for i, o := range out {
		if o != nil {
			t.Fatalf("replayed entry %d produced %v", i, o)
		}
	}
	if after := dump(t, r.db, 2); !reflect.DeepEqual(before, after) {
		t.Fatal("replaying applied entries changed the state")
	}
	f2.ApplyBatch(logs)
	v := f2.Reader()
	defer v.Close()
	in, _ := v.Inbox("bob", 0, 100, r.now)
	if in.Head != 5 || len(in.Messages) != 5 {
		t.Fatalf("after replay head=%d n=%d, want 5/5", in.Head, len(in.Messages))
	}
}

func TestApply_IsDeterministic(t *testing.T) {
	script := func(r *fsmRig) {
		r.register("alice", "bob", "carol")
		r.befriend("alice", "bob")
		r.befriend("carol", "bob")
		for c := uint64(1); c <= 20; c++ {
			r.one(Cmd{Op: OpSend, User: "bob", Peer: []string{"alice", "carol"}[c%2], Device: "d", CMID: c, Body: []byte{byte(c)}, TTLMS: int64(c) * 1000})
			r.now += 700
		}
		r.one(Cmd{Op: OpLogin, User: "bob", Device: "d", Node: "n1", Token: []byte("tok"), TTLMS: 5000, CredGen: 1})
		r.one(Cmd{Op: OpExpire})
		r.one(Cmd{Op: OpFriendRemove, User: "alice", Peer: "bob"})
		r.deliverOutbox()
	}
	a, b := newRig(t, 4), newRig(t, 4)
	script(a)
	script(b)
	da, db := dump(t, a.db, 4), dump(t, b.db, 4)
	if len(da) == 0 || !reflect.DeepEqual(da, db) {
		t.Fatalf("two replicas applying the same log differ (%d vs %d keys)", len(da), len(db))
	}
}

func TestExpire_RemovesMessagesInOrderAndReportsThem(t *testing.T) {
	r := newRig(t, 1)
	r.register("alice", "bob")
	r.befriend("alice", "bob")
	send := func(cmid uint64, ttl int64) Result {
		return r.one(Cmd{Op: OpSend, User: "bob", Peer: "alice", Device: "d", CMID: cmid, TTLMS: ttl})
	}
	send(1, 1000)
	send(2, 100_000)
	// A short TTL after a long one expires no earlier than its predecessor.
	third := send(3, 10)
	if third.Status != StatusOK {
		t.Fatalf("send: %+v", third)
	}
	// No device is attached, so nothing is forwarded: read it back.
	in, err := r.view().InboxPage("bob", 2, 1, 0, r.now)
	if err != nil || len(in.Messages) != 1 || in.Messages[0].Seq != third.Seq {
		t.Fatalf("inbox: %+v, %v", in, err)
	}
	if got := in.Messages[0].ExpiresMS; got != r.now+100_000 {
		t.Fatalf("expiry not monotonic: %d", got)
	}
	r.now += 2000
	if res := r.one(Cmd{Op: OpExpire}); res.Status != StatusOK || res.More {
		t.Fatalf("expire: %+v", res)
	}
	in, _ = r.view().Inbox("bob", 0, 100, r.now)
	if in.ExpiredThrough != 1 || len(in.Messages) != 2 || in.Messages[0].Seq != 2 {
		t.Fatalf("after expiry: through=%d msgs=%d", in.ExpiredThrough, len(in.Messages))
	}
	// The dedup entry expired with the message: the cmid is free again.
	if res := send(1, 1000); res.Dup {
		t.Fatal("dedup entry outlived its message")
	}
	// Reads hide messages whose time has passed even before collection.
	in, _ = r.view().Inbox("bob", 0, 100, r.now+200_000)
	if len(in.Messages) != 0 || in.ExpiredThrough != 4 {
		t.Fatalf("late read: msgs=%d through=%d", len(in.Messages), in.ExpiredThrough)
	}
}

func TestExpire_StopsAtLimit(t *testing.T) {
	r := newRig(t, 1)
	r.register("alice", "bob")
	r.befriend("alice", "bob")
	for c := uint64(1); c <= 5; c++ {
		r.one(Cmd{Op: OpSend, User: "bob", Peer: "alice", Device: "d", CMID: c, TTLMS: 10})
	}
	r.now += 100
	if res := r.one(Cmd{Op: OpExpire, Limit: 3}); !res.More {
		t.Fatal("expected More after a limited expire")
	}
	if res := r.one(Cmd{Op: OpExpire, Limit: 3}); res.More {
		t.Fatal("expected the second expire to finish")
	}
	in, _ := r.view().Inbox("bob", 0, 100, r.now)
	if in.ExpiredThrough != 5 || len(in.Messages) != 0 {
		t.Fatalf("through=%d msgs=%d", in.ExpiredThrough, len(in.Messages))
	}
}

func TestUpdateLocation_ReturnsOldLocationToCancel(t *testing.T) {
	r := newRig(t, 1)
	r.register("bob")
	login := func(node string, tok string) Result {
		return r.one(Cmd{Op: OpLogin, User: "bob", Device: "phone", Node: node, Token: []byte(tok), TTLMS: 60_000, CredGen: 1})
	}
	first := login("n1", "t1")
	if first.Status != StatusOK || first.Epoch != 1 || len(first.Effects) != 0 {
		t.Fatalf("first login: %+v", first)
	}
	second := login("n3", "t2")
	if c := cancelled(t, second, "session_replaced"); second.Epoch != 2 || len(c) != 1 || c[0] != (Location{Device: "phone", Node: "n1", Epoch: 1}) {
		t.Fatalf("second login: %+v", second)
	}
	// A purge from the old node (stale epoch) must not detach the device.
	if res := r.one(Cmd{Op: OpPurge, User: "bob", Device: "phone", Epoch: 1}); res.Status != StatusStale {
		t.Fatalf("stale purge: %v", res.Status)
	}
	locs, _ := r.view().Locations("bob")
	if len(locs) != 1 || locs[0].Node != "n3" {
		t.Fatalf("locations: %+v", locs)
	}
	if res := r.one(Cmd{Op: OpPurge, User: "bob", Device: "phone", Epoch: 2}); res.Status != StatusOK {
		t.Fatalf("purge: %v", res.Status)
	}
	if locs, _ := r.view().Locations("bob"); len(locs) != 0 {
		t.Fatalf("still attached: %+v", locs)
	}
	// Epochs never repeat after a purge.
	if res := login("n2", "t3"); res.Epoch != 3 {
		t.Fatalf("epoch after purge: %d", res.Epoch)
	}
}

func TestLogin_RefusedWhenCredentialsChangedMeanwhile(t *testing.T) {
	r := newRig(t, 1)
	r.register("bob")
	r.one(Cmd{Op: OpSetCreds, User: "bob", Creds: creds(7)})
	res := r.one(Cmd{Op: OpLogin, User: "bob", Device: "d", Node: "n1", Token: []byte("t"), TTLMS: 1000, CredGen: 1})
	if res.Status != StatusStale {
		t.Fatalf("login with old generation: %v", res.Status)
	}
}

func TestResume_RotatesTokenAndOldTokenDies(t *testing.T) {
	r := newRig(t, 1)
	r.register("bob")
	r.one(Cmd{Op: OpLogin, User: "bob", Device: "d", Node: "n1", Token: []byte("old"), TTLMS: 60_000, CredGen: 1})
	res := r.one(Cmd{Op: OpResume, User: "bob", Device: "d", Node: "n2", Token: []byte("old"), NewToken: []byte("new"), TTLMS: 60_000})
	if res.Status != StatusOK || res.Epoch != 2 {
		t.Fatalf("resume: %+v", res)
	}
	again := r.one(Cmd{Op: OpResume, User: "bob", Device: "d", Node: "n2", Token: []byte("old"), NewToken: []byte("x"), TTLMS: 60_000})
	if again.Status != StatusNotFound {
		t.Fatalf("old token still works: %+v", again)
	}
	wrongDev := r.one(Cmd{Op: OpResume, User: "bob", Device: "other", Node: "n2", Token: []byte("new"), NewToken: []byte("y"), TTLMS: 60_000})
	if wrongDev.Status != StatusNotFound {
		t.Fatalf("token of another device accepted: %+v", wrongDev)
	}
	// Expiry: the session is collected and resume fails.
	r.now += 120_000
	if res := r.one(Cmd{Op: OpResume, User: "bob", Device: "d", Node: "n2", Token: []byte("new"), NewToken: []byte("z"), TTLMS: 1}); res.Status != StatusExpired {
		t.Fatalf("expired session: %v", res.Status)
	}
}

func TestSetCreds_EndsOtherSessionsAndCancelsOtherDevices(t *testing.T) {
	r := newRig(t, 1)
	r.register("bob")
	r.one(Cmd{Op: OpLogin, User: "bob", Device: "phone", Node: "n1", Token: []byte("a"), TTLMS: 60_000, CredGen: 1})
	r.one(Cmd{Op: OpLogin, User: "bob", Device: "laptop", Node: "n2", Token: []byte("b"), TTLMS: 60_000, CredGen: 1})
	res := r.one(Cmd{Op: OpSetCreds, User: "bob", Device: "phone", Token: []byte("a"), Creds: creds(9)})
	if c := cancelled(t, res, "password_changed"); res.CredGen != 2 || len(c) != 1 || c[0].Device != "laptop" {
		t.Fatalf("set creds: %+v", res)
	}
	v := r.view()
	if s, _ := v.Session("bob", []byte("b")); s != nil {
		t.Fatal("the other session survived a password change")
	}
	if s, _ := v.Session("bob", []byte("a")); s == nil || s.CredGen != 2 {
		t.Fatalf("the caller's session: %+v", s)
	}
	// The kept session can still be resumed.
	if res := r.one(Cmd{Op: OpResume, User: "bob", Device: "phone", Node: "n1", Token: []byte("a"), NewToken: []byte("c"), TTLMS: 1000}); res.Status != StatusOK {
		t.Fatalf("resume kept session: %v", res.Status)
	}
}

func TestFriends_RequestAcceptRemoveBlock(t *testing.T) {
	r := newRig(t, 1)
	r.register("alice", "bob")
	if res := r.one(Cmd{Op: OpFriendAccept, User: "bob", Peer: "alice"}); res.Status != StatusNoRequest {
		t.Fatalf("accept without request: %v", res.Status)
	}
	// A request to a missing user is answered as one that waits for an
	// answer (PROTOCOL.md §7): the asker cannot tell.
	if res := r.one(Cmd{Op: OpFriendRequest, User: "nobody", Peer: "alice"}); res.Status != StatusOK || !res.Outbox {
		t.Fatalf("request to missing user: %+v", res)
	}
	r.deliverOutbox()
	if fa, _ := r.view().Friends("alice"); !reflect.DeepEqual(fa.Outgoing, []string{"nobody"}) {
		t.Fatalf("alice's request to a missing user is not shown as outgoing: %+v", fa)
	}
	r.one(Cmd{Op: OpFriendRemove, User: "alice", Peer: "nobody"})
	r.deliverOutbox()
	r.befriend("alice", "bob")
	v := r.view()
	fa, _ := v.Friends("alice")
	fb, _ := v.Friends("bob")
	if !reflect.DeepEqual(fa.Friends, []string{"bob"}) || !reflect.DeepEqual(fb.Friends, []string{"alice"}) {
		t.Fatalf("friends: alice=%+v bob=%+v", fa, fb)
	}
	r.one(Cmd{Op: OpFriendRemove, User: "alice", Peer: "bob"})
	r.deliverOutbox()
	v = r.view()
	fa, _ = v.Friends("alice")
	fb, _ = v.Friends("bob")
	if len(fa.Friends)+len(fb.Friends) != 0 {
		t.Fatalf("remove left edges: %+v %+v", fa, fb)
	}
	// A request to a user who blocked the asker gets the same answer as
	// one to a missing user, and neither is refused (that would tell).
	r.one(Cmd{Op: OpBlock, User: "bob", Peer: "alice"})
	r.deliverOutbox()
	blocked := r.one(Cmd{Op: OpFriendRequest, User: "bob", Peer: "alice"})
	missing := r.one(Cmd{Op: OpFriendRequest, User: "nobody", Peer: "alice"})
	if blocked.Status != StatusOK || !reflect.DeepEqual(blocked, missing) {
		t.Fatalf("blocked=%+v missing=%+v", blocked, missing)
	}
	if fb, _ := r.view().Friends("bob"); len(fb.Incoming) != 0 {
		t.Fatalf("a blocked user's request reached bob: %+v", fb)
	}
	r.deliverOutbox()
	r.one(Cmd{Op: OpFriendRemove, User: "alice", Peer: "bob"})
	r.one(Cmd{Op: OpFriendRemove, User: "alice", Peer: "nobody"})
	r.deliverOutbox()
	// Crossing requests make a friendship.
	r.one(Cmd{Op: OpUnblock, User: "bob", Peer: "alice"})
	r.one(Cmd{Op: OpFriendRequest, User: "bob", Peer: "alice"})
	r.one(Cmd{Op: OpFriendSent, User: "alice", Peer: "bob"})
	res := r.one(Cmd{Op: OpFriendRequest, User: "alice", Peer: "bob"})
	if res.Status != StatusOK || !res.Outbox {
		t.Fatalf("crossing request: %+v", res)
	}
	r.deliverOutbox()
	fa, _ = r.view().Friends("alice")
	if !reflect.DeepEqual(fa.Friends, []string{"bob"}) {
		t.Fatalf("crossing requests: alice=%+v", fa)
	}
}

func TestDeleteAccount_RemovesEverythingAndTellsFriends(t *testing.T) {
	r := newRig(t, 1)
	r.register("alice", "bob")
	r.befriend("alice", "bob")
	r.one(Cmd{Op: OpSend, User: "alice", Peer: "bob", Device: "d", CMID: 1, TTLMS: 60_000})
	r.one(Cmd{Op: OpLogin, User: "alice", Device: "d", Node: "n1", Token: []byte("t"), TTLMS: 60_000, CredGen: 1})
	res := r.one(Cmd{Op: OpDeleteAccount, User: "alice"})
	if res.Status != StatusOK || !res.Outbox || len(cancelled(t, res, "account_deleted")) != 1 {
		t.Fatalf("delete: %+v", res)
	}
	r.deliverOutbox()
	v := r.view()
	if a, _ := v.Account("alice"); a != nil {
		t.Fatal("account survived")
	}
	fb, _ := v.Friends("bob")
	if len(fb.Friends) != 0 {
		t.Fatalf("bob still has friends %v", fb.Friends)
	}
	for k := range dump(t, r.db, 1) {
		if bytes.Contains([]byte(k), []byte("alice")) {
			t.Fatalf("key %q survived the deletion", k)
		}
	}
	if res := r.one(Cmd{Op: OpRegister, User: "alice", Creds: creds(3)}); res.Status != StatusOK {
		t.Fatalf("re-register: %v", res.Status)
	}
}

func TestCursor_NeverGoesBackOrPastHead(t *testing.T) {
	r := newRig(t, 1)
	r.register("alice", "bob")
	r.befriend("alice", "bob")
	for c := uint64(1); c <= 3; c++ {
		r.one(Cmd{Op: OpSend, User: "bob", Peer: "alice", Device: "d", CMID: c, TTLMS: 60_000})
	}
	// Only a device with a location record has a cursor.
	r.one(Cmd{Op: OpLogin, User: "bob", Device: "p", Node: "n1", Token: []byte("t"), TTLMS: 60_000, CredGen: 1})
	r.do(Cmd{Op: OpCursor, User: "bob", Device: "p", Seq: 2}, Cmd{Op: OpCursor, User: "bob", Device: "p", Seq: 1})
	if c, _ := r.view().Cursor("bob", "p"); c != 2 {
		t.Fatalf("cursor went back: %d", c)
	}
	r.one(Cmd{Op: OpCursor, User: "bob", Device: "p", Seq: 99})
	if c, _ := r.view().Cursor("bob", "p"); c != 3 {
		t.Fatalf("cursor past head: %d", c)
	}
}

func TestFriendRequest_RecordedOnBothSides_DeclineAndDeletion(t *testing.T) {
	r := newRig(t, 1)
	r.register("alice", "bob", "carol")
	// alice asks bob: bob sees it incoming, alice (after the outbox) outgoing.
	if res := r.one(Cmd{Op: OpFriendRequest, User: "bob", Peer: "alice"}); res.Status != StatusOK || !res.Outbox {
		t.Fatalf("request: %+v", res)
	}
	r.deliverOutbox()
	fa, _ := r.view().Friends("alice")
	fb, _ := r.view().Friends("bob")
	if !reflect.DeepEqual(fa.Outgoing, []string{"bob"}) || !reflect.DeepEqual(fb.Incoming, []string{"alice"}) {
		t.Fatalf("after request: alice %+v, bob %+v", fa, fb)
	}
	// bob declines: alice's outgoing request is dropped with a "declined" event.
	if res := r.one(Cmd{Op: OpFriendDecline, User: "bob", Peer: "alice"}); res.Status != StatusOK {
		t.Fatalf("decline: %+v", res)
	}
	v := r.fsm.Reader()
	items, _ := v.Outbox(10)
	v.Close()
	if len(items) != 1 || items[0].Cmd.Op != OpFriendDrop || items[0].Cmd.Reason != "declined" {
		t.Fatalf("outbox after decline: %+v", items)
	}
	r.deliverOutbox()
	fa, _ = r.view().Friends("alice")
	if len(fa.Outgoing)+len(fa.Friends) != 0 {
		t.Fatalf("alice after decline: %+v", fa)
	}
	// carol asks bob, then deletes her account: bob's pending request goes.
	r.one(Cmd{Op: OpFriendRequest, User: "bob", Peer: "carol"})
	r.deliverOutbox()
	r.one(Cmd{Op: OpDeleteAccount, User: "carol"})
	r.deliverOutbox()
	fb, _ = r.view().Friends("bob")
	if len(fb.Incoming) != 0 {
		t.Fatalf("request of a deleted account survived: %+v", fb)
	}
}

func TestFriendSent_DoesNotOverrideABlock(t *testing.T) {
	r := newRig(t, 1)
	r.register("alice", "bob")
	r.one(Cmd{Op: OpBlock, User: "alice", Peer: "bob"})
	r.deliverOutbox()
	r.one(Cmd{Op: OpFriendSent, User: "alice", Peer: "bob"})
	fa, _ := r.view().Friends("alice")
	if !reflect.DeepEqual(fa.Blocked, []string{"bob"}) || len(fa.Outgoing) != 0 {
		t.Fatalf("block replaced: %+v", fa)
	}
}

func TestRegister_RetryOfTheSameRegistrationSucceeds(t *testing.T) {
	r := newRig(t, 1)
	first := Cmd{Op: OpRegister, User: "alice", Creds: creds(1)}
	if res := r.one(first); res.Status != StatusOK {
		t.Fatalf("register: %v", res.Status)
	}
	if res := r.one(first); res.Status != StatusOK {
		t.Fatalf("retry of the same registration: %v, want ok", res.Status)
	}
	if res := r.one(Cmd{Op: OpRegister, User: "alice", Creds: creds(2)}); res.Status != StatusExists {
		t.Fatalf("another registration of the name: %v, want exists", res.Status)
	}
}

// TestMessageIDs_BelowTwoTo53: message ids stay below 2^53 for every
// partition, so a JavaScript client decoding them as numbers cannot
// confuse two (issue 12.8): the highest partition with a counter near the
// top of its range still fits, and ids of two partitions never meet.
func TestMessageIDs_BelowTwoTo53(t *testing.T) {
	if MaxPartitions > 1<<(53-msgIDBits) {
		t.Fatalf("MaxPartitions %d does not fit above a %d-bit counter in 53 bits", MaxPartitions, msgIDBits)
	}
	top := uint64(MaxPartitions-1)<<msgIDBits | (1<<msgIDBits - 1)
	if top >= 1<<53 {
		t.Fatalf("largest id %d is not below 2^53", top)
	}
	if float64(top) != float64(top-1)+1 || uint64(float64(top)) != top {
		t.Fatalf("id %d does not survive a float64", top)
	}
	r := newRig(t, MaxPartitions-1)
	r.register("alice", "bob")
	r.befriend("alice", "bob")
	res := r.one(Cmd{Op: OpSend, User: "bob", Peer: "alice", Device: "d", CMID: 1, Body: []byte("x"), TTLMS: 60000})
	if res.MsgID == 0 || res.MsgID >= 1<<53 {
		t.Fatalf("message id %d", res.MsgID)
	}
}

// TestResume_RetriedWithOldTokenGetsTheSameSession: a resume whose reply
// was lost is retried with the same old token, and so (vlr derives the new
// token from the old one) asks for the same new token; it is granted
// again, attaching the device once more, instead of logging the user out
// with not_found (issue 12.4). Only within the retry window, only for the
// same successor and device, and not once the successor was itself
// rotated.
func TestResume_RetriedWithOldTokenGetsTheSameSession(t *testing.T) {
	r := newRig(t, 1)
	r.register("bob")
	r.one(Cmd{Op: OpLogin, User: "bob", Device: "d", Node: "n1", Token: []byte("t0"), TTLMS: 600_000, CredGen: 1})
	first := r.one(Cmd{Op: OpResume, User: "bob", Device: "d", Node: "n2", Token: []byte("t0"), NewToken: []byte("t1"), TTLMS: 600_000})
	if first.Status != StatusOK {
		t.Fatalf("resume: %+v", first)
	}
	r.now += 1_000
	retry := r.one(Cmd{Op: OpResume, User: "bob", Device: "d", Node: "n3", Token: []byte("t0"), NewToken: []byte("t1"), TTLMS: 600_000})
	if retry.Status != StatusOK || retry.Epoch != first.Epoch+1 {
		t.Fatalf("retried resume: %+v (first %+v)", retry, first)
	}
	if c := cancelled(t, retry, "session_replaced"); len(c) != 1 || c[0].Node != "n2" || c[0].Epoch != first.Epoch {
		t.Fatalf("the first attempt's location is not cancelled: %+v", retry.Effects)
	}
	for _, bad := range []Cmd{
		{Op: OpResume, User: "bob", Device: "d", Node: "n3", Token: []byte("t0"), NewToken: []byte("other"), TTLMS: 600_000}, // another successor
		{Op: OpResume, User: "bob", Device: "e", Node: "n3", Token: []byte("t0"), NewToken: []byte("t1"), TTLMS: 600_000},    // another device
	} {
		if res := r.one(bad); res.Status != StatusNotFound {
			t.Fatalf("%s/%s→%s granted: %+v", bad.Device, bad.Token, bad.NewToken, res)
		}
	}
	// Past the window the old token is dead.
	r.now += ResumeRetryWindowMS
	if res := r.one(Cmd{Op: OpResume, User: "bob", Device: "d", Node: "n3", Token: []byte("t0"), NewToken: []byte("t1"), TTLMS: 600_000}); res.Status != StatusNotFound {
		t.Fatalf("retry after the window: %+v", res)
	}
	// Once the successor rotated on, the old token predicts nothing.
	r2 := newRig(t, 1)
	r2.register("bob")
	r2.one(Cmd{Op: OpLogin, User: "bob", Device: "d", Node: "n1", Token: []byte("t0"), TTLMS: 600_000, CredGen: 1})
	r2.one(Cmd{Op: OpResume, User: "bob", Device: "d", Node: "n2", Token: []byte("t0"), NewToken: []byte("t1"), TTLMS: 600_000})
	r2.one(Cmd{Op: OpResume, User: "bob", Device: "d", Node: "n2", Token: []byte("t1"), NewToken: []byte("t2"), TTLMS: 600_000})
	if res := r2.one(Cmd{Op: OpResume, User: "bob", Device: "d", Node: "n3", Token: []byte("t0"), NewToken: []byte("t1"), TTLMS: 600_000}); res.Status != StatusNotFound {
		t.Fatalf("replay of a token two rotations old: %+v", res)
	}
}

// TestResume_StaleAttemptCannotTakeTheDevice: the client gave up a
// resume at n2 (received there at 1000) and resumed at n3 (at 2000),
// which committed first; n2's router then gets its attempt through. It
// is stale: it attaches nothing and cancels nothing, so the client's
// session at n3 stays (the 10-minute sim: six sessions ended with
// session_replaced that no login replaced). A later retry of the client
// (at 3000) is still granted, and an attempt without a time (an older
// VLR) is granted as before.
func TestResume_StaleAttemptCannotTakeTheDevice(t *testing.T) {
	r := newRig(t, 1)
	r.register("bob")
	r.one(Cmd{Op: OpLogin, User: "bob", Device: "d", Node: "n1", Token: []byte("t0"), TTLMS: 600_000, CredGen: 1})
	resume := func(node string, try int64) Result {
		return r.one(Cmd{Op: OpResume, User: "bob", Device: "d", Node: node, Token: []byte("t0"), NewToken: []byte("t1"), TTLMS: 600_000, TryMS: try})
	}
	live := resume("n3", 2000)
	if live.Status != StatusOK {
		t.Fatalf("resume at n3: %+v", live)
	}
	if ghost := resume("n2", 1000); ghost.Status != StatusStale || len(ghost.Effects) != 0 {
		t.Fatalf("the older attempt at n2: %+v", ghost)
	}
	later := resume("n4", 3000)
	if later.Status != StatusOK || later.Epoch != live.Epoch+1 {
		t.Fatalf("the client's later retry at n4: %+v (n3's %+v)", later, live)
	}
	if c := cancelled(t, later, "session_replaced"); len(c) != 1 || c[0].Node != "n3" || c[0].Epoch != live.Epoch {
		t.Fatalf("the later retry cancels %+v, want n3 at epoch %d: the stale attempt moved the device", later.Effects, live.Epoch)
	}
	// n3's attempt retried again is now the older one.
	if again := resume("n3", 2000); again.Status != StatusStale {
		t.Fatalf("n3's attempt after n4's: %+v", again)
	}
	if unordered := resume("n5", 0); unordered.Status != StatusOK {
		t.Fatalf("an attempt without a time: %+v", unordered)
	}
}
