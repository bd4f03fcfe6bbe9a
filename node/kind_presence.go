package node

import (
	"github.com/roamhq/roam/node/gate"
	"github.com/roamhq/roam/vlr"
)

// Presence: each node tells every other live node how its users are
// (presence.go decides when); the receiver keeps it per sending node.
// Volatile: a node whose items may have been lost gets a full snapshot
// again (the gate's Resync).

// presenceBody is the gate body of kindPresence. Full says Ups is the
// sender's complete presence (replace everything from it).
type presenceBody struct {
	Ups  []vlr.PresenceUpdate `msgpack:"u"`
	Full bool                 `msgpack:"f,omitempty"`
	// Replace marks the parts of a periodic replacement (anti-entropy):
	// the receiver drops the sender's announcements the whole replacement
	// does not repeat once the part with Last is in, without dropping
	// everything first (no flicker). Older nodes ignore both and apply
	// the updates.
	Replace bool `msgpack:"r,omitempty"`
	First   bool `msgpack:"F,omitempty"`
	Last    bool `msgpack:"l,omitempty"`
}

// presenceChunk is the most updates one item carries; a longer list (a
// full snapshot) travels as several, the first with Full and the rest
// adding to it.
const presenceChunk = 4096

// sendPresence sends presence updates of this node's users to the node at
// the internal address addr.
func (n *Node) sendPresence(addr string, ups []vlr.PresenceUpdate, full bool) {
	gate.Chunks(ups, presenceChunk, func(first bool, ups []vlr.PresenceUpdate) {
		n.gate.Send(addr, kindPresence, &presenceBody{Ups: ups, Full: full && first})
	})
}

// sendPresenceReplace sends this node's whole presence to the node at
// addr as a replacement (parts of at most presenceChunk updates).
func (n *Node) sendPresenceReplace(addr string, ups []vlr.PresenceUpdate) {
	if len(ups) == 0 {
		n.gate.Send(addr, kindPresence, &presenceBody{Replace: true, First: true, Last: true})
		return
	}
	for i := 0; i < len(ups); i += presenceChunk {
		end := min(i+presenceChunk, len(ups))
		n.gate.Send(addr, kindPresence, &presenceBody{Ups: ups[i:end], Replace: true, First: i == 0, Last: end == len(ups)})
	}
}

// handlePresence records the presence another node (from) announced.
func (n *Node) handlePresence(from string, b *presenceBody) {
	if b.Replace {
		n.vlr.ReplacePresence(from, b.Ups, b.First, b.Last)
		return
	}
	if b.Full {
		n.vlr.DropNode(from)
	}
	for _, u := range b.Ups {
		n.vlr.RemotePresence(from, u)
	}
}
