package vlr

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"math"
	"sync"
	"time"

	"github.com/roamhq/roam/wire"
)

// Scenes (game mode, PROTOCOL.md §19): the visitor register's half. A
// session joins at most one scene; the scene lives at its host (the
// leader of the scene's partition, node/scene_host.go), which the
// SceneBus reaches. This side keeps, per session, the seat: the scene,
// the player's id in it and the last position the client reported, so
// that a new host gets every position again at once (SceneSeats). Moves
// are coalesced here to at most SceneConfig.MoveHz per player. Nothing is
// stored; nothing is retried.

// SceneBus carries this node's scene traffic to the scenes' hosts. The
// node implements it; none of its methods but SceneJoin and SceneZone
// block.
type SceneBus interface {
	// SceneJoin puts player p into scene at its host and returns the
	// scene's settings.
	SceneJoin(ctx context.Context, scene string, p ScenePlayer) (SceneInfo, error)
	// SceneMove reports p's new position (one-way).
	SceneMove(scene string, p ScenePlayer)
	// SceneLeave takes player id out of the scene (one-way).
	SceneLeave(scene string, id uint64)
	// SceneSay hands a say or an action of player ev.ID to the host,
	// which sends it to the players within range (one-way).
	SceneSay(scene string, ev *wire.SceneEvent)
	// SceneZone sets or removes a zone of the scene at its host.
	SceneZone(ctx context.Context, scene string, z wire.SceneZone, remove bool) error
}

// ScenePlayer is a player as this node reports it to the host.
type ScenePlayer struct {
	ID   uint64  `msgpack:"i"`
	Name string  `msgpack:"n"`
	X    float64 `msgpack:"x"`
	Y    float64 `msgpack:"y"`
}

// SceneInfo is a scene's settings, from its host.
type SceneInfo struct {
	Hear, View   float64
	MaxListeners int
	Zones        []wire.SceneZone
}

// Errors a SceneBus returns for the client's codes.
var (
	ErrSceneFull    = errors.New("vlr: scene full")
	ErrSceneBadZone = errors.New("vlr: bad zone")
	ErrSceneBadPos  = errors.New("vlr: bad scene position")
)

type nopSceneBus struct{}

func (nopSceneBus) SceneJoin(context.Context, string, ScenePlayer) (SceneInfo, error) {
	return SceneInfo{}, errors.New("vlr: this node hosts no scenes")
}
func (nopSceneBus) SceneMove(string, ScenePlayer)     {}
func (nopSceneBus) SceneLeave(string, uint64)         {}
func (nopSceneBus) SceneSay(string, *wire.SceneEvent) {}
func (nopSceneBus) SceneZone(context.Context, string, wire.SceneZone, bool) error {
	return errors.New("vlr: this node hosts no scenes")
}

// SceneConfig bounds the scene traffic of each player.
type SceneConfig struct {
	// MoveHz is how many positions a second a player's moves are
	// coalesced to (the last one in each interval wins).
	MoveHz float64
	// SayRate and SayBurst bound each user's says and actions together.
	SayRate  float64
	SayBurst int
	// MaxText bounds a say's text, an action's name and data, in bytes.
	MaxText int
	// Bound limits coordinates to ±Bound (the hosts' scene.Config.Bound).
	Bound float64
	// ZoneAdmins are the users who may set and remove zones through the
	// API (none by default: zones come from the node configuration).
	ZoneAdmins []string
}

// DefaultSceneConfig returns the defaults: 10 positions a second, 5 says
// a second with bursts of 20, texts of 512 bytes, ±1,000,000.
func DefaultSceneConfig() SceneConfig {
	return SceneConfig{MoveHz: 10, SayRate: 5, SayBurst: 20, MaxText: 512, Bound: 1e6}
}

func (c SceneConfig) validate() error {
	if !(c.MoveHz > 0 && c.MoveHz <= 1000) || !(c.SayRate > 0) || c.SayBurst < 1 || c.MaxText < 1 ||
		!(c.Bound > 0) || math.IsInf(c.Bound, 0) {
		return errors.New("vlr: Scene: MoveHz must be in (0, 1000], SayRate, SayBurst, MaxText and a finite Bound positive")
	}
	return nil
}

// sceneName is the name other players see for this session: the role it
// picked (conn_roles.go), or the user when none.
func (s *session) sceneName() string {
	if name := s.roleName(); name != "" {
		return name
	}
	return s.user
}

// seat is a session's place in a scene. Guarded by session.mu.
type seat struct {
	scene  string
	id     uint64
	x, y   float64   // the last position the client reported
	sentAt time.Time // when a position was last forwarded to the host
	timer  *time.Timer
}

// sceneIndex finds the local sessions by their id in a scene. Its mutex
// is a leaf lock.
type sceneIndex struct {
	bus     SceneBus // set by New, then only read
	mu      sync.Mutex
	byID    map[uint64]*session
	byScene map[string]map[uint64]*session
}

func (x *sceneIndex) add(scene string, id uint64, s *session) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.byID == nil {
		x.byID = make(map[uint64]*session)
		x.byScene = make(map[string]map[uint64]*session)
	}
	x.byID[id] = s
	m := x.byScene[scene]
	if m == nil {
		m = make(map[uint64]*session)
		x.byScene[scene] = m
	}
	m[id] = s
}

func (x *sceneIndex) remove(scene string, id uint64) {
	x.mu.Lock()
	defer x.mu.Unlock()
	delete(x.byID, id)
	if m := x.byScene[scene]; m != nil {
		delete(m, id)
		if len(m) == 0 {
			delete(x.byScene, scene)
		}
	}
}

