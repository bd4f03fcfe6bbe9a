// Package faultctl is roamd's fault-control endpoint: a tiny HTTP API on a
// loopback address through which the simulator (sim/, cmd/roamsim) makes
// one node misbehave on purpose, from inside the process, where it can see
// gate items even when the internal port is mutual TLS and no proxy can.
//
// It is off unless roamd is started with -fault-control ADDR; ADDR must be
// a loopback IP address (127.0.0.0/8 or ::1), anything else is refused,
// and the node logs a WARN line when it is on. Never enable it on a node
// that serves real users: anyone who can reach the address can make the
// node lose messages between nodes.
//
// Endpoints (answers are JSON; a bad parameter gets 400 and a message):
//
//	POST   /faults/gate-drop?p=0.5&kinds=deliver,cancel&for=3s[&seed=N]
//	       drop each one-way gate item this node receives whose kind is in
//	       kinds (default: every kind) with probability p (0 < p <= 1),
//	       for the given duration; replaces the drop rule in force.
//	POST   /faults/gate-reset?for=2s[&every=250ms]
//	       close every gate connection of the node (both directions) now
//	       and then every `every` until `for` has passed (without for: once).
//	DELETE /faults
//	       end every fault in force.
//	GET    /faults
//	       the faults in force and counters: items dropped and let through
//	       per kind (counted while a drop rule is in force), resets made,
//	       connections closed.
//	GET    /status/leaders
//	       the partitions this node leads now.
//
// Usage (roamd does this):
//
//	srv, err := faultctl.New(faultctl.Config{Addr: "127.0.0.1:7409", Logger: log})
//	nodeCfg.GateDropOneWay = srv.DropOneWay // the gate asks before each one-way item
//	n, err := node.New(nodeCfg)
//	srv.Attach(n) // resets and leader status need the running node
//	defer srv.Close()
//
// Goroutines: the HTTP server's (Serve and its handlers) and at most one
// reset loop; Close stops the server and waits for both.
package faultctl
