package gate

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/roamhq/roam/hlr"
	"github.com/roamhq/roam/vlr"
)

// TestDropOneWay_DropsTheChosenKindsOnly: the receiving gate asks
// Config.DropOneWay about every one-way item; the items it drops never
// reach the Handler, the others arrive in order, and requests are never
// asked about.
func TestDropOneWay_DropsTheChosenKindsOnly(t *testing.T) {
	var mu sync.Mutex
	asked := map[string]int{}
	drop := func(kind string) bool {
		mu.Lock()
		asked[kind]++
		mu.Unlock()
		return kind == "deliver" || kind == "cancel"
	}
	b := startNode(t, "b", "", nil, func(c *Config) { c.DropOneWay = drop })
	a := startNode(t, "a", "", nil, nil)
	loc := hlr.Location{Device: "d", Node: "b", Epoch: 1}
	for i := range 10 {
		a.gate.Deliver(b.addr, "u", []hlr.Location{loc}, &hlr.Message{Seq: uint64(i + 1), To: "u"})
		a.gate.Cancel(b.addr, "u", loc, "session_replaced")
		a.gate.Notify(b.addr, "u", []hlr.Location{loc}, "request", "p")
		a.gate.Presence(b.addr, []vlr.PresenceUpdate{{User: "u", Status: "online"}}, false)
	}
	if _, err := a.gate.Exec(context.Background(), b.addr, 3, hlr.Cmd{Seq: 7}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the kept items", func() bool { return b.h.count() >= 20 })
	time.Sleep(50 * time.Millisecond) // anything dropped wrongly would show up by now
	for _, it := range b.h.received() {
		if it.Kind != "notify" && it.Kind != "presence" {
			t.Fatalf("a %s item reached the handler", it.Kind)
		}
	}
	if n := b.h.count(); n != 20 {
		t.Fatalf("handler got %d items, want 20 (notify and presence)", n)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, k := range []string{"deliver", "cancel", "notify", "presence"} {
		if asked[k] != 10 {
			t.Errorf("DropOneWay asked %d times about %s, want 10 (asked %v)", asked[k], k, asked)
		}
	}
	if len(asked) != 4 {
		t.Errorf("DropOneWay asked about other kinds: %v", asked)
	}
}
