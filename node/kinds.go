package node

import (
	"github.com/roamhq/roam/hlr"
	"github.com/roamhq/roam/node/gate"
)

// The internal bus: every kind of node-to-node item the gate carries,
// and where each is served. A kind's number is its frame type on the
// wire, so the enum is append-only: never renumber or reuse a value (1
// and 4 are the gate's own hello and reply). Adding a kind is a constant
// here, its feature's file (body type, router or sender, handler), and one
// line in registerKinds. ARCHITECTURE.md, "The internal bus", has the map.
const (
	kindExec     gate.Kind = 2  // request: a command at a partition leader (remote.go)
	kindQuery    gate.Kind = 3  // request: a read at a partition leader (remote.go)
	kindDeliver  gate.Kind = 5  // effect: a committed message for devices (effect_deliver.go)
	kindCancel   gate.Kind = 6  // effect: Cancel Location (effect_cancel.go)
	kindFriend   gate.Kind = 7  // effect: a friend event, "notify" (effect_friend.go)
	kindPresence gate.Kind = 8  // one-way: presence of this node's users (kind_presence.go)
	kindNotice   gate.Kind = 9  // one-way: delivery repair, how far streams go (kind_notice.go)
	kindAck      gate.Kind = 10 // one-way: what the devices took of a leader's forwards (kind_ack.go)
	kindStatus   gate.Kind = 11 // request: what a node knows of a partition (kind_status.go, admin.go)
	// Groups (groups.go, effect_group.go):
	kindGroupDeliver  gate.Kind = 12 // effect: a committed group entry, once per interested node
	kindGroupNotice   gate.Kind = 13 // one-way: how far groups go (repair)
	kindGroupAck      gate.Kind = 14 // one-way: what a node took of a leader's group forwards
	kindGroupInterest gate.Kind = 15 // request: a node's interest in groups of a partition, to its leader
	kindGroupRegroup  gate.Kind = 16 // one-way: a new leader asks for the interest in its partition's groups
	// Scheduled messages (scheduler.go, effect_schedule.go):
	kindSchedule gate.Kind = 17 // effect: a scheduled message of the user changed
	// Scenes (scene_host.go, kind_scene.go); 18–22 are this feature's:
	kindSceneUpdate  gate.Kind = 18 // one-way: a node's players' moves and leaves, to the scene's host
	kindSceneSay     gate.Kind = 19 // one-way: a say or an action, to the scene's host
	kindSceneDeliver gate.Kind = 20 // one-way: a host's event and view changes for a node's players
	kindSceneRehost  gate.Kind = 21 // one-way: a new host asks for the positions in its partition's scenes
	kindSceneRequest gate.Kind = 22 // request: a join or a zone change at the scene's host

	// Membership (leave.go):
	kindLeaving gate.Kind = 23 // request: the sender leaves the cluster (gossip may not have said so)
	kindAlive   gate.Kind = 24 // request: is the node up? (gossip says it is dead; confirm.go)
)

// registerKinds registers each kind's handler on the gate and each
// effect's router on the effect bus: one line per kind. It runs once the
// vlr exists and before the gate starts serving.
func (n *Node) registerKinds() {
	n.gate.Handle(kindExec, gate.Request("exec", n.serveExec))
	n.gate.Handle(kindQuery, gate.Request("query", n.serveQuery).AsAnswer())
	effectKind(n, kindDeliver, "deliver", n.routeDeliver, n.handleDeliver)
	effectKind(n, kindCancel, "cancel", n.routeCancel, n.handleCancel)
	effectKind(n, kindFriend, "notify", n.routeFriend, n.handleFriend)
	n.gate.Handle(kindPresence, gate.OneWay("presence", n.handlePresence))
	n.gate.Handle(kindNotice, gate.OneWay("notice", n.handleNotice))
	n.gate.Handle(kindAck, gate.OneWay("ack", n.handleAck))
	n.gate.Handle(kindStatus, gate.Request("status", n.serveStatus))
	effectKind(n, kindGroupDeliver, "group_deliver", n.routeGroupFanout, n.handleGroupDeliver)
	n.gate.Handle(kindGroupNotice, gate.OneWay("group_notice", n.handleGroupNotice))
	n.gate.Handle(kindGroupAck, gate.OneWay("group_ack", n.handleGroupAck))
	n.gate.Handle(kindGroupInterest, gate.Request("group_interest", n.serveGroupInterest))
	n.gate.Handle(kindGroupRegroup, gate.OneWay("group_regroup", n.handleGroupRegroup))
	effectKind(n, kindSchedule, "schedule", n.routeSchedule, n.handleSchedule)
	n.gate.Handle(kindLeaving, gate.Request("leaving", n.serveLeaving))
	n.gate.Handle(kindAlive, gate.Request("alive", n.serveAlive))
	onEffect(n.bus, n.sched.routeArm)
	n.gate.Handle(kindSceneUpdate, gate.OneWay("scene_update", n.handleSceneUpdate))
	n.gate.Handle(kindSceneSay, gate.OneWay("scene_say", n.handleSceneSay))
	n.gate.Handle(kindSceneDeliver, gate.OneWay("scene_deliver", n.handleSceneDeliver))
	n.gate.Handle(kindSceneRehost, gate.OneWay("scene_rehost", n.handleSceneRehost))
	n.gate.Handle(kindSceneRequest, gate.Request("scene_request", n.serveSceneRequest))
}

// effectKind registers an effect kind: route, the router of effects of
// type E on the effect bus, and handle, the handler of kind k, which route
// calls for this node's targets and the gate for other nodes'.
func effectKind[E hlr.Effect, B any](n *Node, k gate.Kind, name string, route func(pid uint16, e E), handle func(from string, b *B)) {
	onEffect(n.bus, route)
	n.gate.Handle(k, gate.OneWay(name, handle))
}

// sendTo queues body as a one-way item of kind k for the node with id
// node. It reports false when the node's address is unknown (it left the
// membership): nothing was sent.
func (n *Node) sendTo(node string, k gate.Kind, body any) bool {
	addr := n.internalAddrOf(node)
	if addr == "" {
		return false
	}
	n.gate.Send(addr, k, body)
	return true
}
