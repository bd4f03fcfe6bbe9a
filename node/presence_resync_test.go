package node_test

import (
	"testing"
	"time"

	"github.com/roamhq/roam/client"
	"github.com/roamhq/roam/node"
)

// TestPresence_LostItemRepairedWithoutFlicker: a presence item lost on a
// gate connection that stays up (the fault hook drops it) is repaired by
// the periodic replacement: the friend on the other node sees the new
// status within a few intervals, and never sees the user go offline
// meanwhile (the replacement does not drop the node's announcements
// first). Found by make sim SIM_SEED=2 (views that never converged).
func TestPresence_LostItemRepairedWithoutFlicker(t *testing.T) {
	faults := newOneWayFaults()
	c := faultyCluster(t, faults, func(cfg *node.Config) { cfg.PresenceResync = 300 * time.Millisecond })
	c.WaitLeaders(30 * time.Second)
	a := account(t, c, 0, "alice")
	b := account(t, c, 1, "bob")
	befriend(t, a, b)
	waitEvent(t, b, func(e client.Event) bool {
		return e.Kind == client.EventPresence && e.User == "alice" && e.Status == "online"
	})
	faults.set(1, "presence", 1) // bob's node loses every presence item for a while
	if err := a.SetPresence(ctx30(), "busy"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	faults.set(1, "presence", 0)
	deadline := time.After(10 * time.Second)
	for {
		select {
		case e := <-b.Events():
			if e.Kind != client.EventPresence || e.User != "alice" {
				continue
			}
			if e.Status == "offline" {
				t.Fatal("bob saw alice go offline during the repair (flicker)")
			}
			if e.Status == "busy" {
				return
			}
		case <-deadline:
			t.Fatal("bob never saw alice busy: the lost presence item was not repaired")
		}
	}
}
