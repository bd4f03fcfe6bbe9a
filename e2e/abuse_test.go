package e2e

import (
	"bytes"
	"net"
	"reflect"
	"testing"
	"time"

	"github.com/roamhq/roam/wire"
)

// Abuse limits, existence oracles and the per-user bounds of the home
// register, tried against a spawned roamd over TCP as an attacker would.

// helloFrom dials addr from the local address from and completes the
// handshake.
func helloFrom(t *testing.T, addr string, from *net.TCPAddr) *raw {
	t.Helper()
	r := dialRawFrom(t, addr, from)
	var w wire.Welcome
	r.call(wire.THello, &wire.Hello{Proto: wire.Magic, Version: wire.Version, Client: "e2e"}, wire.TWelcome, &w)
	return r
}

// resumeFrom resumes (user, device) with token on a fresh connection from
// the local address from and returns the reply frame.
func resumeFrom(t *testing.T, addr string, from *net.TCPAddr, user, device string, token []byte) (*raw, wire.Frame) {
	t.Helper()
	r := helloFrom(t, addr, from)
	return r, r.reply(r.send(wire.TResume, &wire.Resume{User: user, Device: device, Token: token}))
}

// wantCode checks that f is an error with code; for rate_limited it also
// wants a retry_after_ms.
func wantCode(t *testing.T, what string, f wire.Frame, code wire.Code) {
	t.Helper()
	if f.Type != wire.TError {
		t.Fatalf("%s: got %s, want error %s", what, f.Type, code.Name())
	}
	var e wire.Error
	if err := wire.Decode(f.Body, &e); err != nil {
		t.Fatal(err)
	}
	if e.Code != code {
		t.Fatalf("%s: got %s (%q), want %s", what, e.Code.Name(), e.Message, code.Name())
	}
	if code == wire.CodeRateLimited && e.RetryAfterMS == 0 {
		t.Fatalf("%s: rate_limited without retry_after_ms", what)
	}
}

func loginOK(t *testing.T, what string, f wire.Frame) wire.LoginOK {
	t.Helper()
	if f.Type != wire.TLoginOK {
		t.Fatalf("%s: got %s (%s), want login_ok", what, f.Type, describe(f))
	}
	var ok wire.LoginOK
	if err := wire.Decode(f.Body, &ok); err != nil {
		t.Fatal(err)
	}
	return ok
}

