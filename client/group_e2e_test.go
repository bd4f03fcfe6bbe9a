package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/roamhq/roam/node"
	"github.com/roamhq/roam/vlr"
)

// End-to-end tests of groups (PROTOCOL.md §16) against a real one-node
// cluster over TCP: every request's success and refusal, retried sends,
// paging, and the groups flow of a login.

// groupNode starts a node whose group rates let a test do many group
// operations at once; configure adjusts the node's vlr config further.
func groupNode(t *testing.T, configure func(*vlr.Config)) *node.Node {
	t.Helper()
	return startNodeWith(t, func(cfg *node.Config) {
		cfg.VLR.GroupOpRate, cfg.VLR.GroupOpBurst = 1000, 10000
		cfg.VLR.GroupSendRate, cfg.VLR.GroupSendBurst = 1000, 10000
		if configure != nil {
			configure(&cfg.VLR)
		}
	})
}

// groupUser registers user on n and logs it in as device user+"-dev";
// tweak adjusts the client's config.
func groupUser(t *testing.T, ctx context.Context, n *node.Node, user string, tweak func(*Config)) *Client {
	t.Helper()
	c := groupDevice(t, n, user+"-dev", tweak)
	if err := c.Register(ctx, user, "pw-"+user); err != nil {
		t.Fatalf("register %s: %v", user, err)
	}
	if err := c.Login(ctx, user, "pw-"+user); err != nil {
		t.Fatalf("login %s: %v", user, err)
	}
	return c
}

// groupDevice dials n as device (not logged in).
func groupDevice(t *testing.T, n *node.Node, device string, tweak func(*Config)) *Client {
	t.Helper()
	cfg := testConfig(t, n.ClientAddr())
	cfg.Device = device
	cfg.RequestTimeout = 10 * time.Second
	if tweak != nil {
		tweak(&cfg)
	}
	return dialT(t, cfg)
}

// groupEntries waits for the next n entries of group g (other events are
// skipped) and returns them.
func groupEntries(t *testing.T, c *Client, g string, n int) []GroupMessage {
	t.Helper()
	var out []GroupMessage
	timeout := time.After(15 * time.Second)
	for len(out) < n {
		select {
		case ev, ok := <-c.Events():
			if !ok {
				t.Fatal("events closed")
			}
			if ev.Kind == EventGroupMessage && ev.Group == g {
				out = append(out, ev.GroupMessage)
			}
		case <-timeout:
			t.Fatalf("%d of %d entries of %s arrived: %+v", len(out), n, g, out)
		}
	}
	return out
}

// untilEvent collects the group entries that arrive before the first
// event of kind (and group g, if set), which it returns too.
func untilEvent(t *testing.T, c *Client, kind EventKind, g string) ([]GroupMessage, Event) {
	t.Helper()
	var got []GroupMessage
	timeout := time.After(15 * time.Second)
	for {
		select {
		case ev, ok := <-c.Events():
			if !ok {
				t.Fatal("events closed")
			}
			if ev.Kind == EventGroupMessage {
				got = append(got, ev.GroupMessage)
			}
			if ev.Kind == kind && (g == "" || ev.Group == g) {
				return got, ev
			}
		case <-timeout:
			t.Fatalf("no %v event (group %q) in 15s; entries: %+v", kind, g, got)
		}
	}
}

func strp(s string) *string { return &s }
func boolp(b bool) *bool    { return &b }

// kinds renders entries as "kind:from:subject" ("msg:from:body" for a
// message).
func kinds(ms []GroupMessage) string {
	var parts []string
	for _, m := range ms {
		if m.Kind == "" {
			parts = append(parts, "msg:"+m.From+":"+string(m.Body))
		} else {
			parts = append(parts, m.Kind+":"+m.From+":"+m.Subject)
		}
	}
	return strings.Join(parts, " ")
}

