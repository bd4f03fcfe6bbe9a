// Package mgmt is roamd's management endpoint (roamd -http ADDR): plain
// HTTP, read-only, with no credentials, for a node's operators and their
// monitoring. Bind it to loopback or to a management network that only
// operators and Prometheus reach: it tells anyone who asks the cluster's
// members and addresses, and with Pprof the process's profiles.
//
// Endpoints (GET or HEAD only; anything else is 405):
//
//	/healthz        200 "ok" while the process serves HTTP at all
//	/readyz         200 "ready" when the node is serving: joined, client
//	                listener up, every partition placed on it open, every
//	                partition with a reachable leader (once ready, a
//	                node forgives what is missing for node.ReadyGrace);
//	                else 503 with the reasons ("starting" before the node
//	                is attached, "shutting down" once it leaves)
//	/status         JSON node.Status: members (state, load, leaders),
//	                partitions (voters, leader, term, commit and applied
//	                index, lag), the local session count
//	/metrics        Prometheus text: the roam_ families (families.go,
//	                listed in OPERATIONS.md) and client_golang's go_ and
//	                process_ collectors
//	/debug/pprof/   the Go profiler, only with Config.Pprof
//
// Every roam_ series is read from the node at scrape time (a pull
// collector over node.Node.Metrics): the endpoint adds no work to the
// node's request paths.
//
// Usage (roamd does this):
//
//	srv, err := mgmt.New(mgmt.Config{Addr: "127.0.0.1:7409", Logger: log})
//	n, err := node.New(nodeCfg) // /readyz answers 503 "starting" meanwhile
//	srv.Attach(n)
//	defer srv.Close()
//
// Goroutines: the HTTP server's (Serve and one per request); Close stops
// it and waits for them.
package mgmt
