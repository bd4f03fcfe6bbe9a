package e2e

import (
	"testing"
	"time"

	"github.com/roamhq/roam/wire"
)

// TestRefusedLogoutAndDeletion_NoGoodbye: a logout or delete_account that
// is refused (before login; a deletion without a recent password login)
// gets its error and nothing else: no goodbye, and the connection stays
// open. A client that believed a goodbye "account deleted" after
// not_logged_in would forget an account that still exists.
func TestRefusedLogoutAndDeletion_NoGoodbye(t *testing.T) {
	p := startRoamd(t, t.TempDir())
	signup(t, p.client, "alice")

	r, _ := hello(t, p.client)
	r.callErr(wire.TLogout, &wire.Empty{}, wire.CodeNotLoggedIn)
	r.callErr(wire.TDeleteAccount, &wire.Empty{}, wire.CodeNotLoggedIn)
	expectOpenAndQuiet(t, r)

	// Logged in by resume: deletion needs a recent password login.
	a := loginAs(t, p.client, "alice", "phone")
	a.nc.Close()
	b, _ := hello(t, p.client)
	var ok wire.LoginOK
	b.call(wire.TResume, &wire.Resume{User: "alice", Device: "phone", Token: a.ok.Token}, wire.TLoginOK, &ok)
	b.callErr(wire.TDeleteAccount, &wire.Empty{}, wire.CodeReauth)
	expectOpenAndQuiet(t, b)
	var who wire.WhoamiReply
	b.call(wire.TWhoami, &wire.Empty{}, wire.TWhoamiReply, &who)
	if who.User != "alice" {
		t.Fatalf("whoami after the refused deletion: %+v", who)
	}
}

// expectOpenAndQuiet checks that nothing (no goodbye) arrives and that the
// connection still answers a ping.
func expectOpenAndQuiet(t *testing.T, r *raw) {
	t.Helper()
	if f, err := r.readErr(300 * time.Millisecond); err == nil {
		t.Fatalf("unexpected %s frame (%s) after a refusal", f.Type, describe(f))
	}
	var pong wire.Pong
	r.call(wire.TPing, &wire.Empty{}, wire.TPong, &pong)
}
