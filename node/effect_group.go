package node

import (
	"context"
	"time"

	"github.com/roamhq/roam/hlr"
	"github.com/roamhq/roam/node/gate"
)

// Group fan-out on the bus (groups.go has the design): the effect of a
// committed group entry, and the kinds between the nodes.

// groupDeliverBody is the body of kindGroupDeliver: entry Msg of group
// Group (a name) for the members Users at the receiving node.
type groupDeliverBody struct {
	Group string       `msgpack:"g"`
	Users []string     `msgpack:"u"`
	Msg   *hlr.Message `msgpack:"m"`
}

// groupNoticeBody is the body of kindGroupNotice: how far groups go.
type groupNoticeBody struct {
	Notices []groupNoticeItem `msgpack:"n"`
}

type groupNoticeItem struct {
	Group string `msgpack:"g"`
	Head  uint64 `msgpack:"h"`
}

// groupAckBody is the body of kindGroupAck: the sender's sessions have
// taken (or will catch up to) each group through Seq.
type groupAckBody struct {
	Acks []groupAckItem `msgpack:"a"`
}

type groupAckItem struct {
	Group string `msgpack:"g"`
	Seq   uint64 `msgpack:"q"`
}

// groupInterestReq is the request of kindGroupInterest: the caller's
// registrations for groups of partition PID (see groupRegistrar).
type groupInterestReq struct {
	gate.Deadline `msgpack:",inline"`
	PID           uint16     `msgpack:"p"`
	Regs          []groupReg `msgpack:"r"`
}

// groupInterestResp answers it with each group's head, in order.
type groupInterestResp struct {
	Heads []uint64 `msgpack:"h"`
}

// groupRegroupBody is the body of kindGroupRegroup: the sender now leads
// PID and asks for the interest in its groups.
type groupRegroupBody struct {
	PID uint16 `msgpack:"p"`
}

// routeGroupFanout routes an hlr.GroupFanoutEffect: once to each node
// with interest in the group, for the members there the entry is for.
func (n *Node) routeGroupFanout(pid uint16, e hlr.GroupFanoutEffect) {
	name := e.Group[len(hlr.GroupKeyPrefix):]
	for _, t := range n.groups.table.targets(e.Group, e.Msg.Seq, e.Members, time.Now()) {
		b := &groupDeliverBody{Group: name, Users: t.users, Msg: e.Msg}
		if t.node == n.meta.NodeID {
			n.handleGroupDeliver(t.node, b)
			continue
		}
		n.sendTo(t.node, kindGroupDeliver, b)
	}
}

// handleGroupDeliver gives a group entry to the sessions here and
// acknowledges it to the leader's node (from).
func (n *Node) handleGroupDeliver(from string, b *groupDeliverBody) {
	n.vlr.GroupDeliver(b.Group, b.Users, b.Msg)
	n.groupAck(from, []groupAckItem{{Group: b.Group, Seq: b.Msg.Seq}})
}

// handleGroupNotice tells the sessions here how far groups go (they catch
// up) and acknowledges.
func (n *Node) handleGroupNotice(from string, b *groupNoticeBody) {
	acks := make([]groupAckItem, 0, len(b.Notices))
	for _, it := range b.Notices {
		n.vlr.GroupNotice(it.Group, it.Head)
		acks = append(acks, groupAckItem{Group: it.Group, Seq: it.Head})
	}
	n.groupAck(from, acks)
}

func (n *Node) groupAck(to string, acks []groupAckItem) {
	if to == n.meta.NodeID {
		n.handleGroupAck(to, &groupAckBody{Acks: acks})
		return
	}
	n.sendTo(to, kindGroupAck, &groupAckBody{Acks: acks})
}

// handleGroupAck records a node's acknowledgements at this leader.
func (n *Node) handleGroupAck(from string, b *groupAckBody) {
	for _, a := range b.Acks {
		n.groups.table.ack(hlr.GroupKey(a.Group), from, a.Seq)
	}
}

// serveGroupInterest records another node's registrations.
func (n *Node) serveGroupInterest(ctx context.Context, from string, r *groupInterestReq) (*groupInterestResp, error) {
	return n.groups.serve(ctx, from, r)
}

// handleGroupRegroup: a new leader of a partition asks for this node's
// interest in its groups.
func (n *Node) handleGroupRegroup(_ string, b *groupRegroupBody) {
	n.groups.reg.regroup(b.PID)
}
