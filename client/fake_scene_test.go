package client

import (
	"github.com/roamhq/roam/wire"
)

// The fake server's scenes: it records what the client sends and answers
// joins with ids 1, 2, 3, ...

type fakeScenes struct {
	joins []wire.SceneJoin
	moves []wire.SceneMove
	says  []any // *wire.SceneSay or *wire.SceneAct
}

// handleScene answers the scene frames (with cl.mu held); false for any
// other type.
func (c *fakeConn) handleScene(t wire.Type, rid uint32, body any) bool {
	sc := &c.n.cl.scene
	switch t {
	case wire.TSceneJoin:
		j := body.(*wire.SceneJoin)
		sc.joins = append(sc.joins, *j)
		c.write(wire.TSceneJoined, rid, &wire.SceneJoined{Scene: j.Scene, ID: uint64(len(sc.joins)), Hear: 50, View: 100, MaxListeners: 200, MoveHz: 10})
	case wire.TSceneMove:
		sc.moves = append(sc.moves, *body.(*wire.SceneMove))
	case wire.TSceneSay, wire.TSceneAct:
		sc.says = append(sc.says, body)
		c.write(wire.TOK, rid, &wire.Empty{})
	case wire.TSceneLeave:
		c.write(wire.TOK, rid, &wire.Empty{})
	default:
		return false
	}
	return true
}
