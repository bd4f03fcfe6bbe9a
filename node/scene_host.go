package node

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/roamhq/roam/scene"
	"github.com/roamhq/roam/vlr"
	"github.com/roamhq/roam/wire"
)

// Scene hosting (game mode; kind_scene.go has the kinds, package scene the
// grid, vlr/scene.go the players' side).
//
//   - A scene belongs to the partition of its key, "s/" + id; the node
//     leading that partition hosts the scene: its grid lives here, in
//     memory only. Nothing of a scene is written to Raft.
//   - Each node reports its own players to the host: a join (a request,
//     kindSceneRequest, answered with the scene's settings), moves and
//     leaves (one-way, kindSceneUpdate), says and actions (one-way,
//     kindSceneSay). The host knows each player's node from the gate
//     connection it came on, not from the body.
//   - A say goes to the listeners within hearing (an action: within
//     view), the nearest MaxListeners; the host sends one kindSceneDeliver
//     per node with the ids of the players there. View changes go the
//     same way, collected per player and flushed every ViewInterval (the
//     bound on their rate), an enter and a leave of the same peer within
//     one interval cancelling out.
//   - Leadership: a partition won asks every node (kindSceneRehost) for
//     the positions of its players in that partition's scenes; each node
//     sends them from its cache and asks its clients to send theirs again.
//     A partition lost drops its scenes. Every node also re-sends all its
//     players' positions every RefreshInterval, and a host drops a player
//     it has not heard of for PlayerTTL (a lost leave, a dead node).
//   - Zones from the configuration belong to the scene (every new host
//     has them); zones set through the API live at the host only and are
//     lost when it fails over.

// SceneConfig tunes scene hosting.
type SceneConfig struct {
	// Default is the settings of every scene not in Scenes.
	Default scene.Config
	// Scenes overrides the settings of single scenes, by id.
	Scenes map[string]scene.Config
	// Zones are the configured zones of scenes, by id.
	Zones map[string][]scene.Zone
	// ViewInterval is how often view changes are sent to each player, at
	// most.
	ViewInterval time.Duration
	// RefreshInterval is how often each node re-sends its players'
	// positions to the hosts; PlayerTTL how long a host keeps a player it
	// hears nothing of.
	RefreshInterval time.Duration
	PlayerTTL       time.Duration
}

// DefaultSceneConfig returns the defaults: scene.DefaultConfig for every
// scene, view changes every 200 ms, a refresh every 2 s, players dropped
// after 6 s of silence.
func DefaultSceneConfig() SceneConfig {
	return SceneConfig{Default: scene.DefaultConfig(), ViewInterval: 200 * time.Millisecond,
		RefreshInterval: 2 * time.Second, PlayerTTL: 6 * time.Second}
}

// Validate checks the configuration.
func (c SceneConfig) Validate() error {
	if err := c.Default.Validate(); err != nil {
		return fmt.Errorf("node: Scenes.Default: %w", err)
	}
	for id, sc := range c.Scenes {
		if err := sc.Validate(); err != nil {
			return fmt.Errorf("node: Scenes.Scenes[%q]: %w", id, err)
		}
	}
	for id, zs := range c.Zones {
		sc := c.settings(id)
		if len(zs) > sc.MaxZones {
			return fmt.Errorf("node: Scenes.Zones[%q]: %d zones, at most %d", id, len(zs), sc.MaxZones)
		}
		for _, z := range zs {
			if !z.Valid(sc.Bound) {
				return fmt.Errorf("node: Scenes.Zones[%q]: %w: %+v", id, scene.ErrBadZone, z)
			}
		}
	}
	if c.ViewInterval <= 0 || c.RefreshInterval <= 0 || c.PlayerTTL < 2*c.RefreshInterval {
		return errors.New("node: Scenes: ViewInterval and RefreshInterval must be positive and PlayerTTL at least twice RefreshInterval")
	}
	return nil
}

func (c SceneConfig) settings(id string) scene.Config {
	if sc, ok := c.Scenes[id]; ok {
		return sc
	}
	return c.Default
}

// sceneHost hosts the scenes of the partitions this node leads.
type sceneHost struct {
	n   *Node
	cfg SceneConfig

	mu     sync.Mutex // leaf lock: the map only
	scenes map[string]*hostedScene

	updates    atomic.Uint64 // positions applied (joins, moves, refreshes)
	says       atomic.Uint64 // says and actions handed out
	deliveries atomic.Uint64 // recipients of says and actions
}

