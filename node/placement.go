package node

import "github.com/hashicorp/raft"

// plan is one partition this node replicates, with the configuration to
// bootstrap it with if it has no Raft state yet (hlr.Host.Open never
// bootstraps a partition that has state).
type plan struct {
	pid       uint16
	bootstrap []raft.Server
}

// placement decides which partitions this node opens. A single node
// replicates every partition and bootstraps each one alone, as its only
// voter. In a cluster the ring will decide instead: each partition's
// replicas by rendezvous hashing, and exactly one node bootstrapping each
// new partition.
func (n *Node) placement() []plan {
	self := []raft.Server{{
		Suffrage: raft.Voter,
		ID:       raft.ServerID(n.meta.NodeID),
		Address:  raft.ServerAddress(n.internalAddr),
	}}
	plans := make([]plan, n.meta.Partitions)
	for i := range plans {
		plans[i] = plan{pid: uint16(i), bootstrap: self}
	}
	return plans
}
