package client

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/roamhq/roam/internal/roamdproc"
	"github.com/roamhq/roam/node"
	"github.com/roamhq/roam/wire"
)

// End-to-end tests against a real one-node cluster started with node.New
// (the same function cmd/roamd calls).

// startNode starts a one-node cluster with 4 partitions on random ports.
func startNode(t *testing.T) *node.Node {
	t.Helper()
	return startNodeWith(t, nil)
}

// startNodeWith is startNode with configure, if set, adjusting the
// node's config before it starts.
func startNodeWith(t *testing.T, configure func(*node.Config)) *node.Node {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a real node")
	}
	cfg := node.DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.ClientAddr = "127.0.0.1:0"
	cfg.InternalAddr = "127.0.0.1:0"
	cfg.GossipAddr = "127.0.0.1:0"
	cfg.Partitions = 4
	// Every test user registers from 127.0.0.1.
	cfg.VLR.RegisterBurst = 1000
	cfg.VLR.LoginFailures = 1000
	cfg.Logger = roamdproc.TestLogger(t, slog.LevelWarn)
	if configure != nil {
		configure(&cfg)
	}
	n, err := node.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := n.Shutdown(); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := n.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	return n
}

func e2eClient(t *testing.T, n *node.Node, device string) *Client {
	t.Helper()
	cfg := testConfig(t, n.ClientAddr())
	cfg.Device = device
	cfg.RequestTimeout = 10 * time.Second
	return dialT(t, cfg)
}

func TestE2E_Accounts(t *testing.T) {
	n := startNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	// Before login.
	c := e2eClient(t, n, "dev-a")
	if _, err := c.Whoami(ctx); !errors.Is(err, ErrNotLoggedIn) {
		t.Fatalf("whoami before login: %v, want not_logged_in", err)
	}
	if _, err := c.Send(ctx, "bob", []byte("x")); !errors.Is(err, ErrNotLoggedIn) {
		t.Fatalf("send before login: %v, want not_logged_in", err)
	}

	// Register and log in.
	if err := c.Register(ctx, "Alice", "old-password"); err != nil {
		t.Fatalf("register: %v", err)
	}
	if err := c.Register(ctx, "alice", "other"); !errors.Is(err, ErrNameTaken) {
		t.Fatalf("register again: %v, want name_taken", err)
	}
	if err := c.Login(ctx, "alice", "wrong"); !errors.Is(err, ErrAuthFailed) {
		t.Fatalf("login with a wrong password: %v, want auth_failed", err)
	}
	if err := c.Login(ctx, "ALICE", "old-password"); err != nil {
		t.Fatalf("login: %v", err)
	}
	w, err := c.Whoami(ctx)
	if err != nil {
		t.Fatalf("whoami: %v", err)
	}
	if w.User != "alice" || w.Device != "dev-a" || w.Auth != "scram" || w.Node != n.ID() {
		t.Fatalf("whoami = %+v", w)
	}
	tok1 := c.Token()
	if len(tok1) != 16 {
		t.Fatalf("token %x", tok1)
	}
	c.Close()

	// Resume rotates the token; the old one is refused.
	c = e2eClient(t, n, "dev-a")
	if err := c.Resume(ctx, "alice", tok1); err != nil {
		t.Fatalf("resume: %v", err)
	}
	tok2 := c.Token()
	if len(tok2) != 16 || bytes.Equal(tok1, tok2) {
		t.Fatalf("resume did not rotate the token: %x → %x", tok1, tok2)
	}
	if w, err := c.Whoami(ctx); err != nil || w.Auth != "resume" || w.User != "alice" {
		t.Fatalf("whoami after resume = %+v, %v", w, err)
	}
	// For two minutes the old token still answers as a retry of that
	// resume would (the same tok2, PROTOCOL.md §5.3), until tok2 has
	// itself been used to resume: then the old one is refused.
	c.Close()
	c = e2eClient(t, n, "dev-a")
	if err := c.Resume(ctx, "alice", tok2); err != nil {
		t.Fatalf("resume with the rotated token: %v", err)
	}
	stale := e2eClient(t, n, "dev-a")
	if err := stale.Resume(ctx, "alice", tok1); !errors.Is(err, ErrSessionInvalid) {
		t.Fatalf("resume with the old token: %v, want session_invalid", err)
	}
	stale.Close()

	// Profile.
	name, about := "Alice A.", "likes tea"
	if err := c.SetProfile(ctx, ProfileUpdate{DisplayName: &name, About: &about}); err != nil {
		t.Fatalf("set profile: %v", err)
	}
	p, err := c.Profile(ctx, "")
	if err != nil {
		t.Fatalf("profile: %v", err)
	}
	if p.User != "alice" || p.DisplayName != name || p.About != about || p.Created.IsZero() {
		t.Fatalf("profile = %+v", p)
	}
	name2 := "Alice"
	if err := c.SetProfile(ctx, ProfileUpdate{DisplayName: &name2}); err != nil {
		t.Fatalf("set profile: %v", err)
	}
	if p, err := c.Profile(ctx, "alice"); err != nil || p.DisplayName != name2 || p.About != about {
		t.Fatalf("profile after a partial update = %+v, %v", p, err)
	}

	// Change the password while another device is logged in.
	other := e2eClient(t, n, "dev-b")
	if err := other.Login(ctx, "alice", "old-password"); err != nil {
		t.Fatalf("login on the second device: %v", err)
	}
	if err := c.ChangePassword(ctx, "old-password", "new-password"); err != nil {
		t.Fatalf("change password: %v", err)
	}
	ev := nextEventTimeout(t, other, 10*time.Second, EventSessionEnded)
	if CodeOf(ev.Err) != wire.CodePasswordChanged {
		t.Fatalf("the other session ended with %v, want password_changed", ev.Err)
	}
	if _, err := c.Whoami(ctx); err != nil {
		t.Fatalf("the changing session should go on: %v", err)
	}
	fresh := e2eClient(t, n, "dev-c")
	if err := fresh.Login(ctx, "alice", "old-password"); !errors.Is(err, ErrAuthFailed) {
		t.Fatalf("login with the old password: %v, want auth_failed", err)
	}
	if err := fresh.Login(ctx, "alice", "new-password"); err != nil {
		t.Fatalf("login with the new password: %v", err)
	}
	fresh.Close()

	// Delete the account.
	if err := c.DeleteAccount(ctx, "new-password"); err != nil {
		t.Errorf("delete: %v (want the TOK reply)", err)
	} else if c.Token() != nil {
		t.Error("session kept after delete")
	}
	gone := e2eClient(t, n, "dev-d")
	if err := gone.Login(ctx, "alice", "new-password"); !errors.Is(err, ErrAuthFailed) {
		t.Fatalf("login after delete: %v, want auth_failed", err)
	}
}

