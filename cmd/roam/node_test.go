package main

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/roamhq/roam/node"
)

// cliNode starts a one-node cluster for the CLI's end-to-end tests (its
// configuration adjusted by tweak, if set) and returns the environment
// runCLI needs to reach it. Its client port is plaintext on loopback, so
// the environment says so (the CLI speaks TLS by default). The node stops
// when the test ends.
func cliNode(t *testing.T, tweak func(*node.Config)) map[string]string {
	t.Helper()
	cfg := node.DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.ClientAddr = "127.0.0.1:0"
	cfg.InternalAddr = "127.0.0.1:0"
	cfg.GossipAddr = "127.0.0.1:0"
	cfg.Partitions = 4
	cfg.VLR.RegisterBurst = 1000
	cfg.VLR.LoginFailures = 1000
	if tweak != nil {
		tweak(&cfg)
	}
	cfg.Logger = slog.New(slog.DiscardHandler)
	n, err := node.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Shutdown() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := n.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	return map[string]string{"ROAM_ADDR": n.ClientAddr(), "ROAM_PLAINTEXT": "1"}
}
