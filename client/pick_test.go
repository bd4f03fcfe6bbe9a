package client

import (
	"log/slog"
	"slices"
	"testing"
	"time"

	"github.com/roamhq/roam/wire"
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

// TestRedirect_ClientFollowsThreeHopsThenPicksLeastLoaded: four fake
// nodes each redirect the session to the next one; the client follows
// three redirects in a row (0→1→2→3), ignores the fourth (3→0), and
// resumes at the node the last redirect push reports least loaded (1).
func TestRedirect_ClientFollowsThreeHopsThenPicksLeastLoaded(t *testing.T) {
	cl := newFakeCluster(t, 4)
	cl.addUser(t, "alice", "pw")
	var loads []wire.NodeLoad
	for i := 0; i < 4; i++ {
		loads = append(loads, wire.NodeLoad{Addr: cl.addr(i), Sessions: 100})
	}
	loads[1].Sessions = 3
	var seen []int // the node of each login
	cl.mu.Lock()
	cl.redirect = func(node, logins int) *wire.Redirect {
		seen = append(seen, node)
		if logins > 4 {
			return nil
		}
		return &wire.Redirect{Reason: wire.RedirectLoad, Addr: cl.addr((node + 1) % 4), Nodes: loads}
	}
	cl.mu.Unlock()
	cfg := testConfig(t, cl.addr(0))
	c := dialT(t, cfg)
	if err := c.Login(ctxT(t), "alice", "pw"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		cl.mu.Lock()
		n := len(seen)
		got := slices.Clone(seen)
		cl.mu.Unlock()
		if n >= 5 && c.Addr() != "" {
			if want := []int{0, 1, 2, 3, 1}; !slices.Equal(got, want) {
				t.Fatalf("logins at nodes %v, want %v", got, want)
			}
			if c.Addr() != cl.addr(1) {
				t.Fatalf("ended at %s, want node 1 (%s)", c.Addr(), cl.addr(1))
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("logins at nodes %v after 10s", got)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
