package client

import (
	"log/slog"
	"slices"
	"testing"
	"time"
)

// TestRedirect_PickOrdersLeastLoadedByRTT: among the nodes within the
// slack of the least loaded, the shortest round trip first; then the
// more loaded by load; nodes of unknown load last, in their order.
func TestRedirect_PickOrdersLeastLoadedByRTT(t *testing.T) {
	p := nodePick{
		loads: map[string]uint32{"a": 100, "b": 105, "c": 300, "d": 200},
		rtt:   map[string]time.Duration{"a": 9 * time.Millisecond, "b": time.Millisecond, "c": 0, "d": time.Millisecond},
	}
	got := p.order([]string{"e", "c", "a", "d", "b", "f"})
	want := []string{"b", "a", "d", "c", "e", "f"}
	if !slices.Equal(got, want) {
		t.Fatalf("order %v, want %v", got, want)
	}
	var none nodePick
	if got := none.order([]string{"x", "y"}); !slices.Equal(got, []string{"x", "y"}) {
		t.Fatalf("with nothing known: %v", got)
	}
}

// TestRedirect_FollowsAtMostThreeHops: the fourth redirect in a row is
// ignored (the client picks a node itself); a healthy connection starts
// the count again.
func TestRedirect_FollowsAtMostThreeHops(t *testing.T) {
	c := &Client{log: slog.New(slog.DiscardHandler)}
	for i, addr := range []string{"n1", "n2", "n3"} {
		c.followRedirectLocked(addr)
		if c.redirect != addr {
			t.Fatalf("hop %d: redirect %q, want %q", i+1, c.redirect, addr)
		}
	}
	c.followRedirectLocked("n4")
	if c.redirect != "" {
		t.Fatalf("hop 4 followed: %q", c.redirect)
	}
	c.pick.hops = 0 // what a connection that stayed up does
	c.followRedirectLocked("n5")
	if c.redirect != "n5" {
		t.Fatalf("after a reset: %q", c.redirect)
	}
}
