package hlr

import (
	"errors"
	"fmt"
	"testing"

	"github.com/cockroachdb/pebble/vfs"
)

// TestSessionState_Table: every way a session stops being valid gets its
// reason, and a session the records have not caught up with is NotYet.
func TestSessionState_Table(t *testing.T) {
	login := func(r *fsmRig, user, device, node, tok string) Result {
		return r.one(Cmd{Op: OpLogin, User: user, Device: device, Node: node, Token: []byte(tok), TTLMS: 60_000, CredGen: 1})
	}
	cases := []struct {
		name  string
		setup func(r *fsmRig) SessionRef // leaves the state, returns the session asked about
		node  string                     // the node asking
		want  string
	}{
		{"attached here", func(r *fsmRig) SessionRef {
			res := login(r, "bob", "phone", "n1", "t1")
			return SessionRef{User: "bob", Device: "phone", Epoch: res.Epoch, CredGen: res.CredGen}
		}, "n1", ""},
		{"asked by another node", func(r *fsmRig) SessionRef {
			res := login(r, "bob", "phone", "n1", "t1")
			return SessionRef{User: "bob", Device: "phone", Epoch: res.Epoch, CredGen: 1}
		}, "n2", RevokeReplaced},
		{"same device logged in again elsewhere", func(r *fsmRig) SessionRef {
			res := login(r, "bob", "phone", "n1", "t1")
			login(r, "bob", "phone", "n2", "t2")
			return SessionRef{User: "bob", Device: "phone", Epoch: res.Epoch, CredGen: 1}
		}, "n1", RevokeReplaced},
		{"same device logged in again on the same node", func(r *fsmRig) SessionRef {
			res := login(r, "bob", "phone", "n1", "t1")
			login(r, "bob", "phone", "n1", "t2")
			return SessionRef{User: "bob", Device: "phone", Epoch: res.Epoch, CredGen: 1}
		}, "n1", RevokeReplaced},
		{"password changed from another device", func(r *fsmRig) SessionRef {
			res := login(r, "bob", "phone", "n1", "t1")
			login(r, "bob", "laptop", "n2", "t2")
			r.one(Cmd{Op: OpSetCreds, User: "bob", Device: "laptop", Token: []byte("t2"), Creds: creds(9)})
			return SessionRef{User: "bob", Device: "phone", Epoch: res.Epoch, CredGen: 1}
		}, "n1", RevokePasswordChanged},
		{"the device that changed the password stays", func(r *fsmRig) SessionRef {
			res := login(r, "bob", "laptop", "n2", "t2")
			r.one(Cmd{Op: OpSetCreds, User: "bob", Device: "laptop", Token: []byte("t2"), Creds: creds(9)})
			return SessionRef{User: "bob", Device: "laptop", Epoch: res.Epoch, CredGen: 2}
		}, "n2", ""},
		{"account deleted", func(r *fsmRig) SessionRef {
			res := login(r, "bob", "phone", "n1", "t1")
			login(r, "bob", "laptop", "n2", "t2")
			r.one(Cmd{Op: OpDeleteAccount, User: "bob", Device: "laptop"})
			return SessionRef{User: "bob", Device: "phone", Epoch: res.Epoch, CredGen: 1}
		}, "n1", RevokeAccountDeleted},
		{"logged out", func(r *fsmRig) SessionRef {
			res := login(r, "bob", "phone", "n1", "t1")
			r.one(Cmd{Op: OpLogout, User: "bob", Device: "phone", Token: []byte("t1"), Epoch: res.Epoch})
			return SessionRef{User: "bob", Device: "phone", Epoch: res.Epoch, CredGen: 1}
		}, "n1", RevokeLoggedOut},
		{"purged", func(r *fsmRig) SessionRef {
			res := login(r, "bob", "phone", "n1", "t1")
			r.one(Cmd{Op: OpPurge, User: "bob", Device: "phone", Epoch: res.Epoch})
			return SessionRef{User: "bob", Device: "phone", Epoch: res.Epoch}
		}, "n1", RevokeLoggedOut},
		{"no record of the device", func(r *fsmRig) SessionRef {
			return SessionRef{User: "bob", Device: "ghost", Epoch: 3, CredGen: 1}
		}, "n1", RevokeReplaced},
		{"records behind the session", func(r *fsmRig) SessionRef {
			res := login(r, "bob", "phone", "n1", "t1")
			return SessionRef{User: "bob", Device: "phone", Epoch: res.Epoch + 1, CredGen: 1}
		}, "n1", NotYet},
		{"no such account", func(r *fsmRig) SessionRef {
			return SessionRef{User: "nobody", Device: "phone", Epoch: 1}
		}, "n1", RevokeAccountDeleted},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, 1)
			r.register("bob")
			ref := tc.setup(r)
			v := r.view()
			got, err := v.SessionState(tc.node, ref)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Fatalf("SessionState(%s, %+v) = %q, want %q", tc.node, ref, got, tc.want)
			}
		})
	}
}

