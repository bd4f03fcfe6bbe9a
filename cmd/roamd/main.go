// Command roamd runs one roam node.
//
//	roamd -data /var/lib/roam -client 0.0.0.0:7400 -client-cert node.crt -client-key node.key \
//	      -internal 10.0.0.5:7401 -cluster-key-file /etc/roam/cluster.key
//
// Settings come from flags, then ROAM_* environment variables, then the
// JSON file given with -config, then the defaults; run roamd -h for the
// list. Bad settings exit with code 2, a failed start with 1. SIGTERM or
// SIGINT shuts the node down gracefully and exits 0; a second signal kills
// it at once.
//
// roamd -http ADDR serves the read-only management endpoint (health,
// readiness, status, Prometheus metrics; with -http-pprof the profiler;
// see mgmt.go and package node/mgmt).
//
// roamd cert makes the certificates of operator mode and of the client
// port (see cert.go): create-ca, create-node, list.
//
// roamd backup and roamd restore write every partition's snapshot to a
// directory and load one into a new cluster (see backup.go).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/roamhq/roam/internal/roamdproc"
	"github.com/roamhq/roam/node"
)

func main() {
	os.Exit(run(os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

func run(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "cert":
			return runCert(args[1:], stdout, stderr)
		case "backup", "restore":
			return runBackup(args[0] == "restore", args[1:], stdout, stderr)
		}
	}
	s, err := loadSettings(args, getenv, stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		return 2 // the flag package has printed the problem and the usage
	case err != nil:
		fmt.Fprintf(stderr, "roamd: %v\n", err)
		return 2
	}
	hopts := &slog.HandlerOptions{Level: s.logLevel}
	var h slog.Handler = slog.NewTextHandler(stderr, hopts)
	if s.logJSON {
		h = slog.NewJSONHandler(stderr, hopts)
	}
	logger := slog.New(h)
	log := logger.With("component", "roamd")
	s.node.Logger = logger

	mg, err := startManagement(s.httpAddr, s.httpPprof, logger)
	if err != nil {
		fmt.Fprintf(stderr, "roamd: %v\n", err)
		return 1
	}
	defer mg.Close() // after the node's shutdown: /readyz says so meanwhile
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	fc, err := startFaultControl(s.faultControl, logger, &s.node)
	if err != nil {
		fmt.Fprintf(stderr, "roamd: %v\n", err)
		return 1
	}
	defer fc.Close()
	n, err := node.New(s.node)
	fc.attach(n)
	mg.attach(n)
	if err != nil {
		log.Error("start failed", "err", err)
		fmt.Fprintf(stderr, "roamd: %v\n", err)
		return 1
	}
	for {
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := n.WaitReady(wctx)
		cancel()
		if err == nil || ctx.Err() != nil {
			break
		}
		log.Warn("still waiting for partition leaders", "err", err)
	}
	if ctx.Err() == nil {
		log.Info("ready", "node", n.ID(), "client", n.ClientAddr(), "internal", n.InternalAddr(), "gossip", n.GossipAddr(), "partitions", n.Partitions())
		fmt.Fprintln(stdout, roamdproc.Ready{Node: n.ID(), Client: n.ClientAddr(), Join: n.GossipAddr()}.String())
		if f := n.ClusterKeyFile(); f != "" {
			// The path only: the key itself is never printed.
			fmt.Fprintf(stdout, "roamd: new cluster key written to %s (mode 0600); give joining nodes a copy with -cluster-key-file\n", f)
		}
		<-ctx.Done()
	}
	stop() // from now on a second signal kills the process
	log.Info("signal received, shutting down")
	if err := n.Shutdown(); err != nil {
		log.Error("shutdown", "err", err)
		return 1
	}
	log.Info("stopped")
	return 0
}
