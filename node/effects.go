package node

import (
	"github.com/roamhq/roam/hlr"
	"github.com/roamhq/roam/vlr"
)

// effects carries a partition leader's post-commit effects to the visitor
// registers that hold the devices: the local one directly, others through
// the jump gate.
type effects struct {
	self string
	vlr  *vlr.Server
	gate gateSender // nil on a single node
}

// gateSender forwards effects to other nodes, batched per node.
type gateSender interface {
	deliver(node, user string, locs []hlr.Location, m *hlr.Message)
	cancel(node, user string, loc hlr.Location, reason string)
	notify(node, user string, locs []hlr.Location, event, peer string)
}

// split groups locations by node, keeping this node's apart.
func (e *effects) split(locs []hlr.Location) (local []hlr.Location, remote map[string][]hlr.Location) {
	for _, l := range locs {
		if l.Node == e.self {
			local = append(local, l)
			continue
		}
		if e.gate == nil {
			continue
		}
		if remote == nil {
			remote = make(map[string][]hlr.Location)
		}
		remote[l.Node] = append(remote[l.Node], l)
	}
	return local, remote
}

func (e *effects) Deliver(user string, locs []hlr.Location, m *hlr.Message) {
	local, remote := e.split(locs)
	if len(local) > 0 {
		e.vlr.Deliver(user, local, m)
	}
	for node, ls := range remote {
		e.gate.deliver(node, user, ls, m)
	}
}

func (e *effects) Cancel(user string, loc hlr.Location, reason string) {
	if loc.Node == e.self {
		e.vlr.Cancel(user, loc, reason)
		return
	}
	if e.gate != nil {
		e.gate.cancel(loc.Node, user, loc, reason)
	}
}

func (e *effects) Notify(user string, locs []hlr.Location, event, peer string) {
	local, remote := e.split(locs)
	if len(local) > 0 {
		e.vlr.Notify(user, local, event, peer)
	}
	for node, ls := range remote {
		e.gate.notify(node, user, ls, event, peer)
	}
}