// TestHeads_ListsInboxesWithMessages: Heads reports every inbox that holds
// messages with its last sequence number, and nothing for users without.
func TestHeads_ListsInboxesWithMessages(t *testing.T) {
	r := newRig(t, 1)
	r.register("alice", "bob", "carol")
	r.befriend("alice", "bob")
	r.befriend("alice", "carol")
	for i := uint64(1); i <= 3; i++ {
		r.one(Cmd{Op: OpSend, User: "bob", Peer: "alice", Device: "d", CMID: i, Body: []byte("x"), TTLMS: 60_000})
	}
	r.one(Cmd{Op: OpSend, User: "carol", Peer: "alice", Device: "d", CMID: 9, Body: []byte("y"), TTLMS: 60_000})
	v := r.view()
	got := map[string]uint64{}
	if err := v.Heads(func(u string, h uint64) bool { got[u] = h; return true }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got["bob"] != 3 || got["carol"] != 1 {
		t.Fatalf("heads: %v", got)
	}
}

// BenchmarkSessionState is the leader's cost per session of a lease
// renewal (QueryValidate asks it for every session listed): the device's
// location record, read from a view.
func BenchmarkSessionState(b *testing.B) {
	r := newRig(b, 1)
	const users = 1000
	refs := make([]SessionRef, users)
	for i := range refs {
		u := fmt.Sprintf("user%04d", i)
		r.register(u)
		res := r.one(Cmd{Op: OpLogin, User: u, Device: "phone", Node: "n1", Token: []byte("t" + u), TTLMS: 60_000, CredGen: 1})
		refs[i] = SessionRef{User: u, Device: "phone", Epoch: res.Epoch, CredGen: 1}
	}
	v := r.view()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if s, err := v.SessionState("n1", refs[i%users]); err != nil || s != "" {
			b.Fatalf("%q %v", s, err)
		}
	}
}

// TestQuery_SessionBoundReadsAndValidate: at a real partition leader, a
// session-bound read is answered while the session is valid and refused
// with the reason once it is not, and QueryValidate judges many sessions
// in one read.
func TestQuery_SessionBoundReadsAndValidate(t *testing.T) {
	n := newTestNode(t, "a", vfs.NewMem())
	n.start()
	p := n.open(testPID, n.self())
	waitLeader(t, p)
	ctx := ctxT(t)
	for _, u := range []string{"bob", "cat"} {
		if res, err := p.Exec(ctx, Cmd{Op: OpRegister, User: u, Creds: creds(1)}); err != nil || res.Status != StatusOK {
			t.Fatalf("register %s: %v %v", u, res.Status, err)
		}
	}
	login := func(user, node string) Result {
		res, err := p.Exec(ctx, Cmd{Op: OpLogin, User: user, Device: "phone", Node: node, Token: []byte(user + node), TTLMS: 60_000, CredGen: 1})
		if err != nil || res.Status != StatusOK {
			t.Fatalf("login: %v %v", res.Status, err)
		}
		return res
	}
	first := login("bob", "n1")
	cat := login("cat", "n1")
	q := Query{Kind: QueryCursor, User: "bob", Device: "phone", Node: "n1", Epoch: first.Epoch, CredGen: 1}
	if a, err := p.Query(ctx, q); err != nil || a.Revoked != "" {
		t.Fatalf("valid session's read: %+v %v", a, err)
	}
	login("bob", "n2")
	if a, err := p.Query(ctx, q); err != nil || a.Revoked != RevokeReplaced {
		t.Fatalf("replaced session's read: %+v %v", a, err)
	}
	inbox := Query{Kind: QueryInbox, User: "bob", Device: "phone", Node: "n1", Epoch: first.Epoch, Linear: true}
	if a, err := p.Query(ctx, inbox); err != nil || a.Revoked != RevokeReplaced || a.Inbox != nil {
		t.Fatalf("replaced session's inbox read: %+v %v", a, err)
	}
	v := Query{Kind: QueryValidate, User: "bob", Node: "n1", Sessions: []SessionRef{
		{User: "bob", Device: "phone", Epoch: first.Epoch, CredGen: 1},
		{User: "cat", Device: "phone", Epoch: cat.Epoch, CredGen: 1},
		{User: "dan", Device: "phone", Epoch: 1},
	}}
	a, err := p.Query(ctx, v)
	if err != nil || len(a.Reasons) != 3 || a.Reasons[0] != RevokeReplaced || a.Reasons[1] != "" || a.Reasons[2] != RevokeAccountDeleted {
		t.Fatalf("validate: %+v %v", a, err)
	}
	v.Sessions = make([]SessionRef, MaxValidate+1)
	if _, err := p.Query(ctx, v); !errors.Is(err, ErrBadEntry) {
		t.Fatalf("an oversized validate: %v", err)
	}
}
