package gate

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/roamhq/roam/hlr"
)

// BenchmarkExec measures request round trips over one gate connection on
// loopback with an instant Handler: one caller at a time, and 64
// concurrent callers (pipelined and batched).
func BenchmarkExec(b *testing.B) {
	for _, callers := range []int{1, 64} {
		b.Run(fmt.Sprintf("callers=%d", callers), func(b *testing.B) {
			srv := startNode(b, "b", "", nil, nil)
			cli := startNode(b, "a", "", nil, nil)
			ctx := context.Background()
			cmd := hlr.Cmd{Op: hlr.OpSend, User: "alice", Peer: "bob", Device: "phone", CMID: 1, Body: make([]byte, 100)}
			if _, err := cli.gate.Exec(ctx, srv.addr, 1, cmd); err != nil {
				b.Fatal(err)
			}
			before := cli.gate.Stats()
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ReportAllocs()
			b.ResetTimer()
			for range callers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for next.Add(1) <= int64(b.N) {
						if _, err := cli.gate.Exec(ctx, srv.addr, 1, cmd); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			b.StopTimer()
			after := cli.gate.Stats()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
			b.ReportMetric(float64(after.Frames-before.Frames)/float64(max(after.Batches-before.Batches, 1)), "frames/write")
			ss := srv.gate.Stats()
			b.ReportMetric(float64(ss.Frames)/float64(max(ss.Batches, 1)), "replies/write")
		})
	}
}

// BenchmarkDeliver measures one-way throughput to one peer: b.N Deliver
// items of a 100-byte message, timed until the peer has handed them all to
// its Handler.
func BenchmarkDeliver(b *testing.B) {
	for _, delay := range []time.Duration{0, DefaultConfig().BatchDelay, 2 * time.Millisecond} {
		b.Run(fmt.Sprintf("BatchDelay=%v", delay), func(b *testing.B) {
			h := &fakeHandler{discard: true}
			srv := startNode(b, "b", "", h, nil)
			cli := startNode(b, "a", "", nil, func(c *Config) {
				c.BatchDelay = delay
				c.MaxQueueBytes = 1 << 30 // measure throughput, not drops
			})
			locs := []hlr.Location{{Device: "phone", Node: "b", Epoch: 3}}
			m := &hlr.Message{Seq: 1, ID: 2, From: "bob", FromDevice: "laptop", To: "alice", Body: make([]byte, 100), SentMS: 1, ExpiresMS: 2}
			cli.gate.Deliver(srv.addr, "alice", locs, m)
			for h.n.Load() != 1 {
				time.Sleep(time.Millisecond)
			}
			before := cli.gate.Stats()
			b.ReportAllocs()
			b.ResetTimer()
			const senders = 8
			var wg sync.WaitGroup
			for s := range senders {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := s; i < b.N; i += senders {
						cli.gate.Deliver(srv.addr, "alice", locs, m)
					}
				}()
			}
			wg.Wait()
			want := int64(b.N) + 1 - int64(cli.gate.Stats().Drops)
			for h.n.Load() < want {
				time.Sleep(50 * time.Microsecond)
			}
			b.StopTimer()
			after := cli.gate.Stats()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "items/s")
			b.ReportMetric(float64(after.Frames-before.Frames)/float64(max(after.Batches-before.Batches, 1)), "frames/write")
			b.ReportMetric(float64(after.Drops-before.Drops), "drops")
		})
	}
}
