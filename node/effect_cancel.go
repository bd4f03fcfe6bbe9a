package node

import (
	"github.com/roamhq/roam/hlr"
)

// Cancel Location: a partition leader tells the node holding a session
// that is no longer valid (the device logged in elsewhere or was evicted,
// the password changed, the account was deleted) to end it. A lost one is
// bounded by session leases (vlr/lease.go).

// cancelBody is the gate body of kindCancel.
type cancelBody struct {
	User   string       `msgpack:"u"`
	Loc    hlr.Location `msgpack:"l"`
	Reason string       `msgpack:"r,omitempty"`
}

// routeCancel routes an hlr.CancelEffect to the node of its location.
func (n *Node) routeCancel(_ uint16, e hlr.CancelEffect) {
	b := &cancelBody{User: e.User, Loc: e.Loc, Reason: e.Reason}
	if e.Loc.Node == n.meta.NodeID {
		n.handleCancel(n.meta.NodeID, b)
		return
	}
	n.sendTo(e.Loc.Node, kindCancel, b)
}

// handleCancel ends the session of (user, device) here if it still has
// the cancelled epoch.
func (n *Node) handleCancel(_ string, b *cancelBody) {
	n.vlr.Cancel(b.User, b.Loc, b.Reason)
}
