package e2e

import (
	"bytes"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/xdg-go/scram"

	"github.com/roamhq/roam/wire"
)

// TestAccountLifecycle walks register, login, whoami, resume, profile,
// password change and deletion against a spawned roamd over TCP.
func TestAccountLifecycle(t *testing.T) {
	p := startRoamd(t, t.TempDir())
	a, w := hello(t, p.client)
	if w.ScramIters < 4096 || w.Node == "" || w.HeartbeatMS == 0 {
		t.Fatalf("welcome lacks settings: %+v", w)
	}
	// Before login, only register and login work.
	a.callErr(wire.TWhoami, &wire.Empty{}, wire.CodeNotLoggedIn)
	a.callErr(wire.TSend, &wire.Send{To: "bob", CMID: 1, Body: []byte("x")}, wire.CodeNotLoggedIn)

	a.register("Alice", "correct horse", w.ScramIters)
	a.callErr(wire.TRegister, &wire.Register{User: "alice", Credentials: creds(t, "alice", "x", w.ScramIters)}, wire.CodeNameTaken)
	a.callErr(wire.TRegister, &wire.Register{User: "a!", Credentials: creds(t, "a!", "x", w.ScramIters)}, wire.CodeBadName)
	weak := creds(t, "carol", "x", w.ScramIters)
	weak.Iters = 1000
	a.callErr(wire.TRegister, &wire.Register{User: "carol", Credentials: weak}, wire.CodeBadRequest)

	// Wrong password and unknown user fail the same way, at the same step.
	if _, code := a.tryLogin("alice", "wrong", "phone"); code != wire.CodeAuthFailed {
		t.Fatalf("wrong password: %s", code.Name())
	}
	if _, code := a.tryLogin("nobody", "wrong", "phone"); code != wire.CodeAuthFailed {
		t.Fatalf("unknown user: %s", code.Name())
	}
	ok := a.login("ALICE", "correct horse", "phone")
	if ok.User != "alice" || len(ok.Token) != 16 || ok.HeartbeatMS == 0 {
		t.Fatalf("login ok: %+v", ok)
	}
	var who wire.WhoamiReply
	a.call(wire.TWhoami, &wire.Empty{}, wire.TWhoamiReply, &who)
	if who.User != "alice" || who.Device != "phone" || who.Auth != "scram" {
		t.Fatalf("whoami: %+v", who)
	}

	// Resume on a second connection rotates the token.
	b, _ := hello(t, p.client)
	var res wire.LoginOK
	b.call(wire.TResume, &wire.Resume{User: "alice", Device: "phone", Token: ok.Token}, wire.TLoginOK, &res)
	if bytes.Equal(res.Token, ok.Token) || len(res.Token) != 16 {
		t.Fatalf("resume did not rotate the token")
	}
	// The same device resuming elsewhere cancels the first session.
	if code := a.expectClosed(); code != wire.CodeSessionReplaced {
		t.Fatalf("old session of the device ended with %s, want session_replaced", code.Name())
	}
	b.call(wire.TWhoami, &wire.Empty{}, wire.TWhoamiReply, &who)
	if who.Auth != "resume" {
		t.Fatalf("whoami after resume: %+v", who)
	}
	// The old token answers as a retry of that resume for two minutes
	// (PROTOCOL.md §5.3), until the rotated one is used to resume; from
	// then on it is refused.
	b.nc.Close()
	b, _ = hello(t, p.client)
	var res2 wire.LoginOK
	b.call(wire.TResume, &wire.Resume{User: "alice", Device: "phone", Token: res.Token}, wire.TLoginOK, &res2)
	c, _ := hello(t, p.client)
	c.callErr(wire.TResume, &wire.Resume{User: "alice", Device: "phone", Token: ok.Token}, wire.CodeSessionInvalid)

	// Profile.
	name, about := "Alice A.", "hello"
	b.call(wire.TSetProfile, &wire.SetProfile{DisplayName: &name, About: &about}, wire.TOK, nil)
	var prof wire.Profile
	b.call(wire.TGetProfile, &wire.GetProfile{}, wire.TProfile, &prof)
	if prof.User != "alice" || prof.DisplayName != name || prof.About != about {
		t.Fatalf("profile: %+v", prof)
	}
	// A resumed session may not change the password.
	b.callErr(wire.TChangePassword, &wire.ChangePassword{Credentials: creds(t, "alice", "new pass", w.ScramIters)}, wire.CodeReauth)

	// Password change from a fresh password login ends the other session.
	d, _ := hello(t, p.client)
	d.login("alice", "correct horse", "laptop")
	d.call(wire.TChangePassword, &wire.ChangePassword{Credentials: creds(t, "alice", "new pass", w.ScramIters)}, wire.TOK, nil)
	if code := b.expectClosed(); code != wire.CodePasswordChanged {
		t.Fatalf("other session ended with %s, want password_changed", code.Name())
	}
	e, _ := hello(t, p.client)
	if _, code := e.tryLogin("alice", "correct horse", "tablet"); code != wire.CodeAuthFailed {
		t.Fatalf("old password after change: %s", code.Name())
	}
	e.login("alice", "new pass", "tablet")
	e.call(wire.TWhoami, &wire.Empty{}, wire.TWhoamiReply, nil)

	// Deletion.
	e.call(wire.TDeleteAccount, &wire.Empty{}, wire.TOK, nil)
	if code := e.expectClosed(); code != wire.CodeAccountDeleted {
		t.Fatalf("delete ended the session with %s", code.Name())
	}
	f, _ := hello(t, p.client)
	if _, code := f.tryLogin("alice", "new pass", "tablet"); code != wire.CodeAuthFailed {
		t.Fatalf("login after delete: %s", code.Name())
	}
	// The name is free again.
	f.register("alice", "again", w.ScramIters)

	// Logout ends the session; the token is gone.
	g, _ := hello(t, p.client)
	lok := g.login("alice", "again", "phone")
	g.call(wire.TLogout, &wire.Empty{}, wire.TOK, nil)
	if code := g.expectClosed(); code != wire.CodeLoggedOut {
		t.Fatalf("logout ended with %s", code.Name())
	}
	h, _ := hello(t, p.client)
	h.callErr(wire.TResume, &wire.Resume{User: "alice", Device: "phone", Token: lok.Token}, wire.CodeSessionInvalid)
}

