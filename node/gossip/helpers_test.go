package gossip

import (
	"log/slog"
	"os"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/roamhq/roam/internal/roamdproc"
)

var testKey = []byte("0123456789abcdef0123456789abcdef")

var testParams = ClusterParams{ClusterID: "cluster-1", Partitions: 64, Replicas: 3}

// testLogger logs at Info, or Debug (memberlist's lines too) with
// ROAM_GOSSIP_DEBUG=1, to t.Log until the test's cleanups are done.
func testLogger(t testing.TB, node string) *slog.Logger {
	lvl := slog.LevelInfo
	if os.Getenv("ROAM_GOSSIP_DEBUG") != "" {
		lvl = slog.LevelDebug
	}
	return roamdproc.TestLogger(t, lvl).With("node", node)
}

// checkLeaks registers a cleanup, to run after every later cleanup (the
// nodes' Shutdown), that polls until no goroutine started by the test is
// left: memberlist's goroutines exit shortly after Shutdown returns.
func checkLeaks(t *testing.T) {
	t.Helper()
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() {
		// goleak.Find itself retries for about a second; keep polling
		// longer, then let VerifyNone report what is left.
		deadline := time.Now().Add(10 * time.Second)
		for goleak.Find(ignore) != nil && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		goleak.VerifyNone(t, ignore)
	})
}

// testConfig is a loopback node with fast timing.
func testConfig(t testing.TB, id string, params *ClusterParams) Config {
	cfg := DefaultConfig()
	cfg.NodeID = id
	cfg.BindAddr = "127.0.0.1:0"
	cfg.SecretKey = testKey
	cfg.Fast = true
	cfg.Params = params
	cfg.Meta = Meta{ClientAddr: "127.0.0.1:1" + id, InternalAddr: "127.0.0.1:2" + id}
	cfg.Logger = testLogger(t, id)
	return cfg
}

func startNode(t testing.TB, cfg Config) *Gossip {
	t.Helper()
	g, err := New(cfg)
	if err != nil {
		t.Fatalf("New(%s): %v", cfg.NodeID, err)
	}
	t.Cleanup(func() {
		if err := g.Shutdown(); err != nil {
			t.Errorf("Shutdown(%s): %v", cfg.NodeID, err)
		}
	})
	return g
}

// waitFor polls cond until it holds or timeout passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func member(g *Gossip, id string) (Member, bool) {
	for _, m := range g.Members() {
		if m.ID == id {
			return m, true
		}
	}
	return Member{}, false
}

func countState(g *Gossip, st State) int {
	n := 0
	for _, m := range g.Members() {
		if m.State == st {
			n++
		}
	}
	return n
}
