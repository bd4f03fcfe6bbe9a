package wire

// Scenes (game mode, PROTOCOL.md §19). Everything here is volatile: the
// server stores none of it and retries none of it.

// SceneJoin enters a scene at a position (C→S, TSceneJoin →
// TSceneJoined). A session is in at most one scene: joining another
// leaves the first.
type SceneJoin struct {
	Scene string  `msgpack:"scene"`
	X     float64 `msgpack:"x"`
	Y     float64 `msgpack:"y"`
}

// SceneJoined answers a join with the scene's settings (S→C).
type SceneJoined struct {
	Scene string `msgpack:"scene"`
	// ID is this player's id in the scene: the one others see in their
	// events (a new one on every join).
	ID           uint64      `msgpack:"id"`
	Hear         float64     `msgpack:"hear"`
	View         float64     `msgpack:"view"`
	MaxListeners uint32      `msgpack:"max_listeners"`
	MoveHz       float64     `msgpack:"move_hz"` // positions forwarded per second, at most
	Zones        []SceneZone `msgpack:"zones,omitempty"`
}

// SceneMove reports the player's position (C→S, TSceneMove, no reply).
// Moves are coalesced to at most SceneJoined.MoveHz a second: the last one
// wins. A move out of range is answered with an error push.
type SceneMove struct {
	X float64 `msgpack:"x"`
	Y float64 `msgpack:"y"`
}

// SceneSay says Text to the players within hearing (C→S, TSceneSay →
// TOK). OK means the server took it, not that anyone heard it.
type SceneSay struct {
	Text string `msgpack:"text"`
}

// SceneAct performs Action (with optional Data) for the players within
// view (C→S, TSceneAct → TOK).
type SceneAct struct {
	Action string `msgpack:"action"`
	Data   []byte `msgpack:"data,omitempty"`
}

// SceneEvent is a say or an action that reached this player (S→C push).
type SceneEvent struct {
	Scene  string  `msgpack:"scene"`
	Kind   string  `msgpack:"kind"` // "say" or "act"
	ID     uint64  `msgpack:"id"`   // the speaker's id in the scene
	From   string  `msgpack:"from"` // the speaker's display name
	Text   string  `msgpack:"text,omitempty"`
	Action string  `msgpack:"action,omitempty"`
	Data   []byte  `msgpack:"data,omitempty"`
	X      float64 `msgpack:"x"` // where the speaker was
	Y      float64 `msgpack:"y"`
	SentMS int64   `msgpack:"sent_ms"`
}

// SceneView tells a player who entered and who left its view (S→C push),
// coalesced over a short interval: a player never appears in both lists.
type SceneView struct {
	Scene string        `msgpack:"scene"`
	Enter []ScenePlayer `msgpack:"enter,omitempty"`
	Leave []uint64      `msgpack:"leave,omitempty"`
}

// ScenePlayer is a player as others see it.
type ScenePlayer struct {
	ID   uint64  `msgpack:"id"`
	Name string  `msgpack:"name"`
	X    float64 `msgpack:"x"`
	Y    float64 `msgpack:"y"`
}

// SceneZoneReq sets (or, with Remove, removes) a zone of the caller's
// scene (C→S, TSceneZone → TOK). Zones set this way live at the scene's
// host only and are lost when the host fails over.
type SceneZoneReq struct {
	Zone   SceneZone `msgpack:"zone"`
	Remove bool      `msgpack:"remove,omitempty"`
}

// SceneZone is a rectangle (Shape "rect": MinX..MaxX × MinY..MaxY) or a
// circle (Shape "circle": R around X, Y).
type SceneZone struct {
	ID    string  `msgpack:"id"`
	Shape string  `msgpack:"shape"`
	MinX  float64 `msgpack:"min_x,omitempty"`
	MinY  float64 `msgpack:"min_y,omitempty"`
	MaxX  float64 `msgpack:"max_x,omitempty"`
	MaxY  float64 `msgpack:"max_y,omitempty"`
	X     float64 `msgpack:"x,omitempty"`
	Y     float64 `msgpack:"y,omitempty"`
	R     float64 `msgpack:"r,omitempty"`
}

// SceneResend asks the client to send its position again (S→C push): the
// scene's host changed and lost the positions.
type SceneResend struct {
	Scene string `msgpack:"scene"`
}

func newSceneBody(t Type) any {
	switch t {
	case TSceneJoin:
		return new(SceneJoin)
	case TSceneJoined:
		return new(SceneJoined)
	case TSceneLeave:
		return new(Empty)
	case TSceneMove:
		return new(SceneMove)
	case TSceneSay:
		return new(SceneSay)
	case TSceneAct:
		return new(SceneAct)
	case TSceneEvent:
		return new(SceneEvent)
	case TSceneView:
		return new(SceneView)
	case TSceneZone:
		return new(SceneZoneReq)
	case TSceneResend:
		return new(SceneResend)
	}
	return nil
}
