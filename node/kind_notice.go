package node

import (
	"github.com/roamhq/roam/node/gate"
	"github.com/roamhq/roam/vlr"
)

// Notices: a partition leader's delivery repair (delivery.go) tells the
// node holding a device how far the device's stream goes, without the
// messages; the node catches the session up from the inbox and answers
// with acks (kind_ack.go), as for a delivery.

// noticeBody is the gate body of kindNotice.
type noticeBody struct {
	Notices []vlr.Notice `msgpack:"n"`
}

// repairChunk is the most notices or acks one item carries (a notice
// takes well under 200 bytes, so an item stays far below a frame).
const repairChunk = 4096

// sendNotices sends notices to the node at the internal address addr.
func (n *Node) sendNotices(addr string, ns []vlr.Notice) {
	if len(ns) == 0 {
		return
	}
	gate.Chunks(ns, repairChunk, func(_ bool, ns []vlr.Notice) {
		n.gate.Send(addr, kindNotice, &noticeBody{Notices: ns})
	})
}

// handleNotice catches the sessions here up and acknowledges to the
// leader's node (from).
func (n *Node) handleNotice(from string, b *noticeBody) {
	n.dl.queueAcks(from, n.vlr.Notice(b.Notices))
}
