package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/roamhq/roam/client"
	"github.com/roamhq/roam/hlr"
)

// TestScheduled_KillNineOfEveryNode: a scheduled message whose fire time
// passes while every roamd of a 3-node cluster is killed with SIGKILL
// fires once after they are started again, and is recorded fired with
// the id of the message delivered.
func TestScheduled_KillNineOfEveryNode(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns a cluster")
	}
	procs := startCluster(t, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dialUser := func(i int, user, device string, register bool) *client.Client {
		t.Helper()
		cfg := client.DefaultConfig(procs[i].client)
		cfg.Device = device
		cfg.RequestTimeout = 3 * time.Second
		cfg.MaxSendAttempts = 100
		cfg.RetryBackoff = 50 * time.Millisecond
		cfg.MaxBackoff = 500 * time.Millisecond
		c, err := client.Dial(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		if register {
			if err := c.Register(ctx, user, "pw-"+user); err != nil {
				t.Fatal(err)
			}
		}
		if err := c.Login(ctx, user, "pw-"+user); err != nil {
			t.Fatal(err)
		}
		return c
	}
	a := dialUser(0, "alice", "a1", true)
	b := dialUser(1, "bob", "b1", true)
	befriendClients(t, ctx, a, b)
	// The server's minimum is 10 s ahead.
	s, err := a.ScheduleIn(ctx, "bob", []byte("through the power cut"), 11*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	a.Close()
	b.Close()
	for _, p := range procs {
		p.kill()
	}
	time.Sleep(time.Until(s.Fire) + 2*time.Second) // due while every node is down
	var readies []<-chan struct{}
	for _, p := range procs {
		readies = append(readies, p.respawn())
	}
	for _, r := range readies {
		select {
		case <-r:
		case <-time.After(60 * time.Second):
			t.Fatal("a node did not get ready within 60 s of the restart")
		}
	}
	b2 := dialUser(2, "bob", "b2", false)
	var got []client.Message
	deadline := time.After(30 * time.Second)
	for len(got) == 0 {
		select {
		case e := <-b2.Events():
			if e.Kind == client.EventMessage {
				got = append(got, e.Message)
			}
		case <-deadline:
			t.Fatal("the scheduled message did not arrive within 30 s of the restart")
		}
	}
	if string(got[0].Body) != "through the power cut" || got[0].FromDevice != hlr.SchedDevice {
		t.Fatalf("message: %+v", got[0])
	}
	a2 := dialUser(1, "alice", "a2", false)
	for until := time.Now().Add(15 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		st, err := a2.ScheduleGet(ctx, s.ID)
		if err == nil && st.State == client.SchedFired {
			if st.MsgID != got[0].ID {
				t.Fatalf("recorded fired as message %d, delivered %d", st.MsgID, got[0].ID)
			}
			break
		}
		if time.Now().After(until) {
			t.Fatalf("not recorded fired: %+v %v", st, err)
		}
	}
	// Once: nothing more arrives, and a fresh sync holds it once.
	for quiet := time.After(2 * time.Second); ; {
		select {
		case e := <-b2.Events():
			if e.Kind == client.EventMessage {
				t.Fatalf("a second message: %+v", e.Message)
			}
			continue
		case <-quiet:
		}
		break
	}
	b3 := dialUser(0, "bob", "b3", false)
	n := 0
	for quiet := time.After(3 * time.Second); ; {
		select {
		case e := <-b3.Events():
			if e.Kind == client.EventMessage && string(e.Message.Body) == "through the power cut" {
				n++
			}
			continue
		case <-quiet:
		}
		break
	}
	if n != 1 {
		t.Fatalf("a new device syncs the message %d times, want once", n)
	}
}
