package ring_test

import (
	"fmt"

	"github.com/roamhq/roam/ring"
)

func Example() {
	const partitions, replicas = 64, 3

	// The home partition of a (canonical) user name.
	pid := ring.PartitionOf("alice", partitions)
	fmt.Println("alice lives in partition", pid)

	// Replica sets over the live members; input order does not matter.
	members := []ring.Member{{ID: "node-4"}, {ID: "node-1"}, {ID: "node-3"}, {ID: "node-2"}}
	pl, err := ring.Place(partitions, replicas, members)
	if err != nil {
		panic(err)
	}
	fmt.Println("replicas:", pl.Replicas(pid), "preferred leader:", pl.Leader(pid))

	load := pl.Load()
	for _, id := range pl.Members() {
		fmt.Printf("%s holds %d replicas (cap %d)\n", id, load[id], ring.LoadCap(partitions, replicas, len(members)))
	}

	// Nodes compare views with one number.
	shuffled := []ring.Member{{ID: "node-2"}, {ID: "node-3"}, {ID: "node-1"}, {ID: "node-4"}}
	same, _ := ring.Place(partitions, replicas, shuffled)
	fewer, _ := ring.Place(partitions, replicas, members[:3])
	fmt.Println("same view:", same.Signature() == pl.Signature())
	fmt.Println("after a member leaves:", fewer.Signature() == pl.Signature())
	// Output:
	// alice lives in partition 52
	// replicas: [node-3 node-1 node-2] preferred leader: node-3
	// node-1 holds 51 replicas (cap 55)
	// node-2 holds 47 replicas (cap 55)
	// node-3 holds 49 replicas (cap 55)
	// node-4 holds 45 replicas (cap 55)
	// same view: true
	// after a member leaves: false
}
