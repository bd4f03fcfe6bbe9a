package client

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
)

// TestHello_AnnouncesMaxFrame: the client tells the server the largest
// frame it accepts.
func TestHello_AnnouncesMaxFrame(t *testing.T) {
	cl := newFakeCluster(t, 1)
	cfg := testConfig(t, cl.addr(0))
	cfg.MaxFrame = 100000
	dialT(t, cfg)
	cl.mu.Lock()
	defer cl.mu.Unlock()
	if len(cl.hellos) != 1 || cl.hellos[0].MaxFrame != 100000 {
		t.Fatalf("hellos %+v, want max_frame 100000", cl.hellos)
	}
}

// TestSync_SmallerPagesWhenServerIgnoresMaxFrame: a server that does not
// cut its pages to the announced max_frame (the fake sends 100 messages
// of 1400 bytes, ~150 KB) makes the first page fail with ErrFrameTooLarge;
// the client keeps the connection and asks for pages small enough, and
// the whole backlog arrives once, in order.
func TestSync_SmallerPagesWhenServerIgnoresMaxFrame(t *testing.T) {
	cl := newFakeCluster(t, 1)
	cl.addUser(t, "alice", "pw")
	const n = 250
	for i := 1; i <= n; i++ {
		body := bytes.Repeat([]byte{'.'}, 1400)
		copy(body, fmt.Sprint(i))
		cl.deliver("alice", string(body))
	}
	c := dialT(t, testConfig(t, cl.addr(0)))
	if err := c.Login(ctxT(t), "alice", "pw"); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= n; i++ {
		ev := nextEvent(t, c, EventMessage, EventDisconnected)
		if ev.Kind != EventMessage || ev.Message.Seq != uint64(i) {
			t.Fatalf("message %d: %v seq %d %v", i, ev.Kind, ev.Message.Seq, ev.Err)
		}
	}
	if ev := nextEvent(t, c, EventSynced, EventMessage, EventDisconnected); ev.Kind != EventSynced || ev.Cursor != n {
		t.Fatalf("after the backlog: %+v", ev)
	}
	cl.mu.Lock()
	limits := append([]uint32(nil), cl.syncLimits...)
	logins := cl.logins
	cl.mu.Unlock()
	if logins != 1 {
		t.Fatalf("%d logins: the connection was dropped", logins)
	}
	if limits[0] != 0 || limits[1] == 0 || limits[1] > 40 {
		t.Fatalf("sync limits %v: want the server's page first, then at most 40 messages", limits)
	}
}

// TestFrameTooLarge_FailsTheRequestOnly: a reply larger than MaxFrame (a
// friend list of 5,000 friends) fails its request with ErrFrameTooLarge;
// the connection and the session stay.
func TestFrameTooLarge_FailsTheRequestOnly(t *testing.T) {
	cl := newFakeCluster(t, 1)
	cl.addUser(t, "alice", "pw")
	c := dialT(t, testConfig(t, cl.addr(0)))
	ctx := ctxT(t)
	if err := c.Login(ctx, "alice", "pw"); err != nil {
		t.Fatal(err)
	}
	cl.mu.Lock()
	cl.bigFriends = 5000
	cl.mu.Unlock()
	if _, err := c.Friends(ctx); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatalf("friend list of 5000: %v, want ErrFrameTooLarge", err)
	}
	cl.mu.Lock()
	cl.bigFriends = 3
	cl.mu.Unlock()
	f, err := c.Friends(ctx)
	if err != nil || len(f.Friends) != 3 {
		t.Fatalf("next friend list: %+v %v", f, err)
	}
	cl.mu.Lock()
	defer cl.mu.Unlock()
	if cl.logins != 1 {
		t.Fatalf("%d logins: the connection was dropped", cl.logins)
	}
}
