package client

import (
	"context"
	"testing"
	"time"
)

// TestGroupE2E_Pushes: live group entries reach every synced device of
// every member over real TCP, the sender's devices included (its own
// device marks them own), each once and in order; a kicked member gets
// its kick and nothing more.
func TestGroupE2E_Pushes(t *testing.T) {
	n := groupNode(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	alice := groupUser(t, ctx, n, "alice", nil)
	bob := groupUser(t, ctx, n, "bob", nil)
	if err := alice.GroupCreate(ctx, "team", GroupSettings{Open: boolp(true)}); err != nil {
		t.Fatal(err)
	}
	untilEvent(t, alice, EventGroupSynced, "team")
	if err := bob.GroupJoin(ctx, "team"); err != nil {
		t.Fatal(err)
	}
	untilEvent(t, bob, EventGroupSynced, "team")
	phone := groupDevice(t, n, "alice-phone", nil)
	if err := phone.Login(ctx, "alice", "pw-alice"); err != nil {
		t.Fatal(err)
	}
	untilEvent(t, phone, EventGroupsSynced, "")

	ack, err := alice.GroupSend(ctx, "team", []byte("live"))
	if err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-waitGroupEntry(bob, "team", 3*time.Second):
		if ev.Seq != ack.Seq || string(ev.Body) != "live" || ev.Own {
			t.Fatalf("bob's push %+v, want seq %d", ev, ack.Seq)
		}
	case <-ctx.Done():
		t.Fatal(ctx.Err())
	}
	// bob's join was pushed to alice before the message.
	if got := groupEntries(t, alice, "team", 2); got[0].Kind != GroupJoined || got[1].Seq != ack.Seq || !got[1].Own {
		t.Fatalf("alice's device that sent: %+v, want the join, then the message marked own", got)
	}
	if got := groupEntries(t, phone, "team", 1); got[0].Seq != ack.Seq || got[0].Own {
		t.Fatalf("alice's other device: %+v, want the message not own", got)
	}

	// A kick: bob gets the kick entry last.
	if err := alice.GroupKick(ctx, "team", "bob"); err != nil {
		t.Fatal(err)
	}
	got, _ := untilEvent(t, bob, EventGroupGone, "team")
	if len(got) != 1 || got[0].Kind != GroupKicked || got[0].Subject != "bob" {
		t.Fatalf("bob's last entries %+v, want his kick", got)
	}
	if _, err := alice.GroupSend(ctx, "team", []byte("after the kick")); err != nil {
		t.Fatal(err)
	}
	groupEntries(t, phone, "team", 2) // the kick, then the message
	select {
	case ev := <-waitGroupEntry(bob, "team", 500*time.Millisecond):
		if ev.Seq != 0 {
			t.Fatalf("bob got %+v after his kick", ev)
		}
	case <-ctx.Done():
	}
}

// waitGroupEntry delivers the next entry of group g that c receives
// within d (skipping other events), or a zero GroupMessage after d.
func waitGroupEntry(c *Client, g string, d time.Duration) <-chan GroupMessage {
	out := make(chan GroupMessage, 1)
	go func() {
		timeout := time.After(d)
		for {
			select {
			case ev, ok := <-c.Events():
				if !ok {
					out <- GroupMessage{}
					return
				}
				if ev.Kind == EventGroupMessage && ev.Group == g {
					out <- ev.GroupMessage
					return
				}
			case <-timeout:
				out <- GroupMessage{}
				return
			}
		}
	}()
	return out
}
