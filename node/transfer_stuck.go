package node

import (
	"errors"
	"time"

	"github.com/roamhq/roam/hlr"
)

// A leader whose leadership transfer never ended takes no write (see
// hlr/transfer_stuck.go): the reconciler restarts that partition here,
// which is what a restart of the node would do for it. The others elect
// a leader meanwhile; this replica comes back as a follower (or wins again,
// with a new raft instance).

// A transfer that fails (its target never won) kept raft refusing the
// leader's entries for an election timeout; the reconciler, trying again
// every round (a second), kept the partition refusing writes nearly all
// the time. After a failure the partition's next transfer waits
// transferBackoff, except when this node leaves the cluster (it must hand
// everything off before it exits).
const transferBackoff = 5 * time.Second

// whyLeavingCluster is the reason of the hand-offs of a node that leaves.
const whyLeavingCluster = "leaving the cluster"

// transferHeld reports whether pid's transfers are held back.
func (n *Node) transferHeld(pid uint16, why string) bool {
	if why == whyLeavingCluster {
		return false
	}
	n.transferMu.Lock()
	defer n.transferMu.Unlock()
	return time.Now().Before(n.transferAfter[pid])
}

// transferFailed holds pid's transfers back for transferBackoff.
func (n *Node) transferFailed(pid uint16) {
	n.transferMu.Lock()
	n.transferAfter[pid] = time.Now().Add(transferBackoff)
	n.transferMu.Unlock()
}

// stuckTransferLimit is how long raft may refuse a leader's entries for a
// transfer in progress before the partition is restarted: twice the
// library's own bound (an election timeout to catch up, one for the
// target to win), plus a TimeoutNow RPC that may take the whole I/O
// timeout.
func (n *Node) stuckTransferLimit() time.Duration {
	return 2*n.cfg.HLR.Raft.ElectionTimeout + n.cfg.RaftIOTimeout
}

// restartPartition closes partition pid here, keeping its data, and opens
// it again.
func (n *Node) restartPartition(pid uint16) {
	n.log.Error("partition refuses writes: a leadership transfer never ended (hashicorp/raft#696); restarting it here", "partition", pid)
	n.changes.count("restart")
	if err := n.host.Close(pid, false); err != nil && !errors.Is(err, hlr.ErrUnknownPartition) {
		n.log.Warn("restart partition: close", "partition", pid, "err", err)
	}
	n.partsMu.Lock()
	t := n.trans[pid]
	delete(n.trans, pid)
	n.partsMu.Unlock()
	if t != nil {
		t.Close()
	}
	if err := n.openPartition(pid, nil); err != nil {
		n.log.Warn("restart partition: open", "partition", pid, "err", err)
	}
}
