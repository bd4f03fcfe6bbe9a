// Package mux lets every kind of node-to-node traffic share one internal TCP
// port.
//
// Each node listens on a single internal address. Every Raft group (one per
// partition) and every other internal protocol gets its own connections on
// that port; the first bytes of a connection say where it belongs. This is
// the design of rqlite's tcp/mux.go, extended with a partition id because a
// node runs one Raft group per partition.
//
// # Header
//
// The dialing side writes a fixed 3-byte header before anything else:
//
//	+--------+--------+--------+
//	|  kind  |  arg (uint16 BE) |
//	+--------+--------+--------+
//
// kind selects the protocol that follows; arg is a kind-specific 16-bit
// argument. For KindRaft it is the partition id. The rest of the connection
// belongs to that protocol; the mux never reads or writes another byte.
//
// Kinds are an append-only registry; a value, once assigned, is never
// reused for another protocol:
//
//	'R' KindRaft   hashicorp/raft NetworkTransport RPCs of partition arg
//	'G' KindGate   jump-gate traffic: forwarded messages, Cancel Location
//	               and presence, batched per destination node (reserved)
//	'A' KindAdmin  operator and membership requests (reserved)
//
// A protocol that changes incompatibly gets a new kind rather than a
// version field. The header must arrive within the header timeout
// (DefaultHeaderTimeout). A connection with a late or short header, an
// unregistered kind, or a partition no stream layer is open for is closed
// and logged; the mux keeps serving everybody else.
//
// # Goroutines
//
// The mux owns one accept loop and, per incoming connection, one goroutine
// that reads the header and hands the connection over: to the partition's
// stream layer (whose Accept returns it), or to a handler registered with
// Handle, which then runs in that goroutine. Close stops the accept loop,
// closes every connection the mux or its stream layers have handed out,
// unblocks every Accept and waits for all of these goroutines, handlers
// included.
package mux
