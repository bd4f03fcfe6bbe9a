package node

import (
	"context"
	"errors"

	"github.com/roamhq/roam/hlr"
	"github.com/roamhq/roam/node/gate"
	"github.com/roamhq/roam/vlr"
	"github.com/roamhq/roam/wire"
)

// The scene kinds (scene_host.go has the design): a node's players to
// their scenes' hosts, and the hosts' deliveries back.

// sceneUpdateBody is the body of kindSceneUpdate: moves (a player the
// host does not know is added: joins after a failover, refreshes) and
// leaves of the sender's players in Scene.
type sceneUpdateBody struct {
	Scene  string            `msgpack:"s"`
	Moves  []vlr.ScenePlayer `msgpack:"m,omitempty"`
	Leaves []uint64          `msgpack:"l,omitempty"`
}

// sceneSayBody is the body of kindSceneSay: a say or an action of one of
// the sender's players.
type sceneSayBody struct {
	Scene string           `msgpack:"s"`
	Event *wire.SceneEvent `msgpack:"e"`
}

// sceneDeliverBody is the body of kindSceneDeliver: an event for the
// receiver's players To, and view changes for some of its players.
type sceneDeliverBody struct {
	Scene string           `msgpack:"s"`
	Event *wire.SceneEvent `msgpack:"e,omitempty"`
	To    []uint64         `msgpack:"t,omitempty"`
	Views []sceneViewItem  `msgpack:"v,omitempty"`
}

type sceneViewItem struct {
	To    uint64             `msgpack:"t"`
	Enter []wire.ScenePlayer `msgpack:"e,omitempty"`
	Leave []uint64           `msgpack:"l,omitempty"`
}

// sceneRehostBody is the body of kindSceneRehost: the sender now leads
// PID and hosts its scenes.
type sceneRehostBody struct {
	PID uint16 `msgpack:"p"`
}

// sceneRequestReq is the request of kindSceneRequest: Op "join" (Player
// into Scene) or "zone" (set Zone, or remove it).
type sceneRequestReq struct {
	gate.Deadline `msgpack:",inline"`
	Op            string          `msgpack:"o"`
	Scene         string          `msgpack:"s"`
	Player        vlr.ScenePlayer `msgpack:"p,omitempty"`
	Zone          wire.SceneZone  `msgpack:"z,omitempty"`
	Remove        bool            `msgpack:"r,omitempty"`
}

// sceneRequestResp answers it: Status "ok", "full", "bad_position" or
// "bad_zone", and for a join the scene's settings.
type sceneRequestResp struct {
	Status       string           `msgpack:"st"`
	Hear         float64          `msgpack:"h,omitempty"`
	View         float64          `msgpack:"v,omitempty"`
	MaxListeners int              `msgpack:"m,omitempty"`
	Zones        []wire.SceneZone `msgpack:"z,omitempty"`
}

// sceneBus is the node's vlr.SceneBus: it sends to the host of each
// scene, this node's own host directly.
type sceneBus struct{ n *Node }

func (n *Node) scenePID(scene string) uint16 { return n.rt.partitionOf(sceneKey(scene)) }

// toHost hands a one-way item for scene's host to it: this node's
// handler if it leads the partition, else the gate.
func (n *Node) toHost(scene string, k gate.Kind, body any, local func()) {
	pid := n.scenePID(scene)
	if n.scenes.leads(pid) {
		local()
		return
	}
	if addr := n.leaderAddr(pid, 0); addr != "" {
		n.gate.Send(addr, k, body)
	}
}

func (b sceneBus) SceneMove(scene string, p vlr.ScenePlayer) {
	body := &sceneUpdateBody{Scene: scene, Moves: []vlr.ScenePlayer{p}}
	b.n.toHost(scene, kindSceneUpdate, body, func() { b.n.scenes.update(b.n.meta.NodeID, body) })
}

func (b sceneBus) SceneLeave(scene string, id uint64) {
	body := &sceneUpdateBody{Scene: scene, Leaves: []uint64{id}}
	b.n.toHost(scene, kindSceneUpdate, body, func() { b.n.scenes.update(b.n.meta.NodeID, body) })
}

func (b sceneBus) SceneSay(scene string, ev *wire.SceneEvent) {
	body := &sceneSayBody{Scene: scene, Event: ev}
	b.n.toHost(scene, kindSceneSay, body, func() { b.n.scenes.say(b.n.meta.NodeID, body) })
}

