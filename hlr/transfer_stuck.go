package hlr

import (
	"errors"
	"time"

	"github.com/hashicorp/raft"
)

// A stuck leadership transfer (hashicorp/raft#696, open in v1.7.3). A
// leader that starts a transfer to a follower that is behind first
// replicates to it, and the transfer's goroutine waits for that with a
// send to the replication goroutine that it never abandons. If the leader
// steps down meanwhile, the replication goroutine is gone, the send
// blocks for good, and so does the flag "leadership transfer in
// progress". The node may be elected again later (its log is the
// longest), and then raft refuses every entry of that leader with
// ErrLeadershipTransferInProgress, forever: the partition takes no write
// and has a leader, so nothing else moves it. `make sim` met it after a
// partition fault (a user's logins timed out for the rest of the run). Only a new raft instance clears the flag.

// TransferStuck reports whether this node leads the partition and raft
// has refused its entries, because of a leadership transfer in progress,
// for longer than limit (well past the library's own bound on a
// transfer); a barrier, refused for the same reason, confirms it. The
// remedy is to close and open the partition again here.
func (p *Partition) TransferStuck(limit time.Duration) bool {
	since := p.prop.refusedSince.Load()
	if since == 0 || !p.IsLeader() || p.now().Sub(time.Unix(0, since)) < limit {
		return false
	}
	err := futureError(p.raft.Barrier(time.Second), p.prop.done)
	if errors.Is(err, raft.ErrLeadershipTransferInProgress) {
		return true
	}
	if err == nil {
		p.prop.refusedSince.Store(0)
	}
	return false
}