// hostedScene is one scene hosted here. Its mutex guards the grid and the
// players; it is taken after sceneHost.mu is released, and no I/O happens
// under it (sends are collected and made after).
type hostedScene struct {
	id  string
	pid uint16

	mu       sync.Mutex
	grid     *scene.Grid
	players  map[scene.ID]*hostedPlayer
	views    map[scene.ID]map[scene.ID]bool // pending view changes: recipient → peer → entered
	apiZones bool                           // zones were changed through the API
	dead     bool                           // dropped from the host's map (empty): get it again
}

type hostedPlayer struct {
	node string
	name string
	seen time.Time
}

func newSceneHost(n *Node, cfg SceneConfig) *sceneHost {
	return &sceneHost{n: n, cfg: cfg, scenes: make(map[string]*hostedScene)}
}

func sceneKey(id string) string { return "s/" + id }

// leads reports whether this node leads partition pid.
func (h *sceneHost) leads(pid uint16) bool {
	p, ok := h.n.host.Partition(pid)
	return ok && p.IsLeader()
}

// get returns the hosted scene id, creating it if create and this node
// leads its partition; nil if it is not hosted here.
func (h *sceneHost) get(id string, create bool) *hostedScene {
	pid := h.n.rt.partitionOf(sceneKey(id))
	if !h.leads(pid) {
		return nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	hs := h.scenes[id]
	if hs == nil && create {
		g, err := scene.New(h.cfg.settings(id))
		if err != nil {
			h.n.log.Error("scene settings", "scene", id, "err", err)
			return nil
		}
		for _, z := range h.cfg.Zones[id] {
			g.SetZone(z) // validated with the configuration
		}
		hs = &hostedScene{id: id, pid: pid, grid: g, players: make(map[scene.ID]*hostedPlayer),
			views: make(map[scene.ID]map[scene.ID]bool)}
		h.scenes[id] = hs
	}
	return hs
}

// lock returns hosted scene id locked (see get), never one dropped
// meanwhile.
func (h *sceneHost) lock(id string, create bool) *hostedScene {
	for {
		hs := h.get(id, create)
		if hs == nil {
			return nil
		}
		hs.mu.Lock()
		if !hs.dead {
			return hs
		}
		hs.mu.Unlock()
	}
}

// all returns the hosted scenes.
func (h *sceneHost) all() []*hostedScene {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]*hostedScene, 0, len(h.scenes))
	for _, hs := range h.scenes {
		out = append(out, hs)
	}
	return out
}

// onLeader (hlr.Host.OnLeader): the scenes of a partition won or lost
// start afresh; a partition won asks every node for its players there.
func (h *sceneHost) onLeader(pid uint16, leader bool) {
	h.mu.Lock()
	for id, hs := range h.scenes {
		if hs.pid == pid {
			delete(h.scenes, id)
		}
	}
	h.mu.Unlock()
	if !leader {
		return
	}
	n := h.n
	b := &sceneRehostBody{PID: pid}
	ms := n.aliveMembers()
	if len(ms) == 0 && n.gossip != nil {
		ms = n.gossip.Members()
	}
	for _, m := range ms {
		if m.ID != n.meta.NodeID && m.Meta.InternalAddr != "" {
			n.gate.Send(m.Meta.InternalAddr, kindSceneRehost, b)
		}
	}
	n.handleSceneRehost(n.meta.NodeID, b) // this node's own players
}

// join seats p (at node) in scene id and returns the scene's settings.
func (h *sceneHost) join(node, id string, p vlr.ScenePlayer) (*sceneRequestResp, error) {
	hs := h.lock(id, true)
	if hs == nil {
		return nil, h.n.notLeader(h.n.rt.partitionOf(sceneKey(id)))
	}
	err := hs.place(h, node, p, time.Now())
	cfg := hs.grid.Config()
	zones := hs.grid.Zones()
	hs.mu.Unlock()
	resp := &sceneRequestResp{Hear: cfg.Hear, View: cfg.View, MaxListeners: cfg.MaxListeners}
	switch {
	case errors.Is(err, scene.ErrFull):
		resp.Status = "full"
	case errors.Is(err, scene.ErrBadPosition):
		resp.Status = "bad_position"
	case err != nil:
		return nil, err
	default:
		resp.Status = "ok"
	}
	for _, z := range zones {
		resp.Zones = append(resp.Zones, toWireZone(z))
	}
	return resp, nil
}