func (b sceneBus) SceneJoin(ctx context.Context, scene string, p vlr.ScenePlayer) (vlr.SceneInfo, error) {
	resp, err := b.n.sceneRequest(ctx, &sceneRequestReq{Op: "join", Scene: scene, Player: p})
	if err != nil {
		return vlr.SceneInfo{}, err
	}
	switch resp.Status {
	case "ok":
	case "full":
		return vlr.SceneInfo{}, vlr.ErrSceneFull
	case "bad_position":
		return vlr.SceneInfo{}, vlr.ErrSceneBadPos
	default:
		return vlr.SceneInfo{}, errors.New("node: scene join: " + resp.Status)
	}
	return vlr.SceneInfo{Hear: resp.Hear, View: resp.View, MaxListeners: resp.MaxListeners, Zones: resp.Zones}, nil
}

func (b sceneBus) SceneZone(ctx context.Context, scene string, z wire.SceneZone, remove bool) error {
	resp, err := b.n.sceneRequest(ctx, &sceneRequestReq{Op: "zone", Scene: scene, Zone: z, Remove: remove})
	if err != nil {
		return err
	}
	if resp.Status != "ok" {
		return vlr.ErrSceneBadZone
	}
	return nil
}

// sceneRequest runs a request at the scene's host, retrying while the
// leader is unknown or moving, until ctx ends.
func (n *Node) sceneRequest(ctx context.Context, req *sceneRequestReq) (*sceneRequestResp, error) {
	pid := n.scenePID(req.Scene)
	for attempt := 0; ; attempt++ {
		if n.scenes.leads(pid) {
			resp, err := n.serveSceneRequest(ctx, n.meta.NodeID, req)
			if err == nil {
				return resp, nil
			}
		} else if addr := n.leaderAddr(pid, attempt); addr != "" {
			var resp sceneRequestResp
			err := n.gate.Call(ctx, addr, kindSceneRequest, req, &resp)
			if _, err = n.remoteErr(ctx, pid, addr, err, cutNone); err == nil {
				return &resp, nil
			} else if !errors.Is(err, hlr.ErrNotLeader) {
				return nil, err
			}
		}
		if err := wait(ctx, attempt); err != nil {
			return nil, err
		}
	}
}

// serveSceneRequest runs a join or a zone change at this host.
func (n *Node) serveSceneRequest(_ context.Context, from string, r *sceneRequestReq) (*sceneRequestResp, error) {
	switch r.Op {
	case "join":
		return n.scenes.join(from, r.Scene, r.Player)
	case "zone":
		return n.scenes.zone(r.Scene, r.Zone, r.Remove)
	}
	return &sceneRequestResp{Status: "unknown op"}, nil
}

func (n *Node) handleSceneUpdate(from string, b *sceneUpdateBody) { n.scenes.update(from, b) }

func (n *Node) handleSceneSay(from string, b *sceneSayBody) { n.scenes.say(from, b) }

// sceneDeliver sends a delivery to node (this one directly).
func (n *Node) sceneDeliver(node string, b *sceneDeliverBody) {
	if node == n.meta.NodeID {
		n.handleSceneDeliver(node, b)
		return
	}
	n.sendTo(node, kindSceneDeliver, b)
}

// handleSceneDeliver gives a host's event and view changes to the local
// players.
func (n *Node) handleSceneDeliver(_ string, b *sceneDeliverBody) {
	if b.Event != nil && len(b.To) > 0 {
		n.vlr.SceneDeliver(b.Scene, b.To, b.Event)
	}
	for _, v := range b.Views {
		n.vlr.SceneView(b.Scene, v.To, &wire.SceneView{Scene: b.Scene, Enter: v.Enter, Leave: v.Leave})
	}
}

// handleSceneRehost: node from now hosts the scenes of partition b.PID:
// it gets this node's players' positions there from the cache, and their
// clients are asked to send theirs again.
func (n *Node) handleSceneRehost(from string, b *sceneRehostBody) {
	addr := n.internalAddrOf(from)
	if from != n.meta.NodeID && addr != "" {
		n.hints.set(b.PID, addr)
	}
	match := func(scene string) bool { return n.scenePID(scene) == b.PID }
	// The clients first: a view of the new host reaches a player only
	// after its position does, so it follows the push on the connection
	// and the client's fresh start of its view (PROTOCOL §19.6).
	n.vlr.SceneResend(match)
	for scene, ps := range n.vlr.SceneSeats(match) {
		body := &sceneUpdateBody{Scene: scene, Moves: ps}
		if from == n.meta.NodeID {
			n.scenes.update(from, body)
		} else if addr != "" {
			n.gate.Send(addr, kindSceneUpdate, body)
		}
	}
}

// sceneRefresh re-sends the positions of this node's players in the
// scenes match accepts to their hosts.
func (n *Node) sceneRefresh(match func(string) bool) {
	b := sceneBus{n}
	for scene, ps := range n.vlr.SceneSeats(match) {
		body := &sceneUpdateBody{Scene: scene, Moves: ps}
		n.toHost(scene, kindSceneUpdate, body, func() { b.n.scenes.update(n.meta.NodeID, body) })
	}
}
