package gossip_test

import (
	"context"
	"fmt"
	"time"

	"github.com/roamhq/roam/node/gossip"
)

// Two nodes on loopback: the first creates the cluster, the second joins it
// and learns the cluster params.
func Example() {
	key := []byte("0123456789abcdef") // AES-128; share it with every node

	newNode := func(id string, params *gossip.ClusterParams) *gossip.Gossip {
		cfg := gossip.DefaultConfig()
		cfg.NodeID = id
		cfg.BindAddr = "127.0.0.1:0" // any free port, TCP and UDP
		cfg.SecretKey = key
		cfg.Fast = true // test timing
		cfg.Params = params
		cfg.Meta = gossip.Meta{ClientAddr: "127.0.0.1:5222", InternalAddr: "127.0.0.1:7000"}
		g, err := gossip.New(cfg)
		if err != nil {
			panic(err)
		}
		return g
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	first := newNode("n1", &gossip.ClusterParams{ClusterID: "demo", Partitions: 64, Replicas: 3})
	defer first.Shutdown()
	if _, err := first.Join(ctx, nil); err != nil { // nothing to contact yet
		panic(err)
	}

	second := newNode("n2", nil)
	defer second.Shutdown()
	params, err := second.Join(ctx, []string{first.Addr()})
	if err != nil {
		panic(err)
	}
	fmt.Printf("learned %s: %d partitions, %d replicas\n", params.ClusterID, params.Partitions, params.Replicas)

	// Membership converges within a few gossip rounds: wait on Changes.
	for len(first.Members()) < 2 {
		select {
		case <-first.Changes():
		case <-ctx.Done():
			panic("no convergence")
		}
	}
	for _, m := range first.Members() {
		fmt.Println(m.ID, m.State, m.Meta.ClientAddr)
	}

	second.Leave(time.Second)
	// Output:
	// learned demo: 64 partitions, 3 replicas
	// n1 alive 127.0.0.1:5222
	// n2 alive 127.0.0.1:5222
}