func TestE2E_MessagesAndFriends(t *testing.T) {
	n := startNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	alice := e2eClient(t, n, "alice-phone")
	bob := e2eClient(t, n, "bob-phone")
	for _, u := range []struct {
		c    *Client
		name string
	}{{alice, "alice"}, {bob, "bob"}} {
		if err := u.c.Register(ctx, u.name, "pw-"+u.name); err != nil {
			t.Fatalf("register %s: %v", u.name, err)
		}
		if err := u.c.Login(ctx, u.name, "pw-"+u.name); err != nil {
			t.Fatalf("login %s: %v", u.name, err)
		}
	}
	if _, err := alice.Send(ctx, "bob", []byte("hi stranger")); !errors.Is(err, ErrRefused) {
		t.Fatalf("send to a stranger: %v, want refused", err)
	}
	if err := alice.FriendRequest(ctx, "bob"); err != nil {
		t.Fatalf("friend request: %v", err)
	}
	if ev := nextEventTimeout(t, bob, 10*time.Second, EventFriend); ev.Friend != "request" || ev.User != "alice" {
		t.Fatalf("bob got %+v", ev)
	}
	if err := bob.FriendAccept(ctx, "alice"); err != nil {
		t.Fatalf("accept: %v", err)
	}
	if ev := nextEventTimeout(t, alice, 10*time.Second, EventFriend); ev.Friend != "accepted" || ev.User != "bob" {
		t.Fatalf("alice got %+v", ev)
	}
	f, err := alice.Friends(ctx)
	if err != nil || len(f.Friends) != 1 || f.Friends[0].User != "bob" || f.Friends[0].Status != StatusOnline {
		t.Fatalf("friends = %+v, %v", f, err)
	}

	// Offline delivery: bob leaves, alice sends, bob comes back.
	bobTok := bob.Token()
	bob.Close()
	var seqs []uint64
	for i, text := range []string{"one", "two"} {
		ack, err := alice.Send(ctx, "bob", []byte(text))
		if err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
		seqs = append(seqs, ack.Seq)
	}
	if seqs[1] != seqs[0]+1 {
		t.Fatalf("inbox sequence numbers %v", seqs)
	}
	// A retry with the same cmid is a duplicate.
	ack1, err := alice.Send(ctx, "bob", []byte("three"), WithCMID(4242))
	if err != nil {
		t.Fatal(err)
	}
	ack2, err := alice.Send(ctx, "bob", []byte("three"), WithCMID(4242))
	if err != nil || !ack2.Dup || ack2.ID != ack1.ID || ack2.Seq != ack1.Seq {
		t.Fatalf("retry: %+v %v, first %+v", ack2, err, ack1)
	}

	bob = e2eClient(t, n, "bob-phone")
	if err := bob.Resume(ctx, "bob", bobTok); err != nil {
		t.Fatalf("bob resume: %v", err)
	}
	for _, want := range []string{"one", "two", "three"} {
		ev := nextEventTimeout(t, bob, 10*time.Second, EventMessage)
		if string(ev.Message.Body) != want || ev.Message.From != "alice" {
			t.Fatalf("bob got %q from %s, want %q", ev.Message.Body, ev.Message.From, want)
		}
	}
	nextEventTimeout(t, bob, 10*time.Second, EventSynced)

	// Live push.
	if _, err := alice.Send(ctx, "bob", []byte("live")); err != nil {
		t.Fatal(err)
	}
	if ev := nextEventTimeout(t, bob, 10*time.Second, EventMessage); string(ev.Message.Body) != "live" {
		t.Fatalf("bob got %+v", ev)
	}

	// Presence.
	if err := bob.SetPresence(ctx, StatusAway); err != nil {
		t.Fatal(err)
	}
	for {
		ev := nextEventTimeout(t, alice, 10*time.Second, EventPresence)
		if ev.User == "bob" && ev.Status == StatusAway {
			break
		}
	}
	if err := bob.SetPresence(ctx, "sleepy"); !errors.Is(err, ErrBadStatus) {
		t.Fatalf("bad status: %v", err)
	}
	// Bob's cursor reaches the server: a new login starts after "live".
	cur := bob.Cursor()
	bob.Close()
	bob = e2eClient(t, n, "bob-phone")
	if err := bob.Login(ctx, "bob", "pw-bob"); err != nil {
		t.Fatal(err)
	}
	ev := nextEventTimeout(t, bob, 10*time.Second, EventSynced, EventMessage)
	if ev.Kind != EventSynced || ev.Cursor != cur {
		t.Fatalf("after re-login: %+v (cursor was %d)", ev, cur)
	}
}

