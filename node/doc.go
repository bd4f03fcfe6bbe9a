// Package node wires one roam node together: the Pebble database, the
// internal port shared by all node-to-node traffic (package node/mux), the
// home-register partitions (package hlr) and the visitor register that owns
// the client connections (package vlr). cmd/roamd and the test harnesses
// call the same New.
//
// Usage:
//
//	cfg := node.DefaultConfig()
//	cfg.DataDir = "/var/lib/roam"
//	cfg.Logger = slog.Default()
//	n, err := node.New(cfg)      // opens everything; cleans up on failure
//	if err != nil { ... }
//	defer n.Shutdown()           // vlr, then hlr, transports, mux, DB
//	err = n.WaitReady(ctx)       // every partition has a leader
//
// On first start the node records its id, a cluster id, the partition
// count P and the secret behind the fake salts of unknown users in the
// database (keyspace.NodeKey). Later starts reuse them and refuse a
// different P or node id. Each partition is bootstrapped only when it has
// no Raft state, so a restart never bootstraps again.
//
// Startup order matters: every collaborator is a constructor argument —
// the gate first, the home register with the effect bus, the router over
// it, the visitor register with the router — then every gate kind and
// effect router is registered (kinds.go), the gate starts serving and the
// home register its maintenance, and only then do partitions open, so
// that committed commands always find the routers for their effects;
// shutdown runs in reverse, the visitor register first because it logs its
// sessions out through the home registers.
package node
