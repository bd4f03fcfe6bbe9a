package node_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/roamhq/roam/hlr"
	"github.com/roamhq/roam/node"
	"github.com/roamhq/roam/node/clustertest"
)

// TestQuietLeaders: every partition's leader runs with the quiet
// heartbeat timeout and every follower with the configured one; a leader
// cut off from the others steps down and goes back to the configured
// timing, and the new leaders become quiet.
func TestQuietLeaders(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test")
	}
	const partitions = 4
	timing := hlr.RaftTiming{HeartbeatTimeout: 300 * time.Millisecond, ElectionTimeout: 300 * time.Millisecond, LeaderLeaseTimeout: 200 * time.Millisecond}
	quiet, ok := node.QuietHeartbeat(timing)
	if !ok || quiet != 500*time.Millisecond {
		t.Fatalf("quiet heartbeat %v %v", quiet, ok)
	}
	c := clustertest.New(t, 3, clustertest.Options{Partitions: partitions, Configure: func(_ int, cfg *node.Config) {
		cfg.HLR.Raft.LeaderLeaseTimeout = timing.LeaderLeaseTimeout
	}})
	c.WaitLeaders(30 * time.Second)
	// check reports the first replica on the wrong timing, or "".
	check := func() string {
		for pid := range uint16(partitions) {
			leaders := 0
			for _, i := range c.Alive() {
				if r, ok := c.Node(i).Raft(pid); ok && r.State() == raft.Leader {
					leaders++
				}
			}
			if leaders != 1 {
				return fmt.Sprintf("partition %d has %d leaders", pid, leaders)
			}
			for _, i := range c.Alive() {
				r, ok := c.Node(i).Raft(pid)
				if !ok {
					continue
				}
				want := timing.HeartbeatTimeout
				if r.State() == raft.Leader {
					want = quiet
				}
				if got := r.ReloadableConfig().HeartbeatTimeout; got != want {
					return c.Node(i).ID() + " " + r.State().String() + ": " + got.String() + ", want " + want.String()
				}
			}
		}
		return ""
	}
	waitFor := func(what string) {
		t.Helper()
		var last string
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if last = check(); last == "" {
				return
			}
		}
		t.Fatalf("%s: %s", what, last)
	}
	waitFor("after the start")

	// Cut partition 0's leader off: it steps down (its lease runs out)
	// and goes back to the configured timing while the others elect a
	// new, quiet leader.
	old, oldIdx := (*raft.Raft)(nil), -1
	for _, i := range c.Alive() {
		if r, ok := c.Node(i).Raft(0); ok && r.State() == raft.Leader {
			old, oldIdx = r, i
		}
	}
	if old == nil {
		t.Fatal("partition 0 has no leader")
	}
	c.Isolate(oldIdx, true)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		last := check()
		if last == "" && old.State() != raft.Leader {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the leader was cut off: %s (old leader %v, heartbeat %v)", last, old.State(), old.ReloadableConfig().HeartbeatTimeout)
		}
	}
	c.Isolate(oldIdx, false)
	waitFor("after the cut healed")
}
