package node

import (
	"log/slog"
	"reflect"

	"github.com/roamhq/roam/hlr"
)

// effectBus is the node's hlr.Effects: it hands each effect a partition
// leader's apply decided to the router registered for the effect's type
// (onEffect). A router sends each target to the node holding it: this
// node's own targets to the kind's handler directly, other nodes' through
// the gate to the same handler there (see kinds.go and the effect_*.go
// files). Routes are registered while the node starts, before any
// partition opens, and only read afterwards.
type effectBus struct {
	log    *slog.Logger
	routes map[reflect.Type]func(pid uint16, e hlr.Effect)
}

func newEffectBus(log *slog.Logger) *effectBus {
	return &effectBus{log: log, routes: make(map[reflect.Type]func(uint16, hlr.Effect))}
}

// onEffect registers route as the router of effects of type E. A second
// router for one type is a programming error.
func onEffect[E hlr.Effect](b *effectBus, route func(pid uint16, e E)) {
	t := reflect.TypeFor[E]()
	if _, dup := b.routes[t]; dup {
		panic("node: two routers for effect " + t.String())
	}
	b.routes[t] = func(pid uint16, e hlr.Effect) { route(pid, e.(E)) }
}

// Run implements hlr.Effects. Routers queue (the gate) or hand over to
// the vlr, which queues; none blocks.
func (b *effectBus) Run(pid uint16, effs []hlr.Effect) {
	for _, e := range effs {
		route := b.routes[reflect.TypeOf(e)]
		if route == nil {
			b.log.Error("no router for effect; dropped", "effect", reflect.TypeOf(e).String(), "partition", pid)
			continue
		}
		route(pid, e)
	}
}

// byNode calls fn once per node holding some of locs, with the locations
// at that node, in the order the nodes first appear. One node (the common
// case) costs no allocation.
func byNode(locs []hlr.Location, fn func(node string, at []hlr.Location)) {
	if len(locs) == 0 {
		return
	}
	one := true
	for _, l := range locs[1:] {
		if l.Node != locs[0].Node {
			one = false
			break
		}
	}
	if one {
		fn(locs[0].Node, locs)
		return
	}
	var order []string
	groups := make(map[string][]hlr.Location)
	for _, l := range locs {
		if _, ok := groups[l.Node]; !ok {
			order = append(order, l.Node)
		}
		groups[l.Node] = append(groups[l.Node], l)
	}
	for _, node := range order {
		fn(node, groups[node])
	}
}
