// Package hlr is roam's home location register: the replicated, durable
// state of every user (account and credentials, sessions, device
// locations, friend graph, inbox streams), split into P partitions. Each
// partition is one hashicorp/raft group whose log, stable store and state
// machine all live in the node's single Pebble DB (see package keyspace for
// the key layout and package logstore for the Raft stores).
//
// # Pieces
//
//   - Host runs the partitions one node replicates. New(cfg, db, effects)
//     creates it with no partition open; Start(router) runs its
//     maintenance (outbox delivery, expiry); Shutdown stops everything. The
//     host never closes the Pebble DB it was given. Host.OnLeader
//     subscribes to leadership changes (leader.go): work only a leader
//     does in memory starts and stops on it.
//   - Partition is one open Raft group. Host.Open(pid, transport, bootstrap)
//     starts it; Host.Close(pid, drop) stops it and, with drop, deletes its
//     log, stable store, state and snapshots.
//   - Cmd is a write (Op says which; the comments on the Op constants list
//     the fields each uses). Partition.Exec proposes it and returns its
//     Result once it is committed by a quorum and applied.
//     A command belongs to the partition of its key (Cmd.Key: the user,
//     "g/" + a group's name, or "r/" ns "/" name for a role's claim),
//     ring.PartitionOf(key, P).
//   - Query is a read of one user's data; Partition.Query answers it with an
//     Answer, and Partition.View gives direct read access.
//   - Effects is implemented by the node: the apply code decides, as
//     values in Result.Effects (effect.go), what the leader must do once a
//     command commits — DeliverEffect, CancelEffect (Cancel Location, with
//     its reason), FriendEffect — and the leader hands them to
//     Effects.Run.
//   - Router is implemented by the node too: it runs a Cmd at the leader of
//     cmd.Key()'s home partition, wherever that is. The leader of a partition
//     uses it to deliver its outbox, the commands that the other half of a
//     two-user operation (friendship, account deletion) needs in another
//     partition.
//
// # Typical use
//
//	cfg := hlr.DefaultConfig()
//	cfg.NodeID, cfg.SnapshotDir, cfg.Logger = "n1", "/var/lib/roam/snapshots", logger
//	h, err := hlr.New(cfg, db, myEffects)
//	h.OnLeader(func(pid uint16, leader bool) { ... })
//	h.Start(myRouter) // myRouter may use h: it comes after New
//
//	// Bootstrap is passed on every start; it is used only when this node
//	// has no Raft state for the partition, so a restart never bootstraps
//	// again. Exactly one node of a new cluster should pass it.
//	p, err := h.Open(pid, transport, []raft.Server{{ID: "n1", Address: addr}})
//
//	res, err := p.Exec(ctx, hlr.Cmd{Op: hlr.OpRegister, User: "alice", Creds: creds})
//	ans, err := p.Query(ctx, hlr.Query{Kind: hlr.QueryAccount, User: "alice", Linear: true})
//
// Exec and Query run only at the partition's leader; anywhere else they
// return ErrNotLeader, and Partition.Leader tells where the leader is. An
// Exec that returns ErrTimeout, ErrNotLeader after proposing, or ErrClosed
// may still have committed, so a retry must expect either outcome: sends
// are deduplicated by (sender, device, client message id) and get their
// original acknowledgement back; a repeated OpRegister answers StatusExists;
// friend and cursor commands are idempotent.
//
// Logical outcomes are not errors: they are Result.Status values (for
// example StatusExists for a taken user name, StatusRefused for a send to a
// stranger). Errors mean the command's fate is unknown or the partition is
// unavailable.
//
// # Per-user bounds
//
// What a client can make a user's state grow by is bounded, with the bound
// carried in the command (Cmd.Limit; 0 means the default) so that apply
// depends on the log alone: a user keeps at most DefaultMaxDevices devices
// (a login from one more evicts the oldest detached device, else the
// oldest attached one, which gets a CancelEffect), one session per
// device, and at most DefaultMaxBlocks blocks. A user's devices are one
// record and the attached ones another, both point lookups, so a send
// costs the same whatever devices came and went before (subkeys.go lists
// every key).
//
// # Reads
//
// Query with Linear set is linearizable: it sees every write acknowledged
// before it started. The leader commits a Raft barrier once per term (so the
// state machine holds everything earlier leaders committed) and each read
// confirms leadership with VerifyLeader, one round shared by all concurrent
// readers. Without Linear the read is served from the leader's current
// state, which may be stale just after a leadership change; that is enough
// before a conditional write (a login checks the credential generation it
// read when it commits).
//
// # Writes and batching
//
// Each partition's proposer packs whatever commands are waiting (up to
// Config.MaxBatchCmds commands or MaxBatchBytes bytes) into one Raft entry
// and keeps at most a few entries in flight, so batches grow with the load
// and an idle partition adds no latency. The state machine applies a batch
// of entries in one Pebble batch that also records the applied index.
//
// # Durability
//
// An entry is acknowledged only after the Raft log holding it was written
// with fsync on a quorum (logstore.StoreLogs commits with pebble.Sync). The
// state machine commits its batches without fsync and records the applied
// index in the same batch: after a crash Raft replays the synced log and the
// state machine skips the entries it already has. Snapshots sync the DB
// before Raft may truncate the log behind them; a state machine found
// behind the latest snapshot at start (for example after a crash during a
// snapshot install) is restored from it. The power-loss tests in this
// package and in logstore check this on Pebble's strict in-memory file
// system.
//
// # Threads
//
// Every Partition owns its Raft goroutines and two proposer goroutines; the
// Host owns one maintenance goroutine that lets each partition it leads
// deliver its outbox and expire old messages and sessions every
// Config.MaintainInterval. All exported methods are safe for concurrent use.
package hlr