// TestGroupE2E_Operations runs every group request through its success
// and its refusals, then checks the stream a new device of the owner
// reads at login.
func TestGroupE2E_Operations(t *testing.T) {
	n := groupNode(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	alice := groupUser(t, ctx, n, "alice", nil)
	bob := groupUser(t, ctx, n, "bob", nil)
	carol := groupUser(t, ctx, n, "carol", nil)

	// Create.
	if err := alice.GroupCreate(ctx, "Team", GroupSettings{Title: strp("The team")}); err != nil {
		t.Fatalf("create: %v", err)
	}
	if err := alice.GroupCreate(ctx, "team", GroupSettings{}); err != nil {
		t.Fatalf("create repeated by the owner (a retry): %v", err)
	}
	if err := bob.GroupCreate(ctx, "team", GroupSettings{}); !errors.Is(err, ErrNameTaken) {
		t.Fatalf("create of a taken name: %v, want name_taken", err)
	}
	if err := bob.GroupCreate(ctx, "x!", GroupSettings{}); !errors.Is(err, ErrBadName) {
		t.Fatalf("create with a bad name: %v, want bad_name", err)
	}
	if err := bob.GroupCreate(ctx, "bobs", GroupSettings{Title: strp(strings.Repeat("t", 65))}); !errors.Is(err, ErrBadRequest) {
		t.Fatalf("create with a long title: %v, want bad_request", err)
	}
	// The creator reads its stream from created on.
	got, ev := untilEvent(t, alice, EventGroupSynced, "team")
	if kinds(got) != "created:alice:" || got[0].Seq != 1 || got[0].Role != RoleOwner || ev.Cursor != 1 {
		t.Fatalf("creator's stream %q (%+v), synced at %d", kinds(got), got, ev.Cursor)
	}

	// Invite and join.
	if err := bob.GroupJoin(ctx, "team"); !errors.Is(err, ErrRefused) {
		t.Fatalf("join of a closed group without an invite: %v, want refused", err)
	}
	if err := bob.GroupJoin(ctx, "nosuchgroup"); !errors.Is(err, ErrRefused) {
		t.Fatalf("join of no group: %v, want refused", err)
	}
	if err := bob.GroupInvite(ctx, "team", "carol"); !errors.Is(err, ErrRefused) {
		t.Fatalf("invite by a non-member: %v, want refused", err)
	}
	if err := alice.GroupInvite(ctx, "team", "alice"); !errors.Is(err, ErrRefused) {
		t.Fatalf("invite of oneself: %v, want refused", err)
	}
	if err := alice.GroupInvite(ctx, "team", "BOB"); err != nil {
		t.Fatalf("invite: %v", err)
	}
	if err := alice.GroupInvite(ctx, "team", "bob"); err != nil {
		t.Fatalf("invite repeated: %v", err)
	}
	waitFor(t, "bob's invite in his list", func() bool {
		l, err := bob.GroupList(ctx)
		return err == nil && len(l) == 1 && l[0].Group == "team" && l[0].Role == RoleInvited
	})
	if _, err := bob.GroupMembers(ctx, "team"); !errors.Is(err, ErrRefused) {
		t.Fatalf("members for an invitee: %v, want refused", err)
	}
	if err := bob.GroupJoin(ctx, "team"); err != nil {
		t.Fatalf("join: %v", err)
	}
	if err := bob.GroupJoin(ctx, "team"); err != nil {
		t.Fatalf("join repeated: %v", err)
	}
	got, _ = untilEvent(t, bob, EventGroupSynced, "team")
	if kinds(got) != "joined:bob:" || got[0].Seq != 3 {
		t.Fatalf("bob's stream from his join: %q (%+v)", kinds(got), got)
	}
	members, err := alice.GroupMembers(ctx, "team")
	if err != nil || fmt.Sprint(members) != "[{alice owner} {bob member}]" {
		t.Fatalf("members %v, %v", members, err)
	}

	// What a member may not do.
	if err := bob.GroupKick(ctx, "team", "alice"); !errors.Is(err, ErrRefused) {
		t.Fatalf("kick of the owner by a member: %v, want refused", err)
	}
	if err := bob.GroupSet(ctx, "team", GroupSettings{Topic: strp("mine")}); !errors.Is(err, ErrRefused) {
		t.Fatalf("set by a member: %v, want refused", err)
	}
	if err := bob.GroupRole(ctx, "team", "alice", RoleMember); !errors.Is(err, ErrRefused) {
		t.Fatalf("role by a member: %v, want refused", err)
	}
	if err := bob.GroupDelete(ctx, "team"); !errors.Is(err, ErrRefused) {
		t.Fatalf("delete by a member: %v, want refused", err)
	}
	if err := bob.GroupInvite(ctx, "team", "carol"); !errors.Is(err, ErrRefused) {
		t.Fatalf("invite into a closed group by a member: %v, want refused", err)
	}

	// Roles and settings.
	if err := alice.GroupRole(ctx, "team", "bob", "king"); !errors.Is(err, ErrBadRequest) {
		t.Fatalf("unknown role: %v, want bad_request", err)
	}
	if err := alice.GroupRole(ctx, "team", "carol", RoleAdmin); !errors.Is(err, ErrRefused) {
		t.Fatalf("role of a non-member: %v, want refused", err)
	}
	if err := alice.GroupRole(ctx, "team", "bob", RoleAdmin); err != nil {
		t.Fatalf("role: %v", err)
	}
	if err := alice.GroupSet(ctx, "team", GroupSettings{Topic: strp(strings.Repeat("p", 513))}); !errors.Is(err, ErrBadRequest) {
		t.Fatalf("set with a long topic: %v, want bad_request", err)
	}
	if err := alice.GroupSet(ctx, "team", GroupSettings{Topic: strp("plans")}); err != nil {
		t.Fatalf("set: %v", err)
	}
	l, err := alice.GroupList(ctx)
	if err != nil || len(l) != 1 {
		t.Fatalf("alice's list %+v, %v", l, err)
	}
	if g := l[0]; g.Group != "team" || g.Role != RoleOwner || g.Title != "The team" || g.Topic != "plans" || g.Open || g.Owner != "alice" || g.Members != 2 || g.Since != 1 || g.Head != 5 {
		t.Fatalf("alice's entry %+v", g)
	}
	members, err = bob.GroupMembers(ctx, "team")
	if err != nil || fmt.Sprint(members) != "[{alice owner} {bob admin}]" {
		t.Fatalf("members after the role change %v, %v", members, err)
	}

	// Sending.
	var se *SendError
	if _, err := carol.GroupSend(ctx, "team", []byte("let me in")); !errors.Is(err, ErrRefused) || !errors.As(err, &se) || se.CMID == 0 {
		t.Fatalf("send by a non-member: %v, want a refused *SendError", err)
	}
	ack, err := alice.GroupSend(ctx, "team", []byte("hello"))
	if err != nil || ack.Seq != 6 || ack.Dup || ack.CMID == 0 {
		t.Fatalf("send: %+v, %v", ack, err)
	}
	if _, err := bob.GroupSend(ctx, "team", []byte("hi")); err != nil {
		t.Fatalf("send by bob: %v", err)
	}

	// Kick: the kicked member can do nothing more. Kicking someone who is
	// not in the group succeeds and changes nothing (PROTOCOL §16.1: a
	// retried kick gets the first answer); a member may not kick.
	before, _ := alice.GroupList(ctx)
	if err := alice.GroupKick(ctx, "team", "carol"); err != nil {
		t.Fatalf("kick of a non-member: %v, want ok", err)
	}
	if after, _ := alice.GroupList(ctx); len(after) != len(before) || len(after) > 0 && after[0].Head != before[0].Head {
		t.Fatalf("a kick of a non-member changed the group: %+v -> %+v", before, after)
	}
	if err := bob.GroupKick(ctx, "team", "alice"); !errors.Is(err, ErrRefused) {
		t.Fatalf("kick by a member: %v, want refused", err)
	}
	if err := alice.GroupKick(ctx, "team", "bob"); err != nil {
		t.Fatalf("kick: %v", err)
	}
	if _, err := bob.GroupSend(ctx, "team", []byte("still here?")); !errors.Is(err, ErrRefused) {
		t.Fatalf("send after the kick: %v, want refused", err)
	}
	if _, err := bob.GroupMembers(ctx, "team"); !errors.Is(err, ErrRefused) {
		t.Fatalf("members after the kick: %v, want refused", err)
	}
	if err := bob.GroupLeave(ctx, "team"); err != nil {
		t.Fatalf("leave after the kick: %v, want ok (not in it: done already)", err)
	}

	// Open groups: anyone joins, any member invites.
	if err := alice.GroupSet(ctx, "team", GroupSettings{Open: boolp(true)}); err != nil {
		t.Fatalf("open: %v", err)
	}
	if err := carol.GroupJoin(ctx, "team"); err != nil {
		t.Fatalf("join of an open group: %v", err)
	}
	if err := carol.GroupInvite(ctx, "team", "bob"); err != nil {
		t.Fatalf("invite into an open group by a member: %v", err)
	}
	if err := carol.GroupLeave(ctx, "team"); err != nil {
		t.Fatalf("leave: %v", err)
	}
	if err := carol.GroupLeave(ctx, "team"); err != nil {
		t.Fatalf("leave repeated: %v, want ok (a retry gets the first answer)", err)
	}
	// bob declines carol's invite (no entry: the stream has none for a
	// declined invite).
	if err := bob.GroupLeave(ctx, "team"); err != nil {
		t.Fatalf("decline: %v", err)
	}

	// A new device of alice reads the whole stream at login: every change
	// is an entry, in order.
	phone := groupDevice(t, n, "alice-phone", nil)
	if err := phone.Login(ctx, "alice", "pw-alice"); err != nil {
		t.Fatal(err)
	}
	got, _ = untilEvent(t, phone, EventGroupsSynced, "")
	want := "created:alice: invited:alice:bob joined:bob: role:alice:bob info:alice: msg:alice:hello msg:bob:hi " +
		"kicked:alice:bob info:alice: joined:carol: invited:carol:bob left:carol:"
	if kinds(got) != want {
		t.Fatalf("the stream at login:\n got %s\nwant %s", kinds(got), want)
	}
	for i, m := range got {
		if m.Seq != uint64(i+1) || m.Group != "team" || m.Own {
			t.Fatalf("entry %d: %+v", i, m)
		}
	}

	// Delete: owner only; then the group is gone and its name free.
	if err := alice.GroupDelete(ctx, "team"); err != nil {
		t.Fatalf("delete: %v", err)
	}
	if _, err := alice.GroupSend(ctx, "team", []byte("anyone?")); !errors.Is(err, ErrRefused) {
		t.Fatalf("send to a deleted group: %v, want refused", err)
	}
	waitFor(t, "the deleted group out of alice's list", func() bool {
		l, err := alice.GroupList(ctx)
		return err == nil && len(l) == 0
	})
	if err := bob.GroupCreate(ctx, "team", GroupSettings{}); err != nil {
		t.Fatalf("create under a freed name: %v", err)
	}
	// (bob's client synced the old group again after his repeated join:
	// skip to the new group's sync.)
	// Entries of the old group that were pushed to bob before his kick are
	// still in his events: skip them (they end at the kick, seq 8).
	got = nil
	for {
		more, ev := untilEvent(t, bob, EventGroupSynced, "team")
		for _, m := range more {
			if m.Seq > 8 {
				got = append(got, m)
			}
		}
		if ev.Cursor > 12 {
			break
		}
	}
	if len(got) != 1 || got[0].Kind != GroupCreated || got[0].Seq <= 12 {
		t.Fatalf("the new group's stream %+v: its numbering must continue the old one's", got)
	}
	// A device that was away learns of the deletion from its sync.
	phone.Close()
	phone = groupDevice(t, n, "alice-phone", nil)
	phone.SetGroupCursors(map[string]uint64{"team": 12})
	if err := phone.Login(ctx, "alice", "pw-alice"); err != nil {
		t.Fatal(err)
	}
	if got, _ := untilEvent(t, phone, EventGroupsSynced, ""); len(got) != 0 {
		t.Fatalf("entries after the deletion: %+v", got)
	}
}

// TestGroupE2E_Limits: group_full, rate_limited, bad_ttl, too_large.
func TestGroupE2E_Limits(t *testing.T) {
	n := startNodeWith(t, func(cfg *node.Config) {
		cfg.VLR.MaxGroupMembers = 2
		cfg.VLR.MaxGroupsPerUser = 2
		cfg.VLR.GroupOpRate, cfg.VLR.GroupOpBurst = 1000, 10000
		cfg.VLR.GroupSendRate, cfg.VLR.GroupSendBurst = 0.001, 2
	})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	alice := groupUser(t, ctx, n, "alice", nil)
	bob := groupUser(t, ctx, n, "bob", nil)
	carol := groupUser(t, ctx, n, "carol", nil)
	for _, g := range []string{"one", "two"} {
		if err := alice.GroupCreate(ctx, g, GroupSettings{Open: boolp(true)}); err != nil {
			t.Fatal(err)
		}
	}
	// The user's index of groups trails a create by a moment (the bound
	// is exact up to the creates and joins in flight).
	waitFor(t, "alice's two groups in her list", func() bool {
		l, err := alice.GroupList(ctx)
		return err == nil && len(l) == 2
	})
	if err := alice.GroupCreate(ctx, "three", GroupSettings{}); !errors.Is(err, ErrGroupFull) {
		t.Fatalf("a third group: %v, want group_full", err)
	}
	if err := bob.GroupJoin(ctx, "one"); err != nil {
		t.Fatal(err)
	}
	if err := carol.GroupJoin(ctx, "one"); !errors.Is(err, ErrGroupFull) {
		t.Fatalf("a third member: %v, want group_full", err)
	}
	var e *Error
	if _, err := alice.GroupSend(ctx, "one", []byte("x"), WithTTL(10*time.Millisecond)); !errors.Is(err, ErrBadTTL) {
		t.Fatalf("short ttl: %v, want bad_ttl", err)
	}
	if _, err := alice.GroupSend(ctx, "one", bytes.Repeat([]byte{'x'}, 1441)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("long body: %v, want too_large", err)
	}
	if _, err := alice.GroupSend(ctx, "one", nil); !errors.Is(err, ErrBadRequest) {
		t.Fatalf("empty body: %v, want bad_request", err)
	}
	for i := 0; i < 2; i++ {
		if _, err := alice.GroupSend(ctx, "one", []byte("ok")); err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	var se *SendError
	_, err := alice.GroupSend(ctx, "one", []byte("too fast"))
	if !errors.Is(err, ErrRateLimited) || !errors.As(err, &e) || e.RetryAfter <= 0 || !errors.As(err, &se) || se.Attempts != 1 {
		t.Fatalf("a send beyond the burst: %v, want rate_limited with retry_after, not retried", err)
	}
}

// TestGroupE2E_RetriedSendDeliveredOnce: a group send whose reply is lost
// is retried by the client with the same cmid; the retry is acknowledged
// as a duplicate with the original id and seq, and the stream holds the
// message once. An explicit resend with WithCMID is the same.
func TestGroupE2E_RetriedSendDeliveredOnce(t *testing.T) {
	n := groupNode(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	alice := groupUser(t, ctx, n, "alice", nil)
	if err := alice.GroupCreate(ctx, "team", GroupSettings{}); err != nil {
		t.Fatal(err)
	}
	p := newFrameProxy(t, n.ClientAddr())
	cfg := testConfig(t, p.addr())
	cfg.Device = "alice-laptop"
	cfg.RequestTimeout = 10 * time.Second
	c := dialT(t, cfg)
	if err := c.Login(ctx, "alice", "pw-alice"); err != nil {
		t.Fatal(err)
	}
	untilEvent(t, c, EventGroupsSynced, "")
	p.dropNextSendAck.Store(true)
	ack, err := c.GroupSend(ctx, "team", []byte("once"))
	if err != nil {
		t.Fatalf("send through a lost reply: %v", err)
	}
	if p.dropped.Load() != 1 || !ack.Dup {
		t.Fatalf("ack %+v after %d dropped replies: want the retry acknowledged as a duplicate", ack, p.dropped.Load())
	}
	again, err := c.GroupSend(ctx, "team", []byte("once, resent"), WithCMID(ack.CMID))
	if err != nil || again.ID != ack.ID || again.Seq != ack.Seq || !again.Dup {
		t.Fatalf("resend with the same cmid: %+v, %v (first %+v)", again, err, ack)
	}
	// The cmid is the device's: the same cmid from another device is
	// another message.
	other, err := alice.GroupSend(ctx, "team", []byte("other device"), WithCMID(ack.CMID))
	if err != nil || other.Dup || other.Seq != ack.Seq+1 {
		t.Fatalf("the same cmid from another device: %+v, %v (first %+v)", other, err, ack)
	}
	reader := groupDevice(t, n, "alice-reader", nil)
	if err := reader.Login(ctx, "alice", "pw-alice"); err != nil {
		t.Fatal(err)
	}
	got, _ := untilEvent(t, reader, EventGroupsSynced, "")
	if want := "created:alice: msg:alice:once msg:alice:other device"; kinds(got) != want {
		t.Fatalf("the stream %q, want %q", kinds(got), want)
	}
	if got[1].Seq != ack.Seq || got[1].ID != ack.ID || got[1].FromDevice != "alice-laptop" {
		t.Fatalf("the message %+v, acked as %+v", got[1], ack)
	}
}
