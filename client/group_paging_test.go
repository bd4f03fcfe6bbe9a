package client

import (
	"bytes"
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"
)

// Paging of group_list, group_members and group_sync over a real node:
// with the smallest MaxFrame a client may announce, the server cuts each
// reply to fit and says more; the client reads every page.

// TestGroupE2E_ListAndMembersPages: 30 groups with long titles and 70
// members with long names do not fit one 4 KiB frame.
func TestGroupE2E_ListAndMembersPages(t *testing.T) {
	n := groupNode(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	small := func(cfg *Config) { cfg.MaxFrame = MinMaxFrame }
	owner := groupUser(t, ctx, n, "owner", small)
	var names []string
	for i := 0; i < 30; i++ {
		g := fmt.Sprintf("group-%02d", i)
		names = append(names, g)
		if err := owner.GroupCreate(ctx, g, GroupSettings{Title: strp(strings.Repeat("t", 64)), Open: boolp(true)}); err != nil {
			t.Fatalf("create %s: %v", g, err)
		}
	}
	waitFor(t, "the 30 groups in the owner's index", func() bool {
		l, err := owner.GroupList(ctx)
		return err == nil && len(l) == 30
	})
	page, more, err := owner.GroupListPage(ctx, "")
	if err != nil || !more || len(page) == 0 || len(page) >= 30 {
		t.Fatalf("first page: %d groups, more %v, %v; want a partial page", len(page), more, err)
	}
	l, err := owner.GroupList(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, g := range l {
		if g.Role != RoleOwner || g.Title != strings.Repeat("t", 64) || !g.Open || g.Members != 1 {
			t.Fatalf("entry %+v", g)
		}
		got = append(got, g.Group)
	}
	if strings.Join(got, ",") != strings.Join(names, ",") {
		t.Fatalf("list %v, want %v", got, names)
	}

	// The groups flow at login reads every page of the list too.
	dev := groupDevice(t, n, "owner-tablet", small)
	if err := dev.Login(ctx, "owner", "pw-owner"); err != nil {
		t.Fatal(err)
	}
	entries, _ := untilEvent(t, dev, EventGroupsSynced, "")
	seen := map[string]bool{}
	for _, m := range entries {
		if m.Kind != GroupCreated || m.Seq != 1 {
			t.Fatalf("entry %+v", m)
		}
		seen[m.Group] = true
	}
	if len(seen) != 30 || len(entries) != 30 {
		t.Fatalf("the login flow read %d entries of %d groups, want 30 groups", len(entries), len(seen))
	}

	// 70 members of 32-character names.
	want := []string{"owner"}
	for i := 0; i < 70; i++ {
		u := fmt.Sprintf("member-%02d-%s", i, strings.Repeat("m", 22))
		want = append(want, u)
		c := groupUser(t, ctx, n, u, func(cfg *Config) { cfg.SkipInbox = true })
		if err := c.GroupJoin(ctx, "group-00"); err != nil {
			t.Fatalf("join %s: %v", u, err)
		}
		c.Close()
	}
	sort.Strings(want)
	mp, more, err := owner.GroupMembersPage(ctx, "group-00", "")
	if err != nil || !more || len(mp) == 0 || len(mp) >= 71 {
		t.Fatalf("first members page: %d, more %v, %v; want a partial page", len(mp), more, err)
	}
	members, err := owner.GroupMembers(ctx, "group-00")
	if err != nil {
		t.Fatal(err)
	}
	var users []string
	for _, m := range members {
		users = append(users, m.User)
		if wantRole := map[bool]string{true: RoleOwner, false: RoleMember}[m.User == "owner"]; m.Role != wantRole {
			t.Fatalf("member %+v", m)
		}
	}
	if strings.Join(users, ",") != strings.Join(want, ",") {
		t.Fatalf("members %v\nwant %v", users, want)
	}
}

// TestGroupE2E_SyncBacklogBiggerThanPage: a member who was away reads 150
// messages of 1,000 bytes at login, with 4 KiB frames (a few messages a
// page): every entry once, in order; its acknowledgement reaches the
// server, so the next login reads nothing again. The sender's own device
// sees its messages marked as its own.
func TestGroupE2E_SyncBacklogBiggerThanPage(t *testing.T) {
	n := groupNode(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	small := func(cfg *Config) { cfg.MaxFrame = MinMaxFrame }
	alice := groupUser(t, ctx, n, "alice", nil)
	bob := groupUser(t, ctx, n, "bob", small)
	if err := alice.GroupCreate(ctx, "team", GroupSettings{Open: boolp(true)}); err != nil {
		t.Fatal(err)
	}
	if err := bob.GroupJoin(ctx, "team"); err != nil {
		t.Fatal(err)
	}
	untilEvent(t, bob, EventGroupSynced, "team")
	tok := bob.Token()
	bob.Close()

	const count, size = 150, 1000
	var bodies [][]byte
	var first uint64
	for i := 0; i < count; i++ {
		body := bytes.Repeat([]byte{'x'}, size)
		copy(body, fmt.Sprintf("msg %d ", i))
		ack, err := alice.GroupSend(ctx, "team", body)
		if err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
		if i == 0 {
			first = ack.Seq
		} else if ack.Seq != first+uint64(i) {
			t.Fatalf("send %d: seq %d, want %d", i, ack.Seq, first+uint64(i))
		}
		bodies = append(bodies, body)
	}
	head := first + count - 1

	bob = groupDevice(t, n, "bob-dev", small)
	if err := bob.Resume(ctx, "bob", tok); err != nil {
		t.Fatal(err)
	}
	got, ev := untilEvent(t, bob, EventGroupSynced, "team")
	if len(got) != count || ev.Cursor != head {
		t.Fatalf("%d entries, synced at %d; want %d entries to %d", len(got), ev.Cursor, count, head)
	}
	for i, m := range got {
		if m.Seq != first+uint64(i) || !bytes.Equal(m.Body, bodies[i]) || m.From != "alice" || m.Own {
			t.Fatalf("entry %d: seq %d from %s own %v body %.12q", i, m.Seq, m.From, m.Own, m.Body)
		}
	}
	untilEvent(t, bob, EventGroupsSynced, "")
	if c := bob.GroupCursors()["team"]; c != head {
		t.Fatalf("GroupCursors %v, want team at %d", bob.GroupCursors(), head)
	}
	bob.Close() // sends the GroupAck

	bob = groupDevice(t, n, "bob-dev", small)
	if err := bob.Login(ctx, "bob", "pw-bob"); err != nil {
		t.Fatal(err)
	}
	if got, ev := untilEvent(t, bob, EventGroupSynced, "team"); len(got) != 0 || ev.Cursor != head {
		t.Fatalf("after the ack: %d entries again, synced at %d (head %d)", len(got), ev.Cursor, head)
	}
	l, err := bob.GroupList(ctx)
	if err != nil || len(l) != 1 || l[0].Cursor != head || l[0].Unread != 0 || l[0].Head != head {
		t.Fatalf("bob's list %+v, %v; want the cursor at the head %d", l, err, head)
	}

	// The sender's own device: its messages are its own.
	mine := groupDevice(t, n, "alice-dev", nil)
	if err := mine.Login(ctx, "alice", "pw-alice"); err != nil {
		t.Fatal(err)
	}
	got, _ = untilEvent(t, mine, EventGroupsSynced, "")
	own := 0
	for _, m := range got {
		if m.Kind == "" {
			if !m.Own || m.FromDevice != "alice-dev" {
				t.Fatalf("alice's own message not marked own: %+v", m)
			}
			own++
		} else if m.Own {
			t.Fatalf("an event marked own: %+v", m)
		}
	}
	if own != count {
		t.Fatalf("%d own messages, want %d", own, count)
	}
}
