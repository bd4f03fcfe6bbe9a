// Package gossip is the membership layer of a roam node: who is in the
// cluster, at which addresses, how loaded, and with which cluster params. It
// wraps hashicorp/memberlist (SWIM gossip over UDP, with push/pull state
// sync over TCP) and turns its callbacks into a member table.
//
// # Use
//
//	cfg := gossip.DefaultConfig()          // LAN timing, label "roam", 0.0.0.0:7946
//	cfg.NodeID = "n1"                       // unique, stable across restarts
//	cfg.BindAddr = "10.0.0.1:7946"          // TCP and UDP
//	cfg.SecretKey = key                     // 16, 24 or 32 bytes, same on every node
//	cfg.Meta = gossip.Meta{ClientAddr: "10.0.0.1:5222", InternalAddr: "10.0.0.1:7000"}
//	cfg.Params = stored                     // nil on a fresh joiner
//	cfg.Logger = logger
//	g, err := gossip.New(cfg)               // binds, does not contact anyone
//	params, err := g.Join(ctx, seeds)       // retries until a seed answers or ctx ends
//	defer g.Shutdown()
//
//	for range g.Changes() {                 // coalesced signal; re-read the table
//	    members := g.Members()          // sorted by ID, self included
//		...
//	}
//	g.SetLoad(n)                            // gossiped, does not block
//	g.Leave(5 * time.Second)                // graceful: others see StateLeft
//	g.Shutdown()
//
// The first node of a new cluster is created with Params and calls
// Join(ctx, nil), which returns its params at once. Every other node joins
// through any member's Addr. A node that has stored params (from an earlier
// run) passes them too, so that joining the wrong cluster is detected.
//
// # Cluster params
//
// ClusterParams (cluster id, partitions, replicas) ride on memberlist's
// push/pull exchange (Delegate.LocalState / MergeRemoteState): every node
// that knows them sends them, and a node that does not know them adopts the
// first it receives. A joiner does a push/pull with its seed during Join,
// so Join returns as soon as the seed answers if the seed knows them; a node
// whose seeds do not know them yet waits (until ctx ends) for the periodic
// push/pull (every 30 s on LAN timing, 5 s with Fast) that brings them.
//
// Once known, the cluster id is also put in the node's meta, and a node
// refuses alive messages from nodes whose meta names another cluster
// (memberlist.AliveDelegate). So two clusters that share a key and label, for
// example a node with stored params rejoining a re-created cluster, never
// merge member lists: Join returns ErrWrongCluster and neither side lists the
// other. Nodes that do not know their cluster yet are accepted by anyone.
//
// # Member states
//
// Members lists every node this node has seen, with the time it entered its
// current state. Alive nodes are listed while alive; Dead and Left ones for
// 24 hours (memberlist itself forgets them much sooner), so a caller can
// apply a grace period before, say, replacing a dead node's replicas. A node
// that comes back under the same NodeID is Alive again, also from a new
// address. With a new address it may briefly (one gossip round) flap to Dead
// while stale "dead" gossip about its previous incarnation is refuted.
//
// memberlist v0.5.4 calls NotifyLeave for dead and left nodes alike and does
// not expose which (the Node.State it passes is always StateAlive:
// hashicorp/memberlist#293, fix pending in #321). So Leave first gossips a
// "leaving" flag in the node's meta, waits until that broadcast is done
// (about two gossip rounds) and only then sends memberlist's leave message;
// the flag in the last meta seen makes a departure Left instead of Dead. If
// Leave's timeout runs out before the flag has spread, some nodes may see
// Dead. StateSuspect is never reported: memberlist gives delegates no
// callback on suspicion, so a node goes from Alive to Dead.
//
// # Timing
//
// Fast (tests, loopback): probe every 200 ms with a 100 ms timeout, one
// indirect probe, suspicion 4 probe intervals (800 ms; up to 1.6 s without
// confirmations), gossip every 50 ms to 3 nodes, retransmit 3*log10(n+1),
// push/pull every 5 s, TCP timeout 1 s, dead nodes reclaimable by a new
// address at once. A stopped node is seen Dead after about 1-2 s.
//
// Default (memberlist.DefaultLANConfig): probe every 1 s with a 500 ms
// timeout, 3 indirect probes, suspicion 4*max(1, log10 n) probe intervals
// (4 s for n < 10, up to 6x that without confirmations), gossip every 200 ms,
// push/pull every 30 s, TCP timeout 10 s; a dead node's id can be reclaimed
// from a new address after 10 s. A stopped node is seen Dead after about
// 5-10 s.
//
// # Ports and network
//
//   - memberlist uses TCP and UDP on the same port; open both. With port 0
//     the kernel picks a free TCP port and UDP is bound to the same number
//     (New retries up to 10 times when that UDP port is taken); Addr
//     reports the result.
//   - The host of BindAddr and AdvertiseAddr must be an IP literal. With
//     0.0.0.0 and no AdvertiseAddr, memberlist advertises a private IP of
//     this host and New fails if it has none; with "::" set AdvertiseAddr.
//   - Probes and gossip are UDP packets of at most 1400 bytes. Meta is
//     limited to MaxMetaSize (256) bytes by New, plus at most 67 bytes for
//     the cluster id and flags, well under memberlist's 512-byte limit.
//   - All traffic is encrypted and authenticated with SecretKey (AES-GCM)
//     and carries Label; a node with another key or label cannot join
//     (its packets and streams are dropped) and Join fails when ctx ends.
//     Key rotation is not offered.
//
// # Goroutines and locks
//
// memberlist runs its own goroutines: TCP and UDP listeners, a packet
// handler, a stream listener and one handler per inbound connection, the
// probe/gossip/push-pull tickers and a queue-depth check. Shutdown stops
// them, but they finish asynchronously (at most a TCP timeout later). This
// package adds only Join's contact attempts, one at a time per Join call,
// which Shutdown interrupts (outbound dials and connections are cancelled)
// and waits for. Callbacks run on memberlist's goroutines, some with its node
// lock held, so they only update the table and signal Changes. Lock order:
// Gossip.lifeMu (Leave, Shutdown) → Gossip.updMu (meta updates) →
// memberlist's node lock → Gossip.mu. Shutdown waits for a Leave in
// progress (at most its timeout).
//
// # Logging
//
// The package logs joins, deaths, leaves and params events with
// component=gossip at Info/Warn. memberlist's own log lines go to the same
// logger at Debug, with their original level as ml_level.
package gossip
