package node

import (
	"time"

	"github.com/roamhq/roam/node/gate"
	"github.com/roamhq/roam/vlr"
)

// Acks: what the devices of a node have taken of what a partition leader
// on another node forwarded or noticed (delivery.go coalesces them per
// leader node); they clear the leader's pending entries.

// ackBody is the gate body of kindAck.
type ackBody struct {
	Acks []vlr.DeliveryAck `msgpack:"a"`
}

// sendAcks sends acknowledgements to the node at the internal address
// addr.
func (n *Node) sendAcks(addr string, acks []vlr.DeliveryAck) {
	if len(acks) == 0 {
		return
	}
	gate.Chunks(acks, repairChunk, func(_ bool, acks []vlr.DeliveryAck) {
		n.gate.Send(addr, kindAck, &ackBody{Acks: acks})
	})
}

// handleAck applies acknowledgements from node from to this node's
// pending table (as a partition leader).
func (n *Node) handleAck(from string, b *ackBody) {
	n.dl.pending.ack(from, b.Acks, time.Now())
}
