package client

import (
	"context"
	"time"

	"github.com/roamhq/roam/wire"
)

// Scenes (game mode, PROTOCOL.md §19). A session is in at most one
// scene. Everything is volatile: says, actions and view events reach the
// players in range who are connected at that moment, are not stored and
// are not retried. The client remembers the scene and the last position
// it reported: after a reconnect it joins the scene again there (emitting
// EventSceneJoined with the new id), and when the scene's host asks
// (it failed over) it sends the position again by itself and emits
// EventSceneRehosted: the view starts again.

// Scene errors.
var (
	ErrSceneBadPosition = codeErr(wire.CodeSceneBadPosition)
	ErrNotInScene       = codeErr(wire.CodeNotInScene)
	ErrSceneFull        = codeErr(wire.CodeSceneFull)
	ErrSceneZoneDenied  = codeErr(wire.CodeSceneZoneDenied)
	ErrSceneBadZone     = codeErr(wire.CodeSceneBadZone)
)

// SceneZone is a rectangle (Shape "rect") or a circle (Shape "circle") of
// a scene.
type SceneZone = wire.SceneZone

// SceneInfo is a scene joined: this player's id in it, the radii, the cap
// of listeners, the moves a second the server forwards and the zones.
type SceneInfo struct {
	Scene        string
	ID           uint64
	Hear, View   float64
	MaxListeners int
	MoveHz       float64
	Zones        []SceneZone
}

// SceneEvent is a say (Kind "say", Text) or an action (Kind "act",
// Action and Data) that reached this player, from player ID (display
// name From) at X, Y.
type SceneEvent struct {
	Scene, Kind string
	ID          uint64
	From        string
	Text        string
	Action      string
	Data        []byte
	X, Y        float64
	Sent        time.Time
}

// ScenePlayer is another player as this one sees it.
type ScenePlayer struct {
	ID   uint64
	Name string
	X, Y float64
}

// SceneView says who entered (with their position then) and who left
// this player's view.
type SceneView struct {
	Scene string
	Enter []ScenePlayer
	Leave []uint64
}

// sceneState is the client's scene, guarded by Client.mu.
type sceneState struct {
	scene  string // "" when in none
	x, y   float64
	joined bool // on the current connection
}

// SceneJoin enters scene at (x, y), leaving the scene the session was
// in.
func (c *Client) SceneJoin(ctx context.Context, scene string, x, y float64) (SceneInfo, error) {
	var r wire.SceneJoined
	if err := c.call(ctx, wire.TSceneJoin, &wire.SceneJoin{Scene: scene, X: x, Y: y}, wire.TSceneJoined, &r); err != nil {
		return SceneInfo{}, err
	}
	c.mu.Lock()
	c.sc = sceneState{scene: r.Scene, x: x, y: y, joined: true}
	c.mu.Unlock()
	return toSceneInfo(&r), nil
}

func toSceneInfo(r *wire.SceneJoined) SceneInfo {
	return SceneInfo{Scene: r.Scene, ID: r.ID, Hear: r.Hear, View: r.View, MaxListeners: int(r.MaxListeners), MoveHz: r.MoveHz, Zones: r.Zones}
}

// SceneMove reports the player's position. It does not wait for the
// server (moves have no reply; the server forwards at most SceneInfo.MoveHz
// a second, the last one winning), and fails only when there is no
// connection or no scene.
func (c *Client) SceneMove(ctx context.Context, x, y float64) error {
	c.mu.Lock()
	if c.sc.scene == "" {
		c.mu.Unlock()
		return ErrNotInScene
	}
	c.sc.x, c.sc.y = x, y
	c.mu.Unlock()
	rctx, cancel := c.withTimeout(ctx)
	defer cancel()
	cn, err := c.getConn(rctx)
	if err != nil {
		return timeoutCause(ctx, rctx, err)
	}
	return cn.send(wire.TSceneMove, 0, &wire.SceneMove{X: x, Y: y})
}

