package hlr

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/vfs"
)

// countingRouter answers every command OK and counts them.
type countingRouter struct {
	mu sync.Mutex
	n  int
}

func (r *countingRouter) Exec(context.Context, Cmd) (Result, error) {
	r.mu.Lock()
	r.n++
	r.mu.Unlock()
	return Result{}, nil
}

func (r *countingRouter) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n
}

// TestHold_DoneKeepsDeliveredItemsAllDeliversNothing: under HoldAll the
// outbox delivers nothing (a restore is installing partitions whose
// targets may not be there yet); under HoldDone it delivers but keeps the
// items, delivering them again (a backup is taking the partitions one by
// one); once the hold is released or expires, the items are delivered and
// completed.
func TestHold_DoneKeepsDeliveredItemsAllDeliversNothing(t *testing.T) {
	n := newTestNode(t, "n1", vfs.NewMem())
	router := &countingRouter{}
	n.hook = func(h *Host) { h.SetHold(HoldAll, time.Now().Add(time.Hour)) }
	n.router = router
	n.start()
	p := n.open(testPID, n.self())
	waitLeader(t, p)
	for _, u := range []string{"ann", "bob"} {
		if res, err := p.Exec(ctxT(t), Cmd{Op: OpRegister, User: u, Creds: creds(1)}); err != nil || res.Status != StatusOK {
			t.Fatalf("register %s: %v %v", u, res.Status, err)
		}
	}
	// ann asks bob: an outbox item for bob's side.
	if _, err := p.Exec(ctxT(t), Cmd{Op: OpFriendRequest, User: "bob", Peer: "ann"}); err != nil {
		t.Fatal(err)
	}
	if !p.hasOutbox() {
		t.Fatal("no outbox item to hold")
	}
	time.Sleep(300 * time.Millisecond) // several maintenance rounds
	if c := router.count(); c != 0 {
		t.Fatalf("%d deliveries under HoldAll", c)
	}
	n.host.SetHold(HoldDone, time.Now().Add(time.Hour))
	waitFor(t, "deliveries under HoldDone", 5*time.Second, func() bool { return router.count() >= 2 })
	if !p.hasOutbox() {
		t.Fatal("an item delivered under HoldDone was completed")
	}
	n.host.SetHold(HoldDone, time.Now().Add(-time.Second)) // expired
	waitFor(t, "the item completed after the hold", 5*time.Second, func() bool { return !p.hasOutbox() })
}
