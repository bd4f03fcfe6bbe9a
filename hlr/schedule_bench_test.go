package hlr

import (
	"fmt"
	"log/slog"
	"testing"

	"github.com/hashicorp/raft"
)

// BenchmarkFSM_SendWithPendingSchedules measures entries of 64 sends in
// a partition that holds no pending schedules against one that holds
// 100,000 (64 senders with about 1,560 each, spread over a year), and the
// scheduler's read of the earliest action there:
//
//	go test -run '^$' -bench SendWithPendingSchedules -benchtime 2000x ./hlr
func BenchmarkFSM_SendWithPendingSchedules(b *testing.B) {
	for _, pending := range []int{0, 100_000} {
		b.Run(fmt.Sprintf("pending=%d", pending), func(b *testing.B) {
			r := newRig(b, 1)
			r.fsm.log = slog.New(slog.DiscardHandler)
			const pairs = 64
			for i := 0; i < pairs; i++ {
				r.register(fmt.Sprintf("s%d", i), fmt.Sprintf("r%d", i))
				r.befriend(fmt.Sprintf("s%d", i), fmt.Sprintf("r%d", i))
			}
			lim := &SchedLimits{PerConv: 2000, PerUser: 2000}
			for k := 0; k < pending; k += 100 {
				var cmds []Cmd
				for j := k; j < k+100 && j < pending; j++ {
					u := j % pairs
					cmds = append(cmds, Cmd{Op: OpSchedCreate, User: fmt.Sprintf("s%d", u), Peer: fmt.Sprintf("r%d", u), Device: "d",
						CMID: uint64(j + 1), Body: []byte("later"), TTLMS: 60_000, AtMS: r.now + 60_000 + int64(j)*300_000, Sched: lim})
				}
				for _, res := range r.do(cmds...) {
					if res.Status != StatusOK {
						b.Fatalf("create: %v", res.Status)
					}
				}
			}
			body := []byte("a message body of about sixty bytes, like a short chat line")
			cmid := uint64(0)
			entries := make([]*raft.Log, b.N)
			for n := range entries {
				cmds := make([]Cmd, pairs)
				for i := range cmds {
					cmid++
					cmds[i] = Cmd{Op: OpSend, User: fmt.Sprintf("r%d", i), Peer: fmt.Sprintf("s%d", i), Device: "d", CMID: cmid, Body: body, TTLMS: 60_000}
				}
				entries[n] = r.entry(cmds...)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for n := 0; n < b.N; n++ {
				out := r.fsm.ApplyBatch(entries[n : n+1])
				if res, ok := out[0].([]Result); !ok || res[0].Status != StatusOK {
					b.Fatalf("apply: %v", out[0])
				}
			}
			b.ReportMetric(float64(b.N*pairs)/b.Elapsed().Seconds(), "cmds/s")
			b.StopTimer()
			v := r.view()
			n := 0
			if err := v.SchedActions(func(SchedAction) bool { n++; return true }); err != nil {
				b.Fatal(err)
			}
			if n != pending {
				b.Fatalf("only %d schedules pending", n)
			}
		})
	}
}