// SceneLeave leaves the scene.
func (c *Client) SceneLeave(ctx context.Context) error {
	c.mu.Lock()
	c.sc = sceneState{}
	c.mu.Unlock()
	return c.call(ctx, wire.TSceneLeave, &wire.Empty{}, wire.TOK, nil)
}

// SceneSay says text to the players within hearing. A nil error means
// the server took it, not that anyone heard it.
func (c *Client) SceneSay(ctx context.Context, text string) error {
	return c.call(ctx, wire.TSceneSay, &wire.SceneSay{Text: text}, wire.TOK, nil)
}

// SceneAct performs action (with optional data) for the players within
// view.
func (c *Client) SceneAct(ctx context.Context, action string, data []byte) error {
	return c.call(ctx, wire.TSceneAct, &wire.SceneAct{Action: action, Data: data}, wire.TOK, nil)
}

// SceneZone sets zone z of the current scene (or removes the zone with
// z.ID). Zones set this way live at the scene's host only: a failover of
// the host loses them. Only the node's zone admins may.
func (c *Client) SceneZone(ctx context.Context, z SceneZone, remove bool) error {
	return c.call(ctx, wire.TSceneZone, &wire.SceneZoneReq{Zone: z, Remove: remove}, wire.TOK, nil)
}

// Scene returns the scene the client is in ("" for none) and the last
// position it reported.
func (c *Client) Scene() (scene string, x, y float64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.sc.scene, c.sc.x, c.sc.y
}

// onScenePush handles the scene pushes.
func (c *Client) onScenePush(cn *conn, f wire.Frame) {
	switch f.Type {
	case wire.TSceneEvent:
		var e wire.SceneEvent
		if err := wire.Decode(f.Body, &e); err != nil {
			c.log.Warn("bad scene event push", "err", err)
			return
		}
		c.emit(Event{Kind: EventScene, SceneEvent: SceneEvent{Scene: e.Scene, Kind: e.Kind, ID: e.ID, From: e.From, Text: e.Text,
			Action: e.Action, Data: e.Data, X: e.X, Y: e.Y, Sent: time.UnixMilli(e.SentMS)}})
	case wire.TSceneView:
		var v wire.SceneView
		if err := wire.Decode(f.Body, &v); err != nil {
			c.log.Warn("bad scene view push", "err", err)
			return
		}
		sv := SceneView{Scene: v.Scene, Leave: v.Leave}
		for _, p := range v.Enter {
			sv.Enter = append(sv.Enter, ScenePlayer{ID: p.ID, Name: p.Name, X: p.X, Y: p.Y})
		}
		c.emit(Event{Kind: EventSceneView, SceneView: sv})
	case wire.TSceneResend:
		c.mu.Lock()
		st := c.sc
		c.mu.Unlock()
		if st.scene != "" && st.joined {
			// On the reader: a write of one small frame, bounded by
			// RequestTimeout; done in the background all the same.
			c.goFunc(func() { cn.send(wire.TSceneMove, 0, &wire.SceneMove{X: st.x, Y: st.y}) })
			// Emitted before any view of the new host, which reaches this
			// connection after the push (the node sends the positions to
			// the new host after pushing it).
			c.emit(Event{Kind: EventSceneRehosted, SceneInfo: SceneInfo{Scene: st.scene}})
		}
	}
}

// sceneRejoin joins the scene again after a reconnect, where the client
// last was.
func (c *Client) sceneRejoin() {
	c.mu.Lock()
	st := c.sc
	c.mu.Unlock()
	if st.scene == "" {
		return
	}
	ctx, cancel := context.WithTimeout(c.ctx, c.cfg.RequestTimeout)
	defer cancel()
	info, err := c.SceneJoin(ctx, st.scene, st.x, st.y)
	if err != nil {
		c.log.Debug("scene rejoin failed", "scene", st.scene, "err", err)
		c.emit(Event{Kind: EventError, Err: err})
		return
	}
	c.emit(Event{Kind: EventSceneJoined, SceneInfo: info})
}
