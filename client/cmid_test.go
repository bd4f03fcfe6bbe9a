package client

import (
	"testing"
	"time"
)

// TestCMID_ClockStepBackDoesNotRepeat is the regression test for issue
// 12.5: client message ids were seeded from the wall clock and not kept
// across restarts, so a process started after the clock stepped back
// could reuse an id of the previous process, and its message was
// acknowledged as a duplicate and never delivered. Here each "restart" is
// a new client that reads the same (stepped-back) wall clock: the ids of
// all of them must differ.
func TestCMID_ClockStepBackDoesNotRepeat(t *testing.T) {
	cl := newFakeCluster(t, 1)
	wall := time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	seen := make(map[uint64]int)
	for run := 0; run < 20; run++ {
		cfg := testConfig(t, cl.addr(0))
		cfg.now = func() time.Time { return wall } // stepped back to the same reading each time
		c := dialT(t, cfg)
		for i := 0; i < 100; i++ {
			id := c.NextCMID()
			if id == 0 {
				t.Fatal("cmid 0")
			}
			if prev, dup := seen[id]; dup {
				t.Fatalf("run %d repeated cmid %d of run %d", run, id, prev)
			}
			seen[id] = run
		}
		c.Close()
	}
}
