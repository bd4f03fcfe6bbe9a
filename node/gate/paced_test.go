package gate

import (
	"fmt"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/roamhq/roam/hlr"
)

// TestDeliverPaced_WritesAndCPU measures what BatchDelay buys on a steady
// stream of evenly spaced one-way items: writes per second and the CPU
// the two gates spend (the sender's busy-wait pacing is measured alone
// and subtracted). It is a measurement, not a check: run it with
//
//	ROAM_GATE_PACED=1 go test -run TestDeliverPaced -v ./node/gate
func TestDeliverPaced_WritesAndCPU(t *testing.T) {
	if os.Getenv("ROAM_GATE_PACED") == "" {
		t.Skip("set ROAM_GATE_PACED=1 to run this measurement")
	}
	const run = time.Second
	locs := []hlr.Location{{Device: "phone", Node: "b", Epoch: 3}}
	m := &hlr.Message{Seq: 1, ID: 2, From: "bob", FromDevice: "laptop", To: "alice", Body: make([]byte, 100)}
	for _, rate := range []int{10000, 40000} {
		gap := time.Second / time.Duration(rate)
		pace := func(send func()) (n int) {
			start := time.Now()
			for time.Since(start) < run {
				for time.Since(start) < time.Duration(n)*gap {
				}
				send()
				n++
			}
			return n
		}
		c0 := cpuTime()
		pace(func() {})
		spin := cpuTime() - c0
		for _, delay := range []time.Duration{0, 200 * time.Microsecond, 500 * time.Microsecond, time.Millisecond} {
			t.Run(fmt.Sprintf("rate=%d/BatchDelay=%v", rate, delay), func(t *testing.T) {
				h := &fakeHandler{discard: true}
				srv := startNode(t, "b", "", h, nil)
				cli := startNode(t, "a", "", nil, func(c *Config) { c.BatchDelay = delay })
				cli.gate.Deliver(srv.addr, "alice", locs, m)
				waitFor(t, 5*time.Second, "connection", func() bool { return h.n.Load() == 1 })
				c0 := cpuTime()
				n := pace(func() { cli.gate.Deliver(srv.addr, "alice", locs, m) })
				waitFor(t, 5*time.Second, "all items", func() bool { return h.n.Load() == int64(n+1) })
				cpu := cpuTime() - c0 - spin
				st := cli.gate.Stats()
				t.Logf("%d items/s, BatchDelay %v: %d writes/s (%.1f items each), gate CPU %.0f%% of a core",
					rate, delay, st.Batches, st.FramesPerBatch(), 100*cpu.Seconds()/run.Seconds())
			})
		}
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
