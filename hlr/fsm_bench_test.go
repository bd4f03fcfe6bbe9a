package hlr

import (
	"fmt"
	"log/slog"
	"testing"

	"github.com/hashicorp/raft"
)

// BenchmarkFSM_ApplyBatchSends measures the state machine alone applying
// Raft entries of 64 sends each (the durable-send hot path without Raft
// and the network): ns/op is per entry, and the cmds/s metric per command.
func BenchmarkFSM_ApplyBatchSends(b *testing.B) {
	r := newRig(b, 1)
	r.fsm.log = slog.New(slog.DiscardHandler)
	const pairs = 64
	for i := 0; i < pairs; i++ {
		r.register(fmt.Sprintf("s%d", i), fmt.Sprintf("r%d", i))
		r.befriend(fmt.Sprintf("s%d", i), fmt.Sprintf("r%d", i))
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
}
