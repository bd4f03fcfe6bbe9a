package hlr

import (
	"reflect"
	"testing"
)

// TestApply_EffectsAreDecidedInTheCore: the apply functions decide the
// leader's effects as values — a send to attached devices is a
// DeliverEffect with exactly those locations and the committed message
// (none for a duplicate, none when no device is attached), a friend
// request is a FriendEffect for the target's attached devices naming the
// asker, and Cancel Location carries the reason of the command that
// caused it.
func TestApply_EffectsAreDecidedInTheCore(t *testing.T) {
	r := newRig(t, 1)
	r.register("ann", "bob")
	send := Cmd{Op: OpSend, User: "bob", Peer: "ann", Device: "d", CMID: 1, Body: []byte("hi"), TTLMS: 60_000}

	// No device attached: a friend request and nothing to deliver.
	if res := r.one(Cmd{Op: OpFriendRequest, User: "bob", Peer: "ann"}); len(res.Effects) != 0 {
		t.Fatalf("friend request to a user with no device: effects %+v", res.Effects)
	}
	r.one(Cmd{Op: OpFriendSent, User: "ann", Peer: "bob"})
	r.one(Cmd{Op: OpFriendAccept, User: "bob", Peer: "ann"})
	r.one(Cmd{Op: OpFriendConfirm, User: "ann", Peer: "bob"})
	if res := r.one(send); res.Status != StatusOK || len(res.Effects) != 0 {
		t.Fatalf("send to a user with no device: %+v", res)
	}

	a := r.one(loginCmd("bob", "phone", "n1", "t1", 0))
	b := r.one(loginCmd("bob", "tab", "n2", "t2", 0))
	locs := []Location{{Device: "phone", Node: "n1", Epoch: a.Epoch}, {Device: "tab", Node: "n2", Epoch: b.Epoch}}
	send.CMID = 2
	res := r.one(send)
	want := []Effect{DeliverEffect{User: "bob", Locs: locs, Msg: delivery(res).Msg}}
	if !reflect.DeepEqual(res.Effects, want) {
		t.Fatalf("send effects %+v, want %+v", res.Effects, want)
	}
	if m := delivery(res).Msg; m.Seq != res.Seq || m.ID != res.MsgID || string(m.Body) != "hi" || m.From != "ann" {
		t.Fatalf("delivered message %+v for %+v", m, res)
	}
	if dup := r.one(send); !dup.Dup || len(dup.Effects) != 0 {
		t.Fatalf("duplicate send: %+v", dup)
	}

	r.one(Cmd{Op: OpFriendRemove, User: "bob", Peer: "ann"})
	res = r.one(Cmd{Op: OpFriendRequest, User: "bob", Peer: "ann"})
	if want := []Effect{FriendEffect{User: "bob", Locs: locs, Event: "request", Peer: "ann"}}; !reflect.DeepEqual(res.Effects, want) {
		t.Fatalf("friend request effects %+v, want %+v", res.Effects, want)
	}

	res = r.one(Cmd{Op: OpSetCreds, User: "bob", Device: "phone", Token: []byte("t1"), Creds: creds(7)})
	if want := []Effect{CancelEffect{User: "bob", Loc: locs[1], Reason: "password_changed"}}; !reflect.DeepEqual(res.Effects, want) {
		t.Fatalf("password change effects %+v, want %+v", res.Effects, want)
	}
	res = r.one(Cmd{Op: OpDeleteAccount, User: "bob"})
	if want := []Effect{CancelEffect{User: "bob", Loc: locs[0], Reason: "account_deleted"}}; !reflect.DeepEqual(res.Effects, want) {
		t.Fatalf("deletion effects %+v, want %+v", res.Effects, want)
	}
}
