// Package raftnet is the multi-Raft transport: every partition's Raft
// group on a node talks to its peers over one connection per peer node,
// not a pool of connections per group.
//
// A Net belongs to a node; Net.Transport(pid) gives each partition a
// raft.Transport (with WithPreVote and WithClose, and AppendPipeline when
// Config.MaxInFlight > 1). The mux hands incoming connections of the
// raftnet kind to Net.Serve.
//
// # Why
//
// With raft's NetworkTransport each group has its own connections, and
// every AppendEntries, vote and answer is its own write and flush: with
// 64 partitions the syscalls alone took a fifth of a node's CPU, and
// heartbeats needed a side channel to be coalesced. Here a node sends
// each peer everything on one connection, and a writer goroutine per
// peer writes whatever every partition queued meanwhile with one Write
// (CockroachDB and TiKV batch Raft messages per store pair the same way).
//
// # Streams
//
// The mux kind's argument selects the stream:
//
//   - StreamRPC: the dialling node's requests, for any partition, and the
//     answers to them, in frames. Each node dials each peer once (while
//     the connection stays up), so a pair of nodes has two connections,
//     one per direction of requests.
//   - StreamSnapshot: one InstallSnapshot request frame, then the
//     snapshot's Size bytes, then one answer frame; the connection then
//     closes. Snapshots do not share the RPC stream, so a large one never
//     holds up the heartbeats behind it.
//
// # Frames
//
//	+----------------+------+-----------+----------------+------ ... ---+
//	| length uint32  | type | partition | sequence       | body         |
//	| (what follows) | u8   | u16       | u64            |              |
//	+----------------+------+-----------+----------------+------ ... ---+
//
// A request's type is one of tAppend, tVote, tPreVote, tTimeoutNow,
// tHeartbeat, tSnapshot (an append-only registry, codec.go); its answer has
// the same type with the high bit set, the same partition and sequence
// number, and a body that starts with the remote error (a length-prefixed
// string, empty for none). AppendEntries, heartbeats and their answers
// have a hand-written binary body (varints, length-prefixed bytes: no
// allocation but the frame itself and the entries, every length checked
// against what remains); the rare ones are msgpack, decoded strictly with
// wire.Decode. Answers come back in any order across partitions, in order
// within a partition.
//
// # Ordering and the fast path
//
// The receiver answers heartbeats from the connection's reader, at once
// (raft's heartbeat fast path: never behind a partition's disk writes),
// except a heartbeat of a newer term than the partition's: that one goes
// through the partition's queue to raft's main goroutine, because raft's
// fast path would change the term beside a leader loop that may be
// writing an entry with it (Transport.fastPath; hashicorp/raft#695).
// Every other request goes to a queue per partition, drained in order by
// a goroutine that exists while the queue has work, so a partition that
// is slow with its disk holds up no other partition and a pipeline's
// appends are applied in the order they were sent.
//
// # Heartbeats
//
// raft sends each follower a heartbeat every HeartbeatTimeout/10 from
// each group. A heartbeat waits for its peer's window (one timer per
// peer, Config.HeartbeatWindow): the first one queued arms it, and every
// heartbeat of every partition queued until it fires goes out in the
// same write. An on-demand heartbeat (VerifyLeader) waits up to the
// window too; every heartbeat is sent after raft asked for it, so a
// confirmation of leadership is never older than the request.
//
// # Security
//
// Connections come from the mux, mutually authenticated with TLS. Every
// request carries raft's RPCHeader.ID, the sender's Raft server id, which
// here is its node id: it must be the node id the connection's
// certificate proved (Config.Identify), or the request is refused and
// counted (Stats.Refused). So a member cannot speak for another member
// in any Raft RPC, not only heartbeats. With Config.Insecure (a
// plaintext internal port, for measuring what TLS costs) nothing is
// checked.
//
// # Timeouts and failures
//
// Every RPC has its own timeout (Config.Timeout; HeartbeatTimeout for
// heartbeats); a late answer is dropped. A connection is closed when it
// fails to read or write, or when an RPC times out and nothing at all has
// come back on it for as long (the peer is gone or frozen); its calls
// fail and the next request dials again.
//
// # Goroutines
//
// Per peer node: a writer (peer.run), and a reader per connection
// (clientConn.readLoop). Per incoming connection: the mux's handler
// goroutine reads, a writer answers, and a drain goroutine per partition
// while that partition has queued requests. Per pipeline: a deliverer.
// Net.Close stops them all; Transport.Close releases a partition.
package raftnet