// TestUnknownUserLooksLikeWrongPassword checks that the challenge for an
// unknown user carries a stable salt, like a real account's.
func TestUnknownUserLooksLikeWrongPassword(t *testing.T) {
	p := startRoamd(t, t.TempDir())
	salt := func(user string) string {
		r, _ := hello(t, p.client)
		var ch wire.LoginChallenge
		r.call(wire.TLoginStart, &wire.LoginStart{User: user, Device: "d", ClientFirst: "n,,n=" + user + ",r=abcdefghijklmnop"}, wire.TLoginChallenge, &ch)
		// "r=<nonce>,s=<salt>,i=<iters>"
		parts := bytes.Split([]byte(ch.ServerFirst), []byte(","))
		if len(parts) != 3 || !bytes.HasPrefix(parts[1], []byte("s=")) || string(parts[2]) != "i=4096" {
			t.Fatalf("server-first %q", ch.ServerFirst)
		}
		return string(parts[1])
	}
	if s1, s2 := salt("ghost"), salt("ghost"); s1 != s2 {
		t.Fatalf("fake salt not deterministic: %s vs %s", s1, s2)
	}
	if salt("ghost") == salt("phantom") {
		t.Fatalf("fake salts of different users are equal")
	}
}

// TestBadInput feeds what a careless or hostile client sends; each gets a
// clear error and the node keeps serving.
func TestBadInput(t *testing.T) {
	p := startRoamd(t, t.TempDir())
	stillServing := func() {
		t.Helper()
		r, _ := hello(t, p.client)
		r.callErr(wire.TWhoami, &wire.Empty{}, wire.CodeNotLoggedIn)
	}
	frame := func(typ wire.Type, rid uint32, body []byte) []byte {
		return wire.AppendRaw(nil, typ, rid, body)
	}
	helloFrame, _ := wire.AppendFrame(nil, wire.THello, 1, &wire.Hello{Proto: wire.Magic, Version: wire.Version})

	cases := []struct {
		name  string
		bytes []byte
		codes []wire.Code // acceptable final codes
	}{
		{"garbage", []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), []wire.Code{wire.CodeFrameTooLarge, wire.CodeBadFrame}},
		{"oversized length", []byte{0xff, 0xff, 0xff, 0xff, 1, 0, 0, 0, 1}, []wire.Code{wire.CodeFrameTooLarge}},
		{"length too short", []byte{0, 0, 0, 1, 1}, []wire.Code{wire.CodeBadFrame}},
		{"not hello first", frame(wire.TWhoami, 1, nil), []wire.Code{wire.CodeBadHandshake}},
		{"hello wrong proto", mustFrame(t, wire.THello, 1, &wire.Hello{Proto: "xmpp", Version: 1}), []wire.Code{wire.CodeBadHandshake}},
		{"unknown type", append(append([]byte{}, helloFrame...), frame(200, 2, nil)...), []wire.Code{wire.CodeUnknownType}},
		{"unknown field", append(append([]byte{}, helloFrame...), frame(wire.TRegister, 2, []byte{0x81, 0xa3, 'f', 'o', 'o', 0x01})...), []wire.Code{wire.CodeBadBody}},
		{"msgpack bomb", append(append([]byte{}, helloFrame...), frame(wire.TRegister, 2, []byte{0xdd, 0xff, 0xff, 0xff, 0xff})...), []wire.Code{wire.CodeBadBody}},
		{"bad scram proof", nil, nil}, // handled below
	}
	for _, tc := range cases {
		if tc.bytes == nil {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			r := dialRaw(t, p.client)
			r.write(tc.bytes)
			code := r.expectClosed()
			okCode := false
			for _, c := range tc.codes {
				okCode = okCode || c == code
			}
			if !okCode {
				t.Fatalf("got %s, want one of %v", code.Name(), tc.codes)
			}
			stillServing()
		})
	}

	t.Run("truncated frame", func(t *testing.T) {
		r := dialRaw(t, p.client)
		r.write(helloFrame[:len(helloFrame)-3])
		r.nc.Close()
		stillServing()
	})

	t.Run("overlong scram proof", func(t *testing.T) {
		r, w := hello(t, p.client)
		r.register("proofuser", "pw", w.ScramIters)
		var ch wire.LoginChallenge
		r.call(wire.TLoginStart, &wire.LoginStart{User: "proofuser", Device: "d", ClientFirst: "n,,n=proofuser,r=abcdefghijklmnop"}, wire.TLoginChallenge, &ch)
		nonce := bytes.TrimPrefix(bytes.Split([]byte(ch.ServerFirst), []byte(","))[0], []byte("r="))
		// A 64-byte proof would make the SCRAM library index past its
		// 32-byte signature.
		final := "c=biws,r=" + string(nonce) + ",p=" + "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB"
		r.callErr(wire.TLoginFinish, &wire.LoginFinish{ClientFinal: final}, wire.CodeAuthFailed)
		stillServing()
	})

	// Regression: a client-first message starting with a comma made the
	// SCRAM library index an empty GS2 flag and panic, killing the node.
	t.Run("client_first starting with a comma", func(t *testing.T) {
		r, _ := hello(t, p.client)
		for _, first := range []string{",,n=x,r=y", ",", "n"} {
			r.callErr(wire.TLoginStart, &wire.LoginStart{User: "someone", Device: "d", ClientFirst: first}, wire.CodeBadRequest)
		}
		stillServing()
	})

	t.Run("login finish without start", func(t *testing.T) {
		r, _ := hello(t, p.client)
		r.callErr(wire.TLoginFinish, &wire.LoginFinish{ClientFinal: "c=biws,r=x,p=eA=="}, wire.CodeLoginStep)
	})

	t.Run("registration flood", func(t *testing.T) {
		r, w := hello(t, p.client)
		// Every connection from this address shares the limit.
		src := &net.TCPAddr{IP: r.nc.LocalAddr().(*net.TCPAddr).IP}
		limited := 0
		for i := 0; i < 20; i++ {
			name := "flood" + string(rune('a'+i))
			f := r.reply(r.send(wire.TRegister, &wire.Register{User: name, Credentials: creds(t, name, "pw", w.ScramIters)}))
			if errCode(t, f) == wire.CodeRateLimited {
				var e wire.Error
				wire.Decode(f.Body, &e)
				if e.RetryAfterMS == 0 {
					t.Fatalf("rate_limited without retry_after_ms")
				}
				limited++
			}
		}
		if limited == 0 {
			t.Fatalf("20 registrations from one address were all accepted")
		}
		// A new connection from the same address is still limited.
		r2 := dialRawFrom(t, p.client, src)
		r2.call(wire.THello, &wire.Hello{Proto: wire.Magic, Version: wire.Version}, wire.TWelcome, nil)
		r2.callErr(wire.TRegister, &wire.Register{User: "floodz", Credentials: creds(t, "floodz", "pw", w.ScramIters)}, wire.CodeRateLimited)
		stillServing()
	})

	t.Run("failed logins throttled", func(t *testing.T) {
		r, w := hello(t, p.client)
		r.register("victim", "right", w.ScramIters)
		var last wire.Code
		for i := 0; i < 12 && last != wire.CodeRateLimited; i++ {
			_, last = r.tryLogin("victim", "wrong", "d")
		}
		if last != wire.CodeRateLimited {
			t.Fatalf("repeated wrong passwords never throttled; last %s", last.Name())
		}
	})
}

