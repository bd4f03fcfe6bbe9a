package node

import (
	"log/slog"
	"reflect"
	"testing"

	"github.com/roamhq/roam/hlr"
)

// TestEffectBus_RoutesEachTypeToItsRouter: Run hands every effect to the
// router registered for its type, in order, with the partition; an effect
// with no router is dropped (logged), not misrouted; a second router for
// one type panics.
func TestEffectBus_RoutesEachTypeToItsRouter(t *testing.T) {
	b := newEffectBus(slog.New(slog.DiscardHandler))
	var got []string
	onEffect(b, func(pid uint16, e hlr.DeliverEffect) { got = append(got, "deliver:"+e.User) })
	onEffect(b, func(pid uint16, e hlr.CancelEffect) { got = append(got, "cancel:"+e.Reason) })
	b.Run(3, []hlr.Effect{
		hlr.DeliverEffect{User: "ann"},
		hlr.FriendEffect{User: "nobody routes this"},
		hlr.CancelEffect{Reason: "session_replaced"},
		hlr.DeliverEffect{User: "bob"},
	})
	if want := []string{"deliver:ann", "cancel:session_replaced", "deliver:bob"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("routed %v, want %v", got, want)
	}
	defer func() {
		if recover() == nil {
			t.Fatal("a second router for DeliverEffect was accepted")
		}
	}()
	onEffect(b, func(uint16, hlr.DeliverEffect) {})
}

// TestByNode_GroupsLocationsInOrder: one call per node, in the order the
// nodes first appear, each with that node's locations in order.
func TestByNode_GroupsLocationsInOrder(t *testing.T) {
	loc := func(dev, node string) hlr.Location { return hlr.Location{Device: dev, Node: node, Epoch: 1} }
	type call struct {
		node string
		locs []hlr.Location
	}
	for name, tc := range map[string]struct {
		in   []hlr.Location
		want []call
	}{
		"none":     {nil, nil},
		"one node": {[]hlr.Location{loc("a", "n1"), loc("b", "n1")}, []call{{"n1", []hlr.Location{loc("a", "n1"), loc("b", "n1")}}}},
		"mixed": {[]hlr.Location{loc("a", "n2"), loc("b", "n1"), loc("c", "n2")}, []call{
			{"n2", []hlr.Location{loc("a", "n2"), loc("c", "n2")}},
			{"n1", []hlr.Location{loc("b", "n1")}},
		}},
	} {
		var got []call
		byNode(tc.in, func(node string, at []hlr.Location) { got = append(got, call{node, at}) })
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: %+v, want %+v", name, got, tc.want)
		}
	}
}
