package gate

import (
	"context"
	"testing"
	"time"

	"github.com/roamhq/roam/hlr"
)

// TestResetConnections_ClosesBothDirectionsAndPeersRedial: a reset on b
// closes the connection a opened to b and the one b opened to a; both
// sides count the loss, and the next requests in either direction redial
// and succeed.
func TestResetConnections_ClosesBothDirectionsAndPeersRedial(t *testing.T) {
	a := startNode(t, "a", "", nil, nil)
	b := startNode(t, "b", "", nil, nil)
	ctx := context.Background()
	exec := func(from, to *testNode) error {
		_, err := from.gate.Exec(ctx, to.addr, 1, hlr.Cmd{Seq: 1})
		return err
	}
	if err := exec(a, b); err != nil {
		t.Fatal(err)
	}
	if err := exec(b, a); err != nil {
		t.Fatal(err)
	}
	if n := b.gate.ResetConnections(); n != 2 {
		t.Fatalf("ResetConnections closed %d connections, want 2 (one each way)", n)
	}
	waitFor(t, 5*time.Second, "both outgoing connections seen lost", func() bool {
		return a.gate.Stats().ConnsLost >= 1 && b.gate.Stats().ConnsLost >= 1
	})
	dialsA, dialsB := a.gate.Stats().Dials, b.gate.Stats().Dials
	for _, dir := range [][2]*testNode{{a, b}, {b, a}} {
		waitFor(t, 10*time.Second, "a request after the reset", func() bool { return exec(dir[0], dir[1]) == nil })
	}
	if a.gate.Stats().Dials == dialsA || b.gate.Stats().Dials == dialsB {
		t.Fatalf("no redial after the reset: a %+v, b %+v", a.gate.Stats(), b.gate.Stats())
	}
	if n := b.gate.ResetConnections(); n != 2 {
		t.Fatalf("second reset closed %d connections, want 2", n)
	}
}
