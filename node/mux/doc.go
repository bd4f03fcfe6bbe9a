// Package mux lets every kind of node-to-node traffic share one internal TCP
// port, and authenticates every connection on it with mutual TLS 1.3.
//
// Each node listens on a single internal address. Every Raft group (one per
// partition) and every other internal protocol gets its own connections on
// that port; the first bytes of a connection say where it belongs. This is
// the design of rqlite's tcp/mux.go, extended with a partition id because a
// node runs one Raft group per partition.
//
// # Security
//
// Every connection, of every kind, starts with a TLS 1.3 handshake (ALPN
// "roam-internal/1") in which both sides present a node certificate of
// the cluster (package pki: a CA derived from the cluster key, or the
// operator's). The accepting side requires a client certificate that
// chains to the cluster CA, with the client-auth usage, naming a node id
// (URI SAN roam://node/<id>); the dialling side requires the same of the
// server, with the server-auth usage. Host names are not checked: nodes
// dial IP addresses, and the node id is the identity. A peer that fails
// — plaintext, no certificate, another cluster's, self-signed, expired —
// gets a TLS alert or a close and nothing else: the mux never reads its
// header, and no stream layer or handler sees the connection.
//
// The handshake runs in the connection's own goroutine under the header
// timeout, never in the accept loop, so a silent or slow peer holds up
// nobody else. Handshakes happen only when a connection opens: the Raft
// transport (package raftnet) and the gate keep one persistent
// connection to each peer. Session tickets are off, so every
// connection shows a certificate.
//
// PeerNodeID(conn) returns the node id the peer's certificate proved, on
// both sides. Protocols that carry a node id of their own compare it: the
// gate's hello, and every Raft RPC's server id (package raftnet). Only a
// RaftLayer's streams cannot (hashicorp/raft decodes RPCs inside its
// NetworkTransport, with no hook per connection); package node no longer
// uses them.
//
// Security{InsecurePlaintext: true} turns all of this off, for measuring
// what TLS costs. PeerNodeID then reports verified = false, and Insecure
// tells the protocols why.
//
// # Header
//
// Inside TLS, the dialing side writes a fixed 3-byte header before
// anything else:
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
//	               (RaftLayer; package node no longer uses it)
//	'G' KindGate   package gate: requests to partition leaders and the
//	               jump gate (deliveries, Cancel Location, presence);
//	               arg = gate protocol version
//	'A' KindAdmin  package node: a partition's status, for the reconciler
//	'H'            package node: coalesced Raft heartbeats (retired: now
//	               part of 'M'; never reused)
//	'M' KindRaftNet package raftnet: every partition's Raft RPCs on one
//	               connection per node pair; arg = stream (RPC, snapshot)
//
// A protocol that changes incompatibly gets a new kind rather than a
// version field. The header must arrive within the header timeout
// (DefaultHeaderTimeout), counted from the connection's accept, handshake
// included. A connection with a late or short header, an
// unregistered kind, or a partition no stream layer is open for is closed
// and logged; the mux keeps serving everybody else.
//
// # Goroutines
//
// The mux owns one accept loop and, per incoming connection, one goroutine
// that runs the handshake, reads the header and hands the connection over: to the partition's
// stream layer (whose Accept returns it), or to a handler registered with
// Handle, which then runs in that goroutine. Close stops the accept loop,
// closes every connection the mux or its stream layers have handed out,
// unblocks every Accept and waits for all of these goroutines, handlers
// included.
package mux