// place adds or moves player p of node. hs.mu is held.
func (hs *hostedScene) place(h *sceneHost, node string, p vlr.ScenePlayer, now time.Time) error {
	id := scene.ID(p.ID)
	hp := hs.players[id]
	if hp != nil && hp.node != node {
		return fmt.Errorf("node: scene player %d belongs to node %s, not %s", p.ID, hp.node, node)
	}
	ch, err := hs.grid.Add(id, p.X, p.Y)
	if err != nil {
		return err
	}
	if hp == nil {
		hp = &hostedPlayer{node: node}
		hs.players[id] = hp
	}
	hp.name, hp.seen = p.Name, now
	hs.note(ch)
	h.updates.Add(1)
	return nil
}

// remove takes player id out. hs.mu is held.
func (hs *hostedScene) remove(id scene.ID) {
	if _, ok := hs.players[id]; !ok {
		return
	}
	delete(hs.players, id)
	delete(hs.views, id)
	hs.note(hs.grid.Remove(id))
}

// note records view changes for the next flush; an enter and a leave of
// one peer cancel out. hs.mu is held.
func (hs *hostedScene) note(ch []scene.Change) {
	for _, c := range ch {
		if _, ok := hs.players[c.To]; !ok {
			continue
		}
		m := hs.views[c.To]
		if m == nil {
			m = make(map[scene.ID]bool)
			hs.views[c.To] = m
		}
		if was, ok := m[c.Peer]; ok && was != c.Enter {
			delete(m, c.Peer)
			continue
		}
		m[c.Peer] = c.Enter
	}
}

// update applies a node's moves and leaves.
func (h *sceneHost) update(node string, b *sceneUpdateBody) {
	hs := h.lock(b.Scene, len(b.Moves) > 0)
	if hs == nil {
		return
	}
	now := time.Now()
	defer hs.mu.Unlock()
	for _, id := range b.Leaves {
		if hp := hs.players[scene.ID(id)]; hp != nil && hp.node == node {
			hs.remove(scene.ID(id))
		}
	}
	for _, p := range b.Moves {
		if err := hs.place(h, node, p, now); err != nil {
			h.n.log.Debug("scene move refused", "scene", b.Scene, "node", node, "err", err)
		}
	}
}

// say hands a say or an action of a player of node to the players in
// range, one kindSceneDeliver per node.
func (h *sceneHost) say(node string, b *sceneSayBody) {
	ev := b.Event
	if ev == nil {
		return
	}
	hs := h.lock(b.Scene, true)
	if hs == nil {
		return
	}
	id := scene.ID(ev.ID)
	byNode := map[string][]uint64{}
	var order []string
	hp := hs.players[id]
	if hp == nil {
		// Not heard of yet (a new host before the positions came back):
		// the say carries where the speaker is.
		if hs.place(h, node, vlr.ScenePlayer{ID: ev.ID, Name: ev.From, X: ev.X, Y: ev.Y}, time.Now()) != nil {
			hs.mu.Unlock()
			return
		}
		hp = hs.players[id]
	}
	if hp.node != node {
		hs.mu.Unlock()
		return
	}
	cfg := hs.grid.Config()
	r := cfg.Hear
	if ev.Kind == "act" {
		r = cfg.View
	}
	ev.X, ev.Y, _ = hs.grid.Position(id)
	ev.Scene = hs.id
	for _, l := range hs.grid.Listeners(id, r, nil) {
		lp := hs.players[l]
		if _, ok := byNode[lp.node]; !ok {
			order = append(order, lp.node)
		}
		byNode[lp.node] = append(byNode[lp.node], uint64(l))
	}
	hs.mu.Unlock()
	h.says.Add(1)
	for _, to := range order {
		h.deliveries.Add(uint64(len(byNode[to])))
		h.n.sceneDeliver(to, &sceneDeliverBody{Scene: hs.id, Event: ev, To: byNode[to]})
	}
}

