package node

import "sync/atomic"

// ChangeKinds are the reconciler's changes, as counted by
// Node.ReconcilerChanges (and named in its log lines):
//
//	add-nonvoter  a placed node added to a partition as a non-voter
//	promote       a caught-up non-voter made a voter
//	remove        a server that is not placed removed
//	readdress     a voter's internal address updated
//	transfer      a leadership handed to another voter (balance, leaving a partition, leaving the cluster)
//	drop          this node's copy of a partition it is no longer placed on deleted
//	restart       a partition whose leadership transfer never ended closed and opened again here (transfer_stuck.go)
var ChangeKinds = []string{"add-nonvoter", "promote", "remove", "readdress", "transfer", "drop", "restart"}

// changeCounts counts the changes that went through, by kind.
type changeCounts struct {
	n [7]atomic.Uint64 // indexed like ChangeKinds
}

func (c *changeCounts) count(kind string) {
	for i, k := range ChangeKinds {
		if k == kind {
			c.n[i].Add(1)
			return
		}
	}
}

// ReconcilerChanges returns how many changes of each kind (ChangeKinds)
// this node has made since it started. Every kind is present.
func (n *Node) ReconcilerChanges() map[string]uint64 {
	out := make(map[string]uint64, len(ChangeKinds))
	for i, k := range ChangeKinds {
		out[k] = n.changes.n[i].Load()
	}
	return out
}
