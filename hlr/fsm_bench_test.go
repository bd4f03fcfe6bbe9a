package hlr

import (
	"fmt"
	"log/slog"
	"testing"

	"github.com/cockroachdb/pebble"
	"github.com/cockroachdb/pebble/bloom"
	"github.com/cockroachdb/pebble/vfs"
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

// BenchmarkFSM_SendAfterManyDevices measures one send (one Raft entry of
// one command) to a user who has one attached device, after that user
// logged in from devices-1 other, fresh device ids that each logged out
// again. A send must cost the same whatever the number of past devices:
// the partition's whole apply loop waits behind it.
func BenchmarkFSM_SendAfterManyDevices(b *testing.B) {
	for _, devices := range []int{1, 50_000} {
		b.Run(fmt.Sprintf("devices=%d", devices), func(b *testing.B) {
			r := newRig(b, 1)
			r.fsm.log = slog.New(slog.DiscardHandler)
			r.register("ann", "bob")
			r.befriend("ann", "bob")
			// Logins in entries of 10, each device logged out again
			// (the epoch a purge needs comes from the login's result).
			for d := 1; d < devices; d += 10 {
				var logins []Cmd
				for i := d; i < d+10 && i < devices; i++ {
					dev := fmt.Sprintf("old-%d", i)
					logins = append(logins, Cmd{Op: OpLogin, User: "bob", Device: dev, Node: "n1", Token: []byte(dev), TTLMS: 3_600_000, CredGen: 1})
				}
				var purges []Cmd
				for i, res := range r.do(logins...) {
					purges = append(purges, Cmd{Op: OpPurge, User: "bob", Device: logins[i].Device, Epoch: res.Epoch})
				}
				r.do(purges...)
			}
			r.one(Cmd{Op: OpLogin, User: "bob", Device: "phone", Node: "n1", Token: []byte("phone"), TTLMS: 3_600_000, CredGen: 1})
			body := []byte("a message body of about sixty bytes, like a short chat line")
			entries := make([]*raft.Log, b.N)
			for n := range entries {
				entries[n] = r.entry(Cmd{Op: OpSend, User: "bob", Peer: "ann", Device: "d", CMID: uint64(n + 1), Body: body, TTLMS: 60_000})
			}
			b.ReportAllocs()
			b.ResetTimer()
			for n := 0; n < b.N; n++ {
				out := r.fsm.ApplyBatch(entries[n : n+1])
				res, ok := out[0].([]Result)
				if !ok || res[0].Status != StatusOK || delivery(res[0]) == nil || len(delivery(res[0]).Locs) != 1 {
					b.Fatalf("send: %+v", out[0])
				}
			}
		})
	}
}

// BenchmarkFSM_SendIntoBusyPartition measures sends (entries of 64, as in
// BenchmarkFSM_ApplyBatchSends) into a partition that already holds 200,000
// messages, on a Pebble store with the node's memtable size (node/db.go),
// so that a dedup lookup that misses searches a large memtable and the
// flushed tables: with the partition's dedup filter (dedup_filter.go) and
// without it, with and without Bloom filters in the tables. ns/op is per
// entry; the ratio of the filter's rows to the others' is the figure.
func BenchmarkFSM_SendIntoBusyPartition(b *testing.B) {
	for _, c := range []struct {
		name          string
		filter, bloom bool
	}{{"dedupfilter=off/tablebloom=off", false, false}, {"dedupfilter=on/tablebloom=off", true, false},
		{"dedupfilter=off/tablebloom=on", false, true}, {"dedupfilter=on/tablebloom=on", true, true}} {
		b.Run(c.name, func(b *testing.B) {
			opts := &pebble.Options{FS: vfs.NewMem(), MemTableSize: 64 << 20}
			if c.bloom {
				opts.Levels = make([]pebble.LevelOptions, 7)
				for i := range opts.Levels {
					opts.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
				}
			}
			db, err := pebble.Open("", opts)
			if err != nil {
				b.Fatal(err)
			}
			defer db.Close()
			f, err := NewFSM(db, 1, slog.New(slog.DiscardHandler))
			if err != nil {
				b.Fatal(err)
			}
			r := &fsmRig{t: b, db: db, fsm: f, now: 1_000_000}
			const pairs = 64
			for i := 0; i < pairs; i++ {
				r.register(fmt.Sprintf("s%d", i), fmt.Sprintf("r%d", i))
				r.befriend(fmt.Sprintf("s%d", i), fmt.Sprintf("r%d", i))
			}
			body := []byte("a message body of about sixty bytes, like a short chat line")
			cmid := uint64(0)
			entry := func() *raft.Log {
				cmds := make([]Cmd, pairs)
				for i := range cmds {
					cmid++
					cmds[i] = Cmd{Op: OpSend, User: fmt.Sprintf("r%d", i), Peer: fmt.Sprintf("s%d", i), Device: "d", CMID: cmid, Body: body, TTLMS: 3_600_000}
				}
				return r.entry(cmds...)
			}
			for n := 0; n < 200_000/pairs; n++ {
				r.fsm.ApplyBatch([]*raft.Log{entry()})
			}
			if !c.filter {
				r.fsm.dedup = nil
			}
			entries := make([]*raft.Log, b.N)
			for n := range entries {
				entries[n] = entry()
			}
			b.ReportAllocs()
			b.ResetTimer()
			for n := 0; n < b.N; n++ {
				out := r.fsm.ApplyBatch(entries[n : n+1])
				if res, ok := out[0].([]Result); !ok || res[0].Status != StatusOK || res[0].Dup {
					b.Fatalf("apply: %v", out[0])
				}
			}
			b.ReportMetric(float64(b.N*pairs)/b.Elapsed().Seconds(), "cmds/s")
		})
	}
}
