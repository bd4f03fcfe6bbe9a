package node_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/roamhq/roam/node"
)

func Example() {
	dir, err := os.MkdirTemp("", "roam-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)

	cfg := node.DefaultConfig()
	cfg.DataDir = dir
	cfg.Partitions = 4
	cfg.ClientAddr, cfg.InternalAddr, cfg.GossipAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0" // any free ports
	n, err := node.New(cfg)
	if err != nil {
		panic(err)
	}
	defer n.Shutdown()

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := n.WaitReady(ctx); err != nil {
		panic(err)
	}
	fmt.Println("ready with", n.Partitions(), "partitions")
	// Output: ready with 4 partitions
}
