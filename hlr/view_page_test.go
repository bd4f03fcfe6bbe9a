package hlr

import (
	"bytes"
	"testing"
)

// TestInboxPage_BoundedByBytes: a page bounded by size stops before the
// message that would exceed the budget, says More, always returns at
// least one message, and the pages together return the whole inbox once.
func TestInboxPage_BoundedByBytes(t *testing.T) {
	r := newRig(t, 0)
	r.register("alice", "bob")
	r.befriend("alice", "bob")
	const n = 50
	for i := 1; i <= n; i++ {
		body := bytes.Repeat([]byte{byte('a' + i%26)}, 100*i%1400+1)
		if res := r.one(Cmd{Op: OpSend, User: "bob", Peer: "alice", Device: "phone", CMID: uint64(i), Body: body, TTLMS: 60_000}); res.Status != StatusOK {
			t.Fatalf("send %d: %+v", i, res)
		}
	}
	const budget = 4000
	var after uint64
	pages := 0
	for {
		in, err := r.view().InboxPage("bob", after, MaxInboxPage, budget, r.now)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		if len(in.Messages) == 0 {
			t.Fatalf("page %d after %d is empty (more %v)", pages, after, in.More)
		}
		size := 0
		for _, m := range in.Messages {
			if m.Seq != after+1 {
				t.Fatalf("page %d: seq %d after %d", pages, m.Seq, after)
			}
			after = m.Seq
			size += MessageSize(&m)
		}
		if size > budget && len(in.Messages) > 1 {
			t.Fatalf("page %d: %d messages take %d bytes, budget %d", pages, len(in.Messages), size, budget)
		}
		if !in.More {
			break
		}
	}
	if after != n {
		t.Fatalf("the pages ended at %d, want %d", after, n)
	}
	if pages < 10 {
		t.Fatalf("%d pages: the budget did not bound them", pages)
	}
	// A budget smaller than one message still makes progress.
	in, err := r.view().InboxPage("bob", 0, MaxInboxPage, 1, r.now)
	if err != nil || len(in.Messages) != 1 || !in.More {
		t.Fatalf("budget 1: %d messages, more %v, %v; want 1 and more", len(in.Messages), in.More, err)
	}
	// No budget: the count limit alone.
	in, err = r.view().InboxPage("bob", 0, MaxInboxPage, 0, r.now)
	if err != nil || len(in.Messages) != n || in.More {
		t.Fatalf("no budget: %d messages, more %v, %v; want %d", len(in.Messages), in.More, err, n)
	}
}