func mustFrame(t *testing.T, typ wire.Type, rid uint32, body any) []byte {
	t.Helper()
	b, err := wire.AppendFrame(nil, typ, rid, body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestKillNineKeepsAccounts registers accounts, kills roamd with SIGKILL
// and checks every acknowledged registration survives the restart.
func TestKillNineKeepsAccounts(t *testing.T) {
	p := startRoamd(t, t.TempDir())
	r, w := hello(t, p.client)
	// Registrations from one address are rate limited (burst 5).
	names := []string{"kilo", "lima", "mike", "november", "oscar"}
	for _, n := range names {
		r.register(n, "pw-"+n, w.ScramIters)
	}
	p.kill()
	p.restart()
	for _, n := range names {
		c, _ := hello(t, p.client)
		c.login(n, "pw-"+n, "d1")
	}
}

// TestLoginNonceExpires checks that a login challenge older than its
// lifetime is refused with nonce_expired, and that a new login works.
func TestLoginNonceExpires(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "roamd.json")
	if err := os.WriteFile(conf, []byte(`{"nonce_ttl": "300ms"}`), 0o600); err != nil {
		t.Fatal(err)
	}
	p := startRoamd(t, filepath.Join(dir, "data"), "-config", conf)
	r, w := hello(t, p.client)
	r.register("slowpoke", "pw", w.ScramIters)

	cl, err := scram.SHA256.NewClient("slowpoke", "pw", "")
	if err != nil {
		t.Fatal(err)
	}
	conv := cl.NewConversation()
	first, _ := conv.Step("")
	var ch wire.LoginChallenge
	r.call(wire.TLoginStart, &wire.LoginStart{User: "slowpoke", Device: "d", ClientFirst: first}, wire.TLoginChallenge, &ch)
	final, err := conv.Step(ch.ServerFirst)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(400 * time.Millisecond) // past the nonce lifetime: the point of this test
	r.callErr(wire.TLoginFinish, &wire.LoginFinish{ClientFinal: final}, wire.CodeNonceExpired)
	r.login("slowpoke", "pw", "d")
}
