package node

import (
	"github.com/roamhq/roam/hlr"
)

// Friend events: a partition leader tells a user's devices that a friend
// request arrived, was accepted or declined, or a friendship ended. Lost
// ones are not repaired (the friend list is read again on login).

// friendBody is the gate body of kindFriend (frame type "notify").
type friendBody struct {
	User  string         `msgpack:"u"`
	Locs  []hlr.Location `msgpack:"l"`
	Event string         `msgpack:"e"`
	Peer  string         `msgpack:"p,omitempty"`
}

// routeFriend routes an hlr.FriendEffect to the nodes of the devices.
func (n *Node) routeFriend(_ uint16, e hlr.FriendEffect) {
	byNode(e.Locs, func(node string, locs []hlr.Location) {
		b := &friendBody{User: e.User, Locs: locs, Event: e.Event, Peer: e.Peer}
		if node == n.meta.NodeID {
			n.handleFriend(node, b)
			return
		}
		n.sendTo(node, kindFriend, b)
	})
}

// handleFriend pushes the event to the sessions here.
func (n *Node) handleFriend(_ string, b *friendBody) {
	n.vlr.Notify(b.User, b.Locs, b.Event, b.Peer)
}
