package node

import (
	"github.com/roamhq/roam/hlr"
)

// Schedule events: a partition leader tells a sender's devices that one of
// their scheduled messages changed (hlr.ScheduleEffect). Lost ones are
// not repaired (the client lists its schedules again on login).

// scheduleBody is the gate body of kindSchedule.
type scheduleBody struct {
	User  string         `msgpack:"u"`
	Locs  []hlr.Location `msgpack:"l"`
	Event string         `msgpack:"e"`
	Sched *hlr.Schedule  `msgpack:"s"`
}

// routeSchedule routes an hlr.ScheduleEffect to the nodes of the devices.
func (n *Node) routeSchedule(_ uint16, e hlr.ScheduleEffect) {
	byNode(e.Locs, func(node string, locs []hlr.Location) {
		b := &scheduleBody{User: e.User, Locs: locs, Event: e.Event, Sched: e.Sched}
		if node == n.meta.NodeID {
			n.handleSchedule(node, b)
			return
		}
		n.sendTo(node, kindSchedule, b)
	})
}

// handleSchedule pushes the event to the sessions here.
func (n *Node) handleSchedule(_ string, b *scheduleBody) {
	if b.Sched == nil {
		return
	}
	n.vlr.PushSchedule(b.User, b.Locs, b.Event, b.Sched)
}
