package vlr

import (
	"context"
	"errors"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/roamhq/roam/wire"
)

// Scene requests on the client connection (PROTOCOL.md §19; scene.go has
// the seat and the bus). Scene ids follow the user-name rules.

func (c *conn) validPos(x, y float64) bool {
	b := c.srv.cfg.Scene.Bound
	return !math.IsNaN(x) && !math.IsNaN(y) && math.Abs(x) <= b && math.Abs(y) <= b
}

func sceneErr(err error) error {
	switch {
	case errors.Is(err, ErrSceneFull):
		return refuse(wire.CodeSceneFull)
	case errors.Is(err, ErrSceneBadZone):
		return refuse(wire.CodeSceneBadZone)
	case errors.Is(err, ErrSceneBadPos):
		return refuse(wire.CodeSceneBadPosition)
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled):
		return refusef(wire.CodeUnavailable, "the scene's host could not be reached in time")
	}
	var re *reqError
	if errors.As(err, &re) {
		return re
	}
	return refusef(wire.CodeUnavailable, "the scene's host could not be reached")
}

// sceneJoin seats the session in a scene (leaving the one it was in).
func (c *conn) sceneJoin(b *wire.SceneJoin) (wire.Type, any, error) {
	scene, ok := canonicalName(b.Scene)
	if !ok {
		return 0, nil, refusef(wire.CodeBadName, "scene ids follow the user-name rules")
	}
	if !c.validPos(b.X, b.Y) {
		return 0, nil, refuse(wire.CodeSceneBadPosition)
	}
	srv, sess := c.srv, c.sess
	// Joins share the says' bucket: each is a request at the host.
	if ok, wait := srv.limits.say.take(sess.user, srv.cfg.Now()); !ok {
		return 0, nil, &reqError{code: wire.CodeRateLimited, msg: "too many scene requests", retry: wait}
	}
	srv.leaveScene(sess)
	st := &seat{scene: scene, id: newSceneID(), x: b.X, y: b.Y}
	// Seated before the host hears of it, so that the view events its
	// answer causes find the session.
	sess.mu.Lock()
	sess.seat = st
	st.sentAt = time.Now()
	sess.mu.Unlock()
	srv.scenes.add(scene, st.id, sess)
	ctx, cancel := context.WithTimeout(srv.ctx, srv.cfg.RequestTimeout)
	defer cancel()
	info, err := srv.scenes.bus.SceneJoin(ctx, scene, ScenePlayer{ID: st.id, Name: sess.sceneName(), X: b.X, Y: b.Y})
	if err != nil {
		sess.mu.Lock()
		if sess.seat == st {
			sess.seat = nil
		}
		sess.mu.Unlock()
		srv.scenes.remove(scene, st.id)
		srv.scenes.bus.SceneLeave(scene, st.id) // in case the join took effect
		return 0, nil, sceneErr(err)
	}
	return wire.TSceneJoined, &wire.SceneJoined{Scene: scene, ID: st.id, Hear: info.Hear, View: info.View,
		MaxListeners: uint32(info.MaxListeners), MoveHz: srv.cfg.Scene.MoveHz, Zones: info.Zones}, nil
}

func (c *conn) sceneLeave() (wire.Type, any, error) {
	if !c.srv.leaveScene(c.sess) {
		return 0, nil, refuse(wire.CodeNotInScene)
	}
	return wire.TOK, okBody, nil
}

// sceneMoveReq handles a move (no reply; an error only to a non-zero
// rid: an error with rid 0 would end the connection).
func (c *conn) sceneMoveReq(rid uint32, m *wire.SceneMove) {
	if c.sess == nil || !c.loggedIn {
		return
	}
	var err error
	switch {
	case !c.validPos(m.X, m.Y):
		err = refuse(wire.CodeSceneBadPosition)
	case !c.srv.moveScene(c.sess, m.X, m.Y):
		err = refuse(wire.CodeNotInScene)
	}
	c.srv.counts.done(wire.TSceneMove, nil, err, time.Time{})
	if err != nil && rid != 0 {
		c.respond(rid, 0, nil, err)
	}
}

// sceneSeat returns the session's scene, id and position, or
// not_in_scene.
func (c *conn) sceneSeat() (scene string, id uint64, x, y float64, err error) {
	s := c.sess
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.seat == nil {
		return "", 0, 0, 0, refuse(wire.CodeNotInScene)
	}
	return s.seat.scene, s.seat.id, s.seat.x, s.seat.y, nil
}

// sceneSay hands a say (TSceneSay) or an action (TSceneAct) to the host.
func (c *conn) sceneSay(body any) (wire.Type, any, error) {
	scene, id, x, y, err := c.sceneSeat()
	if err != nil {
		return 0, nil, err
	}
	max := c.srv.cfg.Scene.MaxText
	ev := &wire.SceneEvent{Scene: scene, ID: id, From: c.sess.sceneName(), X: x, Y: y, SentMS: c.srv.cfg.Now().UnixMilli()}
	switch b := body.(type) {
	case *wire.SceneSay:
		if b.Text == "" || len(b.Text) > max {
			return 0, nil, refusef(wire.CodeTooLarge, "a say is 1.."+strconv.Itoa(max)+" bytes")
		}
		ev.Kind, ev.Text = "say", b.Text
	case *wire.SceneAct:
		if b.Action == "" || len(b.Action) > 64 || len(b.Data) > max {
			return 0, nil, refusef(wire.CodeTooLarge, "an action is 1..64 bytes, its data at most "+strconv.Itoa(max))
		}
		ev.Kind, ev.Action, ev.Data = "act", b.Action, b.Data
	}
	if ok, wait := c.srv.limits.say.take(c.sess.user, c.srv.cfg.Now()); !ok {
		return 0, nil, &reqError{code: wire.CodeRateLimited, msg: "too many says and actions", retry: wait}
	}
	c.srv.scenes.bus.SceneSay(scene, ev)
	return wire.TOK, okBody, nil
}

func (c *conn) sceneZone(b *wire.SceneZoneReq) (wire.Type, any, error) {
	scene, _, _, _, err := c.sceneSeat()
	if err != nil {
		return 0, nil, err
	}
	if !slices.Contains(c.srv.cfg.Scene.ZoneAdmins, c.sess.user) {
		return 0, nil, refuse(wire.CodeSceneZoneDenied)
	}
	ctx, cancel := context.WithTimeout(c.srv.ctx, c.srv.cfg.RequestTimeout)
	defer cancel()
	if err := c.srv.scenes.bus.SceneZone(ctx, scene, b.Zone, b.Remove); err != nil {
		return 0, nil, sceneErr(err)
	}
	return wire.TOK, okBody, nil
}