// zone sets or removes a zone of scene id.
func (h *sceneHost) zone(id string, z wire.SceneZone, remove bool) (*sceneRequestResp, error) {
	hs := h.lock(id, true)
	if hs == nil {
		return nil, h.n.notLeader(h.n.rt.partitionOf(sceneKey(id)))
	}
	defer hs.mu.Unlock()
	hs.apiZones = true
	if remove {
		hs.note(hs.grid.RemoveZone(z.ID))
		return &sceneRequestResp{Status: "ok"}, nil
	}
	ch, err := hs.grid.SetZone(fromWireZone(z))
	if err != nil {
		return &sceneRequestResp{Status: "bad_zone"}, nil
	}
	hs.note(ch)
	return &sceneRequestResp{Status: "ok"}, nil
}

// run flushes view changes every ViewInterval and drops silent players,
// until the node stops.
func (h *sceneHost) run() {
	t := time.NewTicker(h.cfg.ViewInterval)
	defer t.Stop()
	refresh := time.NewTicker(h.cfg.RefreshInterval)
	defer refresh.Stop()
	for {
		select {
		case <-h.n.ctx.Done():
			return
		case <-t.C:
			for _, hs := range h.all() {
				h.flush(hs, time.Now())
			}
		case <-refresh.C:
			h.n.sceneRefresh(func(string) bool { return true })
		}
	}
}

// flush sends the pending view changes of hs, one kindSceneDeliver per
// node, and drops players silent for PlayerTTL.
func (h *sceneHost) flush(hs *hostedScene, now time.Time) {
	byNode := map[string]*sceneDeliverBody{}
	hs.mu.Lock()
	for id, hp := range hs.players {
		if now.Sub(hp.seen) > h.cfg.PlayerTTL {
			hs.remove(id)
		}
	}
	for to, m := range hs.views {
		hp := hs.players[to]
		if hp == nil || len(m) == 0 {
			continue
		}
		v := sceneViewItem{To: uint64(to)}
		for peer, enter := range m {
			if !enter {
				v.Leave = append(v.Leave, uint64(peer))
				continue
			}
			pp := hs.players[peer]
			x, y, ok := hs.grid.Position(peer)
			if pp == nil || !ok {
				continue
			}
			v.Enter = append(v.Enter, wire.ScenePlayer{ID: uint64(peer), Name: pp.name, X: x, Y: y})
		}
		b := byNode[hp.node]
		if b == nil {
			b = &sceneDeliverBody{Scene: hs.id}
			byNode[hp.node] = b
		}
		b.Views = append(b.Views, v)
	}
	clear(hs.views)
	empty := hs.grid.Len() == 0 && !hs.apiZones
	hs.mu.Unlock()
	for node, b := range byNode {
		h.n.sceneDeliver(node, b)
	}
	if empty {
		// An empty scene costs nothing to make again (its zones come from
		// the configuration), and a client joining scene after scene must
		// not grow the host.
		h.mu.Lock()
		if h.scenes[hs.id] == hs {
			hs.mu.Lock()
			if hs.grid.Len() == 0 && !hs.apiZones {
				delete(h.scenes, hs.id)
				hs.dead = true
			}
			hs.mu.Unlock()
		}
		h.mu.Unlock()
	}
}

func toWireZone(z scene.Zone) wire.SceneZone {
	return wire.SceneZone{ID: z.ID, Shape: z.Shape, MinX: z.MinX, MinY: z.MinY, MaxX: z.MaxX, MaxY: z.MaxY, X: z.X, Y: z.Y, R: z.R}
}

func fromWireZone(z wire.SceneZone) scene.Zone {
	return scene.Zone{ID: z.ID, Shape: z.Shape, MinX: z.MinX, MinY: z.MinY, MaxX: z.MaxX, MaxY: z.MaxY, X: z.X, Y: z.Y, R: z.R}
}

// SceneStats is what this node's scene hosting did since start.
type SceneStats struct {
	Hosted     int    // scenes hosted here now
	Players    int    // players in them
	Updates    uint64 // positions applied
	Says       uint64 // says and actions handed out
	Deliveries uint64 // their recipients
}

// SceneStats returns the counters of scene hosting (tests, bench).
func (n *Node) SceneStats() SceneStats {
	h := n.scenes
	st := SceneStats{Updates: h.updates.Load(), Says: h.says.Load(), Deliveries: h.deliveries.Load()}
	for _, hs := range h.all() {
		st.Hosted++
		hs.mu.Lock()
		st.Players += hs.grid.Len()
		hs.mu.Unlock()
	}
	return st
}
