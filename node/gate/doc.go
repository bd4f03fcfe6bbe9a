// Package gate carries all node-to-node traffic except Raft and its
// heartbeats: requests forwarded to the leader of a partition on another
// node, the jump gate, which forwards a partition leader's post-commit
// effects (messages to deliver, Cancel Location, friend events), presence,
// delivery repair and partition status. It knows none of them: each is a
// kind, a frame type the node registers with its Handler, the way
// mux.Handle registers a stream.
//
// # Use
//
// A node makes one Gate on its internal-port multiplexer, registers every
// kind it serves, and starts it:
//
//	cfg := gate.DefaultConfig()
//	cfg.NodeID, cfg.Mux, cfg.Logger = id, mx, logger
//	g, err := gate.New(cfg)
//	g.Handle(kindDeliver, gate.OneWay("deliver", func(from string, b *deliverBody) { ... }))
//	g.Handle(kindExec, gate.Request("exec", func(ctx context.Context, from string, r *execReq) (*execResp, error) { ... }))
//	g.Start() // registers mux.KindGate ('G') on mx: serving from now on
//	...
//	err = g.Call(ctx, leaderAddr, kindExec, &execReq{...}, &resp) // waits for the reply
//	g.Send(nodeAddr, kindDeliver, &deliverBody{...})              // one-way, returns at once
//	...
//	g.Forget(addr) // a node left: close its connection
//	g.Close()      // then mx.Close(); safe twice
//
// Sending and calling work from New on; the gate serves other nodes only
// from Start, which takes the registry as it is (Handle after Start
// panics, as do a kind registered twice and the gate's own kinds). The
// Handler gets the sending node's id (from its hello, checked against its
// certificate), so a reply can go back to it. A request body that embeds
// Deadline (`msgpack:",inline"`) carries the caller's remaining time.
// Chunks splits a long list into several items.
//
// # Connections
//
// A gate keeps one TLS connection per destination, dialled on first use
// through the mux (kind 'G', argument = protocol version, now 1; an
// acceptor closes a connection whose version it does not speak) and kept
// open. It carries both directions of traffic the dialer starts: its
// requests and one-way items, and the replies. Two nodes that both send
// therefore hold two connections, one dialled by each.
//
// If a dial fails, the requests waiting for it fail with ErrUnreachable,
// the one-way items queued for it are dropped and counted, and the peer
// backs off (RedialMin doubling to RedialMax); requests made during the
// backoff fail at once with ErrUnreachable, so a caller such as the
// router can try another node. One-way items queued during the backoff
// are sent if the next dial succeeds. A connection that breaks fails the
// requests written on it (the remote may or may not have executed them);
// requests and items still queued go out on the next connection, which is
// dialled at once if anything is queued (after a backoff if the broken
// connection had lasted less than RedialMax, so a peer that accepts and
// drops connections is not hammered) and otherwise on the next use. A
// peer that dies without a reset is noticed by TCP keepalive, by requests
// timing out, or when the node calls Forget on gossip's word.
//
// # Frames
//
// After the mux header, each direction is a sequence of frames:
//
//	+----------------+------+----------------+---------------------+
//	| length (u32 BE)| type | id (u32 BE)    | body (msgpack)      |
//	+----------------+------+----------------+---------------------+
//	 length counts type + id + body: 5 ≤ length ≤ MaxFrameBytes (4 MiB)
//
// The type is a Kind, an append-only enum. The gate owns two:
//
//	1 hello     dialer → acceptor, first frame: {n: node id}, which must be
//	            the id of the dialer's certificate (see Security)
//	4 reply     acceptor → dialer, id = the request's id:
//	            {e: error code, m: text, li/la: leader hint, r: response}
//	            (a: response, for kinds registered AsAnswer)
//
// Every other type is a kind the node registers (node/kinds.go lists
// them, with their bodies; ARCHITECTURE.md, "The internal bus"). A frame
// of a one-way kind has id 0; a request has a non-zero id, unique among
// the dialer's outstanding requests, and is answered by a reply with the
// same id. A kind with no Handler, or an id that does not fit the kind's
// Handler, closes the connection.
//
// The acceptor's first frame is a welcome: a reply with id 0 and
// {v: level, k: the kinds it serves}. A dialer sends a kind only if the
// connection's welcome listed it. Before the welcome has come, and to an
// acceptor of an older version (which sends no list and would close the
// connection on a type it does not know), the kinds of the first gate
// versions still go by level — 2..8 at once (level 1), 9 and 10 after a
// level-2 welcome — and any later kind is refused: a one-way item is
// dropped and counted (the caller's repair retries it), a Call fails with
// ErrUnsupported, and the connection is brought up so that the next ones
// go. An older dialer reads the welcome as a reply nobody waits for, and
// ignores it.
//
// Receiving is defensive. The decoder keeps partial frames across short
// reads, checks the declared length against MaxFrameBytes before
// allocating anything for the frame, and reuses its 64 KiB buffer (a
// larger frame gets a buffer of exactly its size, dropped once it is
// consumed). Before msgpack decodes a body, a walk over its bytes checks
// that every declared string, binary, array and map length fits in what
// remains and that nesting stays shallow, so the decoder's allocations are
// bounded by the frame whatever the msgpack version (v5.4.0 and v5.4.1
// allocate gigabytes for `dd ff ff ff ff`). Unknown body fields are
// ignored, so fields can be added. A malformed frame, a frame before the
// hello, or an unknown type closes the connection and is counted in
// Stats.BadFrames; a request body that does not decode is answered with
// an error and the connection stays up. FuzzDecoder feeds arbitrary bytes,
// whole and split in two, and decodes every body.
//
// # Batching
//
// Frames are encoded by the calling goroutine (msgpack into a pooled
// buffer) and appended to the destination's queue. A writer goroutine per
// connection writes everything queued in one Write: while a write is in
// the kernel, more frames queue behind it, so batches grow with load, and
// before taking the queue the writer yields once to let runnable senders
// add theirs. Requests and replies are written at once. One-way items obey
// BatchDelay (default 500µs): on a connection that has written nothing for
// BatchDelay they go at once; otherwise they wait until BatchDelay after
// the previous write, or until MaxBatchBytes are queued, or until a
// request comes to take them along. No item waits longer than BatchDelay,
// a quiet peer adds no latency, and a busy one costs at most one write per
// BatchDelay. The acceptor's replies share a writer per connection in the
// same way, so 1000 concurrent requests take a few dozen writes each way.
//
// # Faults
//
// Config.DropOneWay is a fault hook for tests and the simulator: the
// receiving side asks it about every one-way item, by the name its kind
// was registered with (the node's: "deliver", "cancel", "notify",
// "presence", "notice", "ack"), once the item is decoded and before it
// reaches the Handler, and discards the ones it picks, counted in
// Stats.Discarded. To the rest of the system this is
// an item lost in transit on a connection that stays up, the one loss a
// reset connection or a restarting peer cannot show.
//
// The queue of each destination holds at most MaxQueueBytes. A one-way
// item that does not fit is dropped and counted (Stats.Drops): delivery is
// repaired by the node's acknowledgements and notices (sessions catch up
// from their inbox), and presence by
// Config.Resync, which the gate calls once the queue has room again after
// items were lost, so that the node can send a full snapshot. A request
// that does not fit waits for room until its context ends.
//
// # Requests
//
// Each request gets a 32-bit id unique among the peer's outstanding
// requests and waits in the peer's registry; the connection's reader
// decodes each reply's response into the waiting call's resp and wakes it, so any number of
// requests are in flight on the one connection (pipelined, answered in any
// order). The request carries the caller's remaining time (Deadline); the acceptor
// runs it in its own goroutine (at most MaxConcurrent at once across the
// node; a connection whose requests find no slot is not read until one
// frees) under a context that ends at that deadline (capped by
// RequestTimeout), when the connection breaks, or at Close. A request
// whose context has no deadline gets RequestTimeout.
//
// # Errors
//
// A request Handler's error travels as a code from one append-only table
// and is returned by Call as the same sentinel:
//
//	code  Handler returned          caller gets
//	1     hlr.ErrNotLeader          *NotLeaderError{LeaderID, LeaderAddr} (errors.Is hlr.ErrNotLeader);
//	                                the hint is copied from a *NotLeaderError the Handler returned
//	2     hlr.ErrTimeout            hlr.ErrTimeout
//	3     hlr.ErrClosed             hlr.ErrClosed
//	4     hlr.ErrUnknownPartition   hlr.ErrUnknownPartition
//	5     hlr.ErrTooLarge           hlr.ErrTooLarge
//	6     hlr.ErrBadEntry           hlr.ErrBadEntry
//	7     anything else, or panic   ErrRemote, with the remote's text
//	8     (request undecodable)     ErrProtocol
//
// Failures of the gate itself: ErrUnreachable (dial failed, backing off,
// connection lost with the request in flight, forgotten, or the context
// ended before a connection was up, in which case the error also wraps
// ctx.Err()); ErrUnsupported when the peer does not serve the kind, or has
// not said so yet (see Frames); hlr.ErrTimeout wrapping ctx.Err() when the request was sent
// or queued on a live connection but no reply came in time; ErrClosed
// (matches hlr.ErrClosed) after Close; hlr.ErrTooLarge for a request
// that does not fit in a frame.
//
// Guarantees: one-way items to one destination are handed to its Handler
// in the order they were queued, at most once, with gaps where items were
// dropped or lost with a connection. Repairing the gaps is the caller's
// business: the node acknowledges deliveries and re-notices what is not
// acknowledged (ARCHITECTURE.md, "How delivery and revocation are
// bounded"). A request that fails with
// ErrUnreachable may or may not have run; retried commands must be
// idempotent (sends carry a dedup key).
//
// # Goroutines
//
//	goroutine                                  started by           stops on
//	run, per destination with work             first item           idle with nothing queued, Forget, Close
//	  (dials, then writes: the writer)
//	reader, per outgoing connection            run                  connection closed; run waits for it
//	handler of each incoming connection        mux (after Start)    connection closed; Close closes it
//	  (reads frames, runs one-way items)
//	writer, per incoming connection            handler              connection closed; handler waits for it
//	request, per incoming request              handler              Handler returns; ctx ends on
//	                                                                connection loss or Close
//
// All are counted in one WaitGroup that Close waits for, after closing
// every connection and cancelling every Handler context. A request Handler
// must honour its context, and a one-way Handler must not block.
//
// Locks: Gate.mu (peers, incoming connections), peer.mu (one peer's queue,
// calls and state) and serverConn.mu (one incoming connection's reply
// queue) are never held together; Gate.wgMu, which orders WaitGroup.Add
// against Close, is taken last, inside any of them. No lock is held
// across I/O or a Handler call.
//
// # Security
//
// The mux authenticates and encrypts every connection (mutual TLS 1.3
// with the cluster's node certificates), so only cluster members reach
// the gate. The gate adds one check: the node id of the hello must be the
// one the peer's certificate names (mux.PeerNodeID), so a member cannot
// speak as another — presence, for one, is recorded as coming from the
// hello's node. A mismatched hello closes the connection before any
// other frame is read, and is counted in Stats.Impostors. Beyond that a
// member is trusted with every request (ARCHITECTURE.md, threat model). On
// a mux built with InsecurePlaintext nothing can be checked and the hello
// is believed.
package gate
