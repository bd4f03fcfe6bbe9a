package node

import (
	"context"

	"github.com/roamhq/roam/node/gate"
)

// Partition status as a gate request (kindStatus): admin.go has what it
// is for, partStatus and the admin stream it replaces.

// statusReq asks what the node knows of partition PID. The reply is a
// partStatus.
type statusReq struct {
	gate.Deadline `msgpack:",inline"`
	PID           uint16 `msgpack:"p"`
}

// serveStatus answers a statusReq.
func (n *Node) serveStatus(_ context.Context, _ string, r *statusReq) (*partStatus, error) {
	st := n.partStatus(r.PID)
	return &st, nil
}
