package client

import (
	"fmt"
	"testing"

	"github.com/roamhq/roam/wire"
)

// The client's handling of group pushes, against the fake server (the
// real node cannot push groups until its group fan-out lands; see
// TestGroupE2E_Pushes): each group's entries reach the application once
// and in order, duplicates drop, a gap resyncs, the device's own messages
// are marked, the stream stops at the member's own kick, and what the
// application took is acknowledged.

func groupMsg(from, device, body string) wire.GroupMessage {
	return wire.GroupMessage{From: from, FromDevice: device, Body: []byte(body), SentMS: 1}
}

// nextGroupEntry returns the next group entry (skipping other events).
func nextGroupEntry(t *testing.T, c *Client) GroupMessage {
	t.Helper()
	return nextEvent(t, c, EventGroupMessage).GroupMessage
}

func TestGroupPushes_OrderDedupGapOwnAndKick(t *testing.T) {
	cl := newFakeCluster(t, 1)
	cl.addUser(t, "alice", "pw")
	cl.addGroup("team", "alice", "bob")
	cl.addGroup("club", "alice")
	for i := 1; i <= 3; i++ {
		cl.groupEntry("team", groupMsg("bob", "bob-phone", fmt.Sprint("old ", i)), false)
	}
	c := dialT(t, testConfig(t, cl.addr(0)))
	ctx := ctxT(t)
	if err := c.Login(ctx, "alice", "pw"); err != nil {
		t.Fatal(err)
	}
	// The inbox first, then the groups flow: each group read (in name
	// order: club, empty, then team's backlog), then the end of the flow.
	nextEvent(t, c, EventSynced)
	var order []string
	for {
		ev := nextEvent(t, c, EventGroupSynced, EventGroupMessage, EventGroupsSynced)
		if ev.Kind == EventGroupsSynced {
			break
		}
		if ev.Kind == EventGroupSynced {
			order = append(order, fmt.Sprintf("synced %s %d", ev.Group, ev.Cursor))
		} else {
			order = append(order, fmt.Sprintf("%s %d %s", ev.Group, ev.GroupMessage.Seq, ev.GroupMessage.Body))
		}
	}
	if want := "[synced club 0 team 1 old 1 team 2 old 2 team 3 old 3 synced team 3]"; fmt.Sprint(order) != want {
		t.Fatalf("the groups flow: %v\nwant %s", order, want)
	}

	// A push in order is delivered; the same push again is dropped.
	m4 := cl.groupEntry("team", groupMsg("bob", "bob-phone", "four"), true)
	if m := nextGroupEntry(t, c); m.Seq != 4 || string(m.Body) != "four" {
		t.Fatalf("push: %+v", m)
	}
	cl.groupPush("team", m4)
	// A push beyond a gap (5 was never pushed) makes the client read the
	// group again from 4: 5 and 6 come in order, each once.
	cl.groupEntry("team", groupMsg("bob", "bob-phone", "five"), false)
	cl.groupEntry("team", groupMsg("bob", "bob-phone", "six"), true)
	for _, want := range []string{"five", "six"} {
		if m := nextGroupEntry(t, c); string(m.Body) != want {
			t.Fatalf("after the gap: %+v, want %q", m, want)
		}
	}
	cl.mu.Lock()
	last := cl.groupSyncs[len(cl.groupSyncs)-1]
	cl.mu.Unlock()
	if last.Group != "team" || last.After != 4 {
		t.Fatalf("resync %+v, want team after 4", last)
	}
	// Another group's pushes have their own positions.
	if m := cl.groupEntry("club", groupMsg("alice", "dev-test", "mine"), true); m.Seq != 1 {
		t.Fatal(m)
	}
	if m := nextGroupEntry(t, c); m.Group != "club" || m.Seq != 1 || !m.Own {
		t.Fatalf("own message in club: %+v, want it marked own", m)
	}
	if m := cl.groupEntry("team", groupMsg("alice", "alice-tablet", "other device"), true); m.Seq != 7 {
		t.Fatal(m)
	}
	if m := nextGroupEntry(t, c); m.Own || m.Seq != 7 {
		t.Fatalf("a message of the user's other device: %+v, want it not own", m)
	}
	// What the application took is acknowledged, per group.
	waitFor(t, "the group acks", func() bool {
		cl.mu.Lock()
		defer cl.mu.Unlock()
		top := map[string]uint64{}
		for _, a := range cl.groupAcks {
			top[a.Group] = max(top[a.Group], a.Seq)
		}
		return top["team"] == 7 && top["club"] == 1
	})
	if got := c.GroupCursors(); got["team"] != 7 || got["club"] != 1 {
		t.Fatalf("GroupCursors %v", got)
	}

	// A kick of alice ends her stream: the entry, then EventGroupGone,
	// and nothing more of the group.
	cl.groupEntry("team", wire.GroupMessage{Kind: GroupKicked, From: "bob", Subject: "alice", SentMS: 1}, true)
	if m := nextGroupEntry(t, c); m.Kind != GroupKicked || m.Subject != "alice" || m.Seq != 8 {
		t.Fatalf("kick entry %+v", m)
	}
	if ev := nextEvent(t, c, EventGroupGone, EventGroupMessage); ev.Kind != EventGroupGone || ev.Group != "team" {
		t.Fatalf("after the kick: %+v", ev)
	}
	cl.groupEntry("team", groupMsg("bob", "bob-phone", "after the kick"), true)
	cl.groupEntry("club", groupMsg("carol", "x", "club goes on"), true)
	if m := nextGroupEntry(t, c); m.Group != "club" || string(m.Body) != "club goes on" {
		t.Fatalf("after the kick: %+v", m)
	}
	if _, ok := c.GroupCursors()["team"]; ok {
		t.Fatalf("GroupCursors still lists team: %v", c.GroupCursors())
	}
}

// TestGroupSync_PagesAndReconnect: a backlog in pages (the fake's page is
// 5 entries) arrives whole and in order; after a reconnect the client
// reads on from the last delivered entry, not from the start.
func TestGroupSync_PagesAndReconnect(t *testing.T) {
	cl := newFakeCluster(t, 2)
	cl.page = 5
	cl.addUser(t, "alice", "pw")
	cl.addGroup("team", "alice")
	for i := 1; i <= 23; i++ {
		cl.groupEntry("team", groupMsg("bob", "b", fmt.Sprint(i)), false)
	}
	c := dialT(t, testConfig(t, cl.addr(0)))
	ctx := ctxT(t)
	if err := c.Login(ctx, "alice", "pw"); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 23; i++ {
		if m := nextGroupEntry(t, c); m.Seq != uint64(i) {
			t.Fatalf("entry %d: %+v", i, m)
		}
	}
	if ev := nextEvent(t, c, EventGroupSynced); ev.Cursor != 23 {
		t.Fatalf("synced at %d", ev.Cursor)
	}
	cl.mu.Lock()
	pages := len(cl.groupSyncs)
	cl.mu.Unlock()
	if pages != 5 {
		t.Fatalf("%d group syncs for 23 entries in pages of 5, want 5", pages)
	}
	cl.groupEntry("team", groupMsg("bob", "b", "while away"), false)
	cl.nodes[0].dropAll()
	nextEvent(t, c, EventReconnected)
	if m := nextGroupEntry(t, c); m.Seq != 24 || string(m.Body) != "while away" {
		t.Fatalf("after the reconnect: %+v", m)
	}
	cl.mu.Lock()
	resync := cl.groupSyncs[pages]
	cl.mu.Unlock()
	if resync.After != 23 {
		t.Fatalf("resync after a reconnect from %d, want 23", resync.After)
	}
}
