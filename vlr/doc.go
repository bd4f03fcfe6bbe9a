// Package vlr is a node's visitor register: it owns the client port and
// every client connection, the sessions logged in at this node, their
// presence, and the delivery of pushes to them. The home register (hlr,
// reached through Home) holds the accounts, inboxes and locations; vlr
// holds nothing durable.
//
// # Use
//
// node.New builds the one Server of a node; tests may do the same with
// any Home:
//
//	cfg := vlr.DefaultConfig()
//	cfg.NodeID, cfg.Listener, cfg.FakeSaltSecret = id, ln, secret
//	cfg.TLS = tlsConfig // optional: the client port speaks TLS
//	srv, err := vlr.New(cfg, home, bus, groups, scenes)
//	...
//	acks := srv.Deliver(user, locs, msg) // a committed message for local devices; acks for its leader
//	acks = srv.Notice(notices)           // a leader's delivery repair
//	srv.Cancel(user, loc, why)           // Cancel Location
//	srv.SceneDeliver(scene, ids, ev)     // a scene host's say or action for local players
//	seats := srv.SceneSeats(match)       // local players' last positions, for a new scene host
//	st := srv.Stats()            // connections, queued output, slow consumers
//	srv.Shutdown(redirect)       // goodbye to every client; safe twice
//
// The wire protocol is PROTOCOL.md; this package implements its server
// side.
//
// # A connection's life
//
// The accept loop applies the node cap (MaxConns) and, unless the peer is
// a trusted proxy, the caps of the client address (MaxConnsPerIP,
// MaxPreLoginPerIP); a connection over a cap gets error
// too_many_connections (303) and is closed, or just closed on a TLS port.
// Everything else happens in the connection's own goroutine (conn.serve):
//
//  1. conn.open: from a trusted proxy, the PROXY protocol v2 header
//     (proxyproto.go), then the address caps on the client's address;
//     on a TLS port, the handshake. Both under the login deadline.
//  2. Hello/Welcome, then register, login or resume; frames are limited
//     to PreLoginMaxFrame, each must arrive within HandshakeTimeout, and
//     the login must be done within LoginDeadline of the connect, or the
//     connection gets error timeout (106) and is closed.
//  3. Logged in: frames up to MaxFrame; the session ends after
//     HeartbeatMisses × HeartbeatInterval without a frame (goodbye 403).
//
// Before and after login a frame that has begun must end within
// FrameTimeout (frameclock.go tightens the read deadline when a frame
// needs more than one read; no timer of its own).
//
// # Output
//
// Everything written to a client goes through its outQueue: frames are
// appended under a mutex and written by a goroutine that exists only
// while output is pending. Each queue is capped (OutQueueBytes) and all
// of them share the node's OutputBudget (budget.go): the bytes queued
// are reserved before they are appended, so the sum never exceeds the
// budget. When a reservation fails, the connection holding the most
// output is disconnected as a slow consumer (goodbye 405 if nothing is
// being written to it, else a bare close) and its queue freed; its
// messages stay in the inbox for its next sync. Stats().SlowConsumers
// counts them.
//
// # Delivery repair and leases
//
// Deliver and Notice return one DeliveryAck per device for the partition
// leader that sent them (the node sends them back, batched): what each
// session has taken responsibility for (delivery.go). A session acts —
// sends, gets pushes — only under a fresh lease, the time of its last
// validated contact with its home partition (lease.go); the renewer
// (lease_renew.go) validates leases in batches per partition, and every
// inbox read made for a session is session-bound, so the leader refuses
// it for a revoked session. A Cancel Location that finds no session
// leaves a tombstone that the attach of that epoch finds
// (tombstones.go). Config.Lease tunes all of it; ARCHITECTURE.md, "How
// delivery and revocation are bounded", explains the bounds.
//
// # Goroutines
//
//	accept loop          one; Server.acceptLoop
//	connection reader    one per connection; conn.serve (handles requests in order)
//	connection writer    one per connection while output is pending; outQueue.flush
//	send                 one per send being committed (at most 64 per connection)
//	cursor flusher       one; Server.cursorLoop
//	lease renewer        one; renewer.loop, and one per renewal query in flight (at most 64)
//	catch-up             per session while it is behind; retries until caught up or the session ends
//	logout               short-lived, per session
//	scene move timer     per seated session while a coalesced move waits (time.AfterFunc; scene.go)
//
// All are started with Server.goFunc and awaited by Shutdown.
//
// # Locks
//
// Acquired in this order, never the reverse:
//
//	registry.mu → session.mu → Server.mu → outQueue.mu
//
// (pushes are queued under registry.mu and session.mu; an enqueue that
// finds the budget full takes Server.mu to find a victim and then the
// victim's outQueue.mu, holding no other outQueue.mu). dirtyMu, endingMu,
// renewer.mu (taken under session.mu when a session queues its renewal),
// sceneIndex.mu (scene seats by id; a session's mu only after it is
// released) and the limiters' mutexes are leaves.
//
// # Scenes
//
// A session holds at most one seat (scene.go): its scene, its id there and
// the last position the client reported. Moves are coalesced to
// Config.Scene.MoveHz and forwarded through the SceneBus to the scene's
// host; says and actions go the same way; the host's deliveries come back
// through SceneDeliver and SceneView. Nothing of it is stored or retried.
//
// Server.mu guards the connection set and the per-address counts;
// registry.mu the sessions and presence; session.mu one session's
// delivery state; outQueue.mu one connection's output.
package vlr