// nextEventTimeout is nextEvent with a longer wait.
func nextEventTimeout(t *testing.T, c *Client, d time.Duration, kinds ...EventKind) Event {
	t.Helper()
	timeout := time.After(d)
	for {
		select {
		case ev, ok := <-c.Events():
			if !ok {
				t.Fatal("events closed")
			}
			for _, k := range kinds {
				if ev.Kind == k {
					return ev
				}
			}
			t.Logf("skipping event %v %+v", ev.Kind, ev)
		case <-timeout:
			t.Fatalf("no %v event in %v", kinds, d)
		}
	}
}

// TestE2E_LoginAfterTimedOutLogin is the regression test for a bug the
// churn simulator found: a Login that timed out could leave a session on
// the connection that the client did not know of, and every later Login
// failed with already_logged_in.
func TestE2E_LoginAfterTimedOutLogin(t *testing.T) {
	n := startNode(t)
	reg := e2eClient(t, n, "setup")
	if err := reg.Register(context.Background(), "timmy", "pw"); err != nil {
		t.Fatal(err)
	}
	timedOut := 0
	for i := 0; i < 40; i++ {
		c := e2eClient(t, n, "phone")
		ctx, cancel := context.WithTimeout(context.Background(), time.Duration(200+i*200)*time.Microsecond)
		err := c.Login(ctx, "timmy", "pw")
		cancel()
		if err == nil {
			continue
		}
		timedOut++
		ctx, cancel = context.WithTimeout(context.Background(), 10*time.Second)
		err = c.Login(ctx, "timmy", "pw")
		cancel()
		if err != nil {
			t.Fatalf("login after a timed-out login (attempt %d): %v", i, err)
		}
	}
	if timedOut == 0 {
		t.Skip("no login timed out on this machine; the case was not exercised")
	}
	t.Logf("%d logins timed out; each retry succeeded", timedOut)
}