// friendList polls the caller's friend list until cond holds.
func (u *user) friendListUntil(cond func(wire.Friends) bool) wire.Friends {
	u.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var fl wire.Friends
		u.call(wire.TFriendList, &wire.Empty{}, wire.TFriends, &fl)
		if cond(fl) {
			return fl
		}
		if time.Now().After(deadline) {
			u.t.Fatalf("%s: friend list %+v never became as expected", u.name, fl)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestLockout_DoesNotBlockValidResume: five wrong passwords for a made-up
// name lock the address (and the name) out of password logins, but another
// user behind that address resumes with a valid token; so does the owner
// of a name a stranger locked with wrong passwords.
func TestLockout_DoesNotBlockValidResume(t *testing.T) {
	p := startRoamd(t, t.TempDir())
	signup(t, p.client, "bob")
	bob := loginAs(t, p.client, "bob", "phone")
	bob.nc.Close()

	nat := sourceAddr() // one address shared by the attacker and bob
	lockOut(t, p.client, nat, "madeup")
	_, f := resumeFrom(t, p.client, nat, "bob", "phone", bob.ok.Token)
	ok := loginOK(t, "resume from the locked address", f)

	// A stranger locks the name "bob" with wrong passwords from elsewhere:
	// bob's device still resumes.
	lockOut(t, p.client, sourceAddr(), "bob")
	_, f = resumeFrom(t, p.client, nat, "bob", "phone", ok.Token)
	loginOK(t, "resume of the locked name", f)
}

// lockOut tries wrong passwords for name from the address from until
// password logins are refused with rate_limited (five failures, by
// default), so that the lockout is known to be on right after.
func lockOut(t *testing.T, addr string, from *net.TCPAddr, name string) {
	t.Helper()
	for i := 0; i < 12; i++ {
		_, code := helloFrom(t, addr, from).tryLogin(name, "wrong", "d")
		switch code {
		case wire.CodeRateLimited:
			if i < 5 {
				t.Fatalf("locked out after %d failures", i)
			}
			return
		case wire.CodeAuthFailed:
		default:
			t.Fatalf("wrong password %d: %s", i, code.Name())
		}
	}
	t.Fatal("wrong passwords never locked the address out")
}

// TestFriendRequest_MissingUserLooksLikeExisting: friend requests to an
// existing user, to a missing one and to one who blocked the asker get
// byte-identical replies, and the asker's friend list shows all three the
// same way: as outgoing requests not answered yet.
func TestFriendRequest_MissingUserLooksLikeExisting(t *testing.T) {
	p := startRoamd(t, t.TempDir())
	for _, n := range []string{"alice", "bob", "carol"} {
		signup(t, p.client, n)
	}
	a := loginAs(t, p.client, "alice", "d")
	b := loginAs(t, p.client, "bob", "d")
	c := loginAs(t, p.client, "carol", "d")
	c.call(wire.TBlock, &wire.Peer{User: "alice"}, wire.TOK, nil)

	var replies []wire.Frame
	for _, peer := range []string{"bob", "ghost", "carol"} {
		f := a.reply(a.send(wire.TFriendRequest, &wire.Peer{User: peer}))
		replies = append(replies, f)
	}
	for i, f := range replies {
		if f.Type != wire.TOK || f.Type != replies[0].Type || !bytes.Equal(f.Body, replies[0].Body) {
			t.Fatalf("reply %d: %s %x (%s); reply 0: %s %x", i, f.Type, f.Body, describe(f), replies[0].Type, replies[0].Body)
		}
	}
	fl := a.friendListUntil(func(fl wire.Friends) bool { return len(fl.Outgoing) == 3 })
	if want := []string{"bob", "carol", "ghost"}; !reflect.DeepEqual(fl.Outgoing, want) || len(fl.Friends)+len(fl.Incoming)+len(fl.Blocked) != 0 {
		t.Fatalf("alice's friend list %+v, want outgoing %v and nothing else", fl, want)
	}
	b.expectFriendEvent("request", "alice")
	c.noPush(wire.TFriendEvent, 300*time.Millisecond)
	var cl wire.Friends
	c.call(wire.TFriendList, &wire.Empty{}, wire.TFriends, &cl)
	if len(cl.Incoming) != 0 || !reflect.DeepEqual(cl.Blocked, []string{"alice"}) {
		t.Fatalf("the blocker's list %+v", cl)
	}
}

// TestBlock_MissingNameCreatesNoState: blocking (and then unblocking) a
// name that has no account answers byte for byte as for an existing user
// but stores nothing: the block list shows only the existing one.
func TestBlock_MissingNameCreatesNoState(t *testing.T) {
	p := startRoamd(t, t.TempDir())
	signup(t, p.client, "alice")
	signup(t, p.client, "bob")
	a := loginAs(t, p.client, "alice", "d")
	for _, op := range []wire.Type{wire.TBlock, wire.TUnblock} {
		existing := a.reply(a.send(op, &wire.Peer{User: "bob"}))
		missing := a.reply(a.send(op, &wire.Peer{User: "ghost"}))
		if existing.Type != wire.TOK || existing.Type != missing.Type || !bytes.Equal(existing.Body, missing.Body) {
			t.Fatalf("%s: existing %s %x, missing %s %x", op, existing.Type, existing.Body, missing.Type, missing.Body)
		}
		var fl wire.Friends
		a.call(wire.TFriendList, &wire.Empty{}, wire.TFriends, &fl)
		want := []string{"bob"} // nothing was stored for ghost
		if op == wire.TUnblock {
			want = []string{}
		}
		if !reflect.DeepEqual(fl.Blocked, want) {
			t.Fatalf("after %s: blocked %v, want %v", op, fl.Blocked, want)
		}
	}
}

// TestLimits_Logins: successful password logins are limited per user;
// wrong passwords do not use up the owner's budget.
func TestLimits_Logins(t *testing.T) {
	p := startRoamdWith(t, `{"login_burst": 2, "login_rate": 0.001}`)
	signup(t, p.client, "alice")
	for i := 0; i < 3; i++ { // a stranger's wrong passwords (below the lockout)
		r, _ := hello(t, p.client)
		if _, code := r.tryLogin("alice", "wrong", "d"); code != wire.CodeAuthFailed {
			t.Fatalf("wrong password: %s", code.Name())
		}
	}
	for _, dev := range []string{"d1", "d2"} {
		loginAs(t, p.client, "alice", dev)
	}
	r, _ := hello(t, p.client)
	_, code := r.tryLogin("alice", "pw-alice", "d3")
	if code != wire.CodeRateLimited {
		t.Fatalf("third login: %s, want rate_limited", code.Name())
	}
}

// TestLimits_Resumes: successful resumes are limited per user (a
// stranger's made-up tokens do not use up the budget), and failed resumes
// lock their address out of resumes, not of password logins.
func TestLimits_Resumes(t *testing.T) {
	p := startRoamdWith(t, `{"resume_burst": 2, "resume_rate": 0.001, "resume_failures": 3}`)
	signup(t, p.client, "alice")
	signup(t, p.client, "bob")
	a := loginAs(t, p.client, "alice", "phone")
	a.nc.Close()
	stranger := sourceAddr()
	for i := 0; i < 2; i++ {
		_, f := resumeFrom(t, p.client, stranger, "alice", "phone", bytes.Repeat([]byte{byte(i)}, 16))
		wantCode(t, "a made-up token", f, wire.CodeSessionInvalid)
	}
	token := a.ok.Token
	for i := 0; i < 2; i++ {
		r, f := resumeFrom(t, p.client, sourceAddr(), "alice", "phone", token)
		token = loginOK(t, "resume", f).Token
		r.nc.Close()
	}
	_, f := resumeFrom(t, p.client, sourceAddr(), "alice", "phone", token)
	wantCode(t, "third resume", f, wire.CodeRateLimited)

	// Failed resumes from one address: after three, that address cannot
	// resume (even with a valid token), but can still log in with a
	// password; other addresses resume.
	b := loginAs(t, p.client, "bob", "phone")
	b.nc.Close()
	x := sourceAddr()
	token = b.ok.Token
	for round := 0; ; round++ {
		if round == 5 {
			t.Fatal("a valid resume from the address never came while it was locked")
		}
		locked := false
		for i := 0; i < 10 && !locked; i++ {
			_, f := resumeFrom(t, p.client, x, "bob", "phone", bytes.Repeat([]byte{9}, 16))
			if locked = errCode(t, f) == wire.CodeRateLimited; !locked {
				wantCode(t, "a made-up token", f, wire.CodeSessionInvalid)
			} else if round == 0 && i < 3 {
				t.Fatalf("locked after %d failed resumes", i)
			}
		}
		if !locked {
			t.Fatal("failed resumes never locked the address")
		}
		_, f := resumeFrom(t, p.client, x, "bob", "phone", token)
		if errCode(t, f) == wire.CodeRateLimited {
			break
		}
		// The first lockout lasts a second: on a stalled machine it
		// can run out in between. The token rotated; go again.
		token = loginOK(t, "resume after the lockout ran out", f).Token
	}
	if _, code := helloFrom(t, p.client, x).tryLogin("bob", "pw-bob", "laptop"); code != wire.CodeOK {
		t.Fatalf("password login from that address: %s", code.Name())
	}
	_, f = resumeFrom(t, p.client, sourceAddr(), "bob", "phone", token)
	loginOK(t, "resume from another address", f)
}

// TestLimits_FriendOps: friend requests, accepts, declines and removals
// share one budget per user; blocks have their own.
func TestLimits_FriendOps(t *testing.T) {
	p := startRoamdWith(t, `{"friend_burst": 3, "friend_rate": 0.001}`)
	signup(t, p.client, "alice")
	signup(t, p.client, "bob")
	a := loginAs(t, p.client, "alice", "d")
	a.call(wire.TFriendRequest, &wire.Peer{User: "bob"}, wire.TOK, nil)
	a.call(wire.TFriendRequest, &wire.Peer{User: "carol"}, wire.TOK, nil)
	a.call(wire.TFriendRemove, &wire.Peer{User: "carol"}, wire.TOK, nil)
	for _, op := range []wire.Type{wire.TFriendRequest, wire.TFriendAccept, wire.TFriendDecline, wire.TFriendRemove} {
		e := a.callErr(op, &wire.Peer{User: "dave"}, wire.CodeRateLimited)
		if e.RetryAfterMS == 0 {
			t.Fatalf("%s: rate_limited without retry_after_ms", op)
		}
	}
	a.call(wire.TBlock, &wire.Peer{User: "eve"}, wire.TOK, nil)
	// Another user's budget is their own.
	b := loginAs(t, p.client, "bob", "d")
	b.call(wire.TFriendAccept, &wire.Peer{User: "alice"}, wire.TOK, nil)
}

// TestLimits_Blocks: blocks and unblocks share one budget per user, and a
// user can block at most max_blocks users, existing or not, with the same
// answer for both.
func TestLimits_Blocks(t *testing.T) {
	p := startRoamdWith(t, `{"block_burst": 6, "block_rate": 0.001, "max_blocks": 2}`)
	for _, u := range []string{"alice", "bob", "carol", "dave"} {
		signup(t, p.client, u)
	}
	a := loginAs(t, p.client, "alice", "d")
	a.call(wire.TBlock, &wire.Peer{User: "ghost1"}, wire.TOK, nil) // stores nothing, counts nothing
	a.call(wire.TBlock, &wire.Peer{User: "carol"}, wire.TOK, nil)
	a.call(wire.TBlock, &wire.Peer{User: "dave"}, wire.TOK, nil)
	existing := a.callErr(wire.TBlock, &wire.Peer{User: "bob"}, wire.CodeRefused)
	missing := a.callErr(wire.TBlock, &wire.Peer{User: "ghost"}, wire.CodeRefused)
	if existing != missing {
		t.Fatalf("over the bound: existing %+v, missing %+v", existing, missing)
	}
	a.call(wire.TUnblock, &wire.Peer{User: "carol"}, wire.TOK, nil)
	for _, op := range []wire.Type{wire.TBlock, wire.TUnblock} {
		a.callErr(op, &wire.Peer{User: "dave"}, wire.CodeRateLimited)
	}
	a.call(wire.TFriendRequest, &wire.Peer{User: "bob"}, wire.TOK, nil)
}

// TestLimits_ProfileChanges: set_profile, change_password and
// delete_account share one budget per user.
func TestLimits_ProfileChanges(t *testing.T) {
	p := startRoamdWith(t, `{"profile_burst": 2, "profile_rate": 0.001}`)
	r, w := hello(t, p.client)
	r.register("alice", "pw-alice", w.ScramIters)
	r.login("alice", "pw-alice", "d")
	name := "A"
	r.call(wire.TSetProfile, &wire.SetProfile{DisplayName: &name}, wire.TOK, nil)
	r.call(wire.TSetProfile, &wire.SetProfile{DisplayName: &name}, wire.TOK, nil)
	r.callErr(wire.TSetProfile, &wire.SetProfile{DisplayName: &name}, wire.CodeRateLimited)
	r.callErr(wire.TChangePassword, &wire.ChangePassword{Credentials: creds(t, "alice", "new", w.ScramIters)}, wire.CodeRateLimited)
	var prof wire.Profile
	r.call(wire.TGetProfile, &wire.GetProfile{}, wire.TProfile, &prof) // reads are not limited
	// (The server closes the connection after any delete_account reply,
	// a refusal too, so this goes last.)
	r.callErr(wire.TDeleteAccount, &wire.Empty{}, wire.CodeRateLimited)
	if _, code := helloFrom(t, p.client, sourceAddr()).tryLogin("alice", "pw-alice", "d2"); code != wire.CodeOK {
		t.Fatalf("login after the refused deletion: %s", code.Name())
	}
}

// TestDevices_EvictionOverTCP: with max_devices 4, a login from a fifth
// device evicts the detached one (its cursor is gone: it starts again
// from 0); when all are attached, the oldest attached device is evicted:
// its session gets goodbye session_replaced and its token no longer
// resumes. A device that logs in again replaces its old token.
func TestDevices_EvictionOverTCP(t *testing.T) {
	p := startRoamdWith(t, `{"max_devices": 4}`)
	signup(t, p.client, "alice")
	signup(t, p.client, "bob")
	b := loginAs(t, p.client, "bob", "d")
	d1 := loginAs(t, p.client, "alice", "d1")
	befriend(t, b, d1)
	b.sendMsg("alice", 1, "one")
	b.sendMsg("alice", 2, "two")
	d2 := loginAs(t, p.client, "alice", "d2")
	if got := d2.syncAll(0); len(got) != 2 {
		t.Fatalf("d2 synced %d messages", len(got))
	}
	d2.send(wire.TAck, &wire.Ack{Seq: 2})
	d2.call(wire.TLogout, &wire.Empty{}, wire.TOK, nil) // writes d2's cursor, detaches it
	d3 := loginAs(t, p.client, "alice", "d3")
	d4 := loginAs(t, p.client, "alice", "d4")
	_ = d3

	// d5 is the fifth device: d2, the detached one, goes.
	d5 := loginAs(t, p.client, "alice", "d5")
	d1.call(wire.TPing, &wire.Empty{}, wire.TPong, nil) // d1 was not evicted

	// d6: every device is attached; d1, the oldest, is evicted.
	loginAs(t, p.client, "alice", "d6")
	if code := d1.expectClosed(); code != wire.CodeSessionReplaced {
		t.Fatalf("evicted d1 ended with %s, want session_replaced", code.Name())
	}
	_, f := resumeFrom(t, p.client, sourceAddr(), "alice", "d1", d1.ok.Token)
	wantCode(t, "resume of the evicted d1", f, wire.CodeSessionInvalid)

	// d2 comes back: its cursor went with it (it evicts d3, now oldest).
	again := loginAs(t, p.client, "alice", "d2")
	if again.ok.Cursor != 0 {
		t.Fatalf("d2 came back with cursor %d; an evicted device's cursor must be gone", again.ok.Cursor)
	}

	// d5 logs in again elsewhere: its old token stops resuming.
	old := d5.ok.Token
	loginAs(t, p.client, "alice", "d5")
	_, f = resumeFrom(t, p.client, sourceAddr(), "alice", "d5", old)
	wantCode(t, "resume with the token a newer login of the device replaced", f, wire.CodeSessionInvalid)
	d4.call(wire.TPing, &wire.Empty{}, wire.TPong, nil)
}