func (x *sceneIndex) get(id uint64) *session {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.byID[id]
}

// sessions returns the sessions of the scenes match accepts.
func (x *sceneIndex) sessions(match func(string) bool) []*session {
	x.mu.Lock()
	defer x.mu.Unlock()
	var out []*session
	for sc, m := range x.byScene {
		if match(sc) {
			for _, s := range m {
				out = append(out, s)
			}
		}
	}
	return out
}

func newSceneID() uint64 {
	var b [8]byte
	for {
		rand.Read(b[:])
		if id := binary.LittleEndian.Uint64(b[:]); id != 0 {
			return id
		}
	}
}

// SceneSeats returns the positions of the local players of every scene
// match accepts, by scene: what a new host needs (and what the periodic
// refresh sends).
func (s *Server) SceneSeats(match func(scene string) bool) map[string][]ScenePlayer {
	out := make(map[string][]ScenePlayer)
	for _, sess := range s.scenes.sessions(match) {
		sess.mu.Lock()
		if st := sess.seat; st != nil && !sess.ended {
			out[st.scene] = append(out[st.scene], ScenePlayer{ID: st.id, Name: sess.sceneName(), X: st.x, Y: st.y})
		}
		sess.mu.Unlock()
	}
	return out
}

// SceneResend asks the clients of every local player of the scenes match
// accepts to send their positions again (their host changed).
func (s *Server) SceneResend(match func(scene string) bool) {
	for _, sess := range s.scenes.sessions(match) {
		sess.mu.Lock()
		st := sess.seat
		ok := st != nil && !sess.ended
		var scene string
		if ok {
			scene = st.scene
		}
		sess.mu.Unlock()
		if ok {
			sess.c.push(wire.TSceneResend, &wire.SceneResend{Scene: scene})
		}
	}
}

// SceneDeliver pushes a say or an action to the local players to (ids in
// scene); a player who left meanwhile, or whose lease is stale, is
// skipped. The frame is encoded once. It returns how many got it.
func (s *Server) SceneDeliver(scene string, to []uint64, ev *wire.SceneEvent) int {
	frame, err := wire.AppendFrame(nil, wire.TSceneEvent, 0, ev)
	if err != nil {
		s.log.Error("encode scene event", "err", err)
		return 0
	}
	n := 0
	for _, id := range to {
		sess := s.sceneSession(scene, id)
		if sess == nil {
			continue
		}
		if sess.c.out.enqueue(func(dst []byte) []byte { return append(dst, frame...) }) {
			n++
		}
	}
	s.counts.sceneDelivered.Add(uint64(n))
	return n
}

// SceneView pushes view changes to the local player to of scene.
func (s *Server) SceneView(scene string, to uint64, v *wire.SceneView) {
	if sess := s.sceneSession(scene, to); sess != nil {
		sess.c.push(wire.TSceneView, v)
	}
}

// sceneSession returns the live session seated as id in scene, if its
// lease lets it be pushed to.
func (s *Server) sceneSession(scene string, id uint64) *session {
	sess := s.scenes.get(id)
	if sess == nil {
		return nil
	}
	sess.mu.Lock()
	defer sess.mu.Unlock()
	if sess.ended || sess.seat == nil || sess.seat.id != id || sess.seat.scene != scene || !sess.actLocked() {
		return nil
	}
	return sess
}

// leaveScene takes session sess out of its scene, if it is in one.
func (s *Server) leaveScene(sess *session) bool {
	sess.mu.Lock()
	st := sess.seat
	sess.seat = nil
	if st != nil && st.timer != nil {
		st.timer.Stop()
	}
	sess.mu.Unlock()
	if st == nil {
		return false
	}
	s.scenes.remove(st.scene, st.id)
	s.scenes.bus.SceneLeave(st.scene, st.id)
	return true
}

// moveScene records a position the client reported and forwards it now,
// or at the end of the current interval (coalesced: the last one wins).
func (s *Server) moveScene(sess *session, x, y float64) bool {
	interval := time.Duration(float64(time.Second) / s.cfg.Scene.MoveHz)
	now := time.Now()
	sess.mu.Lock()
	st := sess.seat
	if st == nil || sess.ended {
		sess.mu.Unlock()
		return false
	}
	st.x, st.y = x, y
	if st.timer != nil {
		sess.mu.Unlock() // a forward is due already; it takes this position
		return true
	}
	if wait := st.sentAt.Add(interval).Sub(now); wait > 0 {
		st.timer = time.AfterFunc(wait, func() { s.flushMove(sess, st) })
		sess.mu.Unlock()
		return true
	}
	st.sentAt = now
	p := ScenePlayer{ID: st.id, Name: sess.sceneName(), X: x, Y: y}
	sess.mu.Unlock()
	s.scenes.bus.SceneMove(st.scene, p)
	return true
}

// flushMove forwards the coalesced position of seat st, if sess still
// holds it.
func (s *Server) flushMove(sess *session, st *seat) {
	sess.mu.Lock()
	if sess.seat != st || sess.ended {
		sess.mu.Unlock()
		return
	}
	st.timer = nil
	st.sentAt = time.Now()
	p := ScenePlayer{ID: st.id, Name: sess.sceneName(), X: st.x, Y: st.y}
	sess.mu.Unlock()
	s.scenes.bus.SceneMove(st.scene, p)
}
