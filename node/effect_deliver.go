package node

import (
	"github.com/roamhq/roam/hlr"
)

// Deliver: a committed message forwarded by its recipient's partition
// leader to the nodes holding the recipient's devices (the jump gate).
// The receiving node pushes it to its sessions and acknowledges, per
// device, to the leader's node (delivery.go), which repairs what is not
// acknowledged with notices.

// deliverBody is the gate body of kindDeliver.
type deliverBody struct {
	User string         `msgpack:"u"`
	Locs []hlr.Location `msgpack:"l"`
	Msg  *hlr.Message   `msgpack:"m"`
}

// routeDeliver routes an hlr.DeliverEffect: the devices here to
// handleDeliver, the others to their nodes, each remembered by the
// delivery repair until that node acknowledges it.
func (n *Node) routeDeliver(pid uint16, e hlr.DeliverEffect) {
	byNode(e.Locs, func(node string, locs []hlr.Location) {
		b := &deliverBody{User: e.User, Locs: locs, Msg: e.Msg}
		if node == n.meta.NodeID {
			n.handleDeliver(node, b)
			return
		}
		if n.sendTo(node, kindDeliver, b) {
			n.dl.forwarded(pid, e.User, locs, e.Msg.Seq)
		}
	})
}

// handleDeliver gives a forwarded message to the sessions here; their
// acknowledgements go back to the node of the leader that sent it
// (from), batched.
func (n *Node) handleDeliver(from string, b *deliverBody) {
	n.dl.queueAcks(from, n.vlr.Deliver(b.User, b.Locs, b.Msg))
}
