package node_test

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/roamhq/roam/client"
	"github.com/roamhq/roam/node"
	"github.com/roamhq/roam/node/clustertest"
	"github.com/roamhq/roam/wire"
)

// Scenes against hostile and broken clients: bad coordinates, a flood of
// moves, players leaving while their say is handed out, a client that
// stops reading.

// TestScene_HostileCoordinates: NaN, infinities and huge coordinates are
// refused at the join, answered with an error to a move that carries a
// request id, dropped from a move that does not; the host's position of
// the player never changes.
func TestScene_HostileCoordinates(t *testing.T) {
	c := sceneCluster(t)
	const sc = "wild"
	a := newPlayer(t, account(t, c, 0, "alice"))
	for _, p := range [][2]float64{{math.NaN(), 0}, {0, math.Inf(1)}, {math.Inf(-1), 0}, {1e7, 0}, {0, -1e300}} {
		if _, err := a.SceneJoin(ctx30(), sc, p[0], p[1]); !errors.Is(err, client.ErrSceneBadPosition) {
			t.Fatalf("join at %v: %v", p, err)
		}
	}
	a.join(sc, 1, 2)
	host := stableLeader(t, c, "s/"+sc)
	for _, p := range [][2]float64{{math.NaN(), 0}, {math.Inf(1), 0}, {0, 2e6}} {
		a.move(p[0], p[1]) // rid 0: dropped without an answer
	}
	time.Sleep(300 * time.Millisecond)
	if got := c.Node(host).ScenePositions(sc)[a.id()]; got != [2]float64{1, 2} {
		t.Fatalf("after hostile moves the host has alice at %v", got)
	}
	a.move(3, 4)
	waitInterest(t, "a good move after bad ones", func() bool { return c.Node(host).ScenePositions(sc)[a.id()] == [2]float64{3, 4} })
}

// TestScene_RawHostileMoves: a raw client's moves with a request id get
// scene_bad_position (and not_in_scene before a join), the connection
// stays open.
func TestScene_RawHostileMoves(t *testing.T) {
	c := sceneCluster(t)
	account(t, c, 0, "mallory").Close()
	r := rawLogin(t, c.ClientAddr(0), "mallory", "raw-dev", 0)
	if f := r.call(wire.TSceneMove, &wire.SceneMove{X: 1, Y: 1}); !isCode(f, wire.CodeNotInScene) {
		t.Fatalf("a move before a join: %s", describe(f))
	}
	if f := r.call(wire.TSceneSay, &wire.SceneSay{Text: "hi"}); !isCode(f, wire.CodeNotInScene) {
		t.Fatalf("a say before a join: %s", describe(f))
	}
	if f := r.call(wire.TSceneJoin, &wire.SceneJoin{Scene: "wild", X: 0, Y: math.NaN()}); !isCode(f, wire.CodeSceneBadPosition) {
		t.Fatalf("a join at NaN: %s", describe(f))
	}
	if f := r.call(wire.TSceneJoin, &wire.SceneJoin{Scene: "no/slash", X: 0, Y: 0}); !isCode(f, wire.CodeBadName) {
		t.Fatalf("a join of a bad scene id: %s", describe(f))
	}
	if f := r.call(wire.TSceneJoin, &wire.SceneJoin{Scene: "wild", X: 0, Y: 0}); f.Type != wire.TSceneJoined {
		t.Fatalf("join: %s", describe(f))
	}
	for _, p := range [][2]float64{{math.NaN(), 0}, {math.Inf(1), 0}, {0, -1e9}} {
		if f := r.call(wire.TSceneMove, &wire.SceneMove{X: p[0], Y: p[1]}); !isCode(f, wire.CodeSceneBadPosition) {
			t.Fatalf("a move to %v: %s", p, describe(f))
		}
	}
	if f := r.call(wire.TSceneSay, &wire.SceneSay{Text: strings.Repeat("x", 513)}); !isCode(f, wire.CodeTooLarge) {
		t.Fatalf("a long say: %s", describe(f))
	}
	if f := r.call(wire.TWhoami, &wire.Empty{}); f.Type != wire.TWhoamiReply {
		t.Fatalf("the connection after hostile moves: %s", describe(f))
	}
}

func isCode(f wire.Frame, code wire.Code) bool {
	var e wire.Error
	return f.Type == wire.TError && wire.Decode(f.Body, &e) == nil && e.Code == code
}

// TestScene_MoveFloodCoalesced: 1,000 moves in a second reach the host as
// at most about ten positions (MoveHz), the last one winning.
func TestScene_MoveFloodCoalesced(t *testing.T) {
	c := clustertest.New(t, 3, clustertest.Options{Configure: func(i int, cfg *node.Config) {
		sceneLimits(i, cfg)
		cfg.Scenes.RefreshInterval = time.Minute // only the moves count
		cfg.Scenes.PlayerTTL = 3 * time.Minute
	}})
	c.WaitLeaders(30 * time.Second)
	const sc = "flood"
	host := stableLeader(t, c, "s/"+sc)
	a := newPlayer(t, account(t, c, (host+1)%3, "alice"))
	a.join(sc, 0, 0)
	before := c.Node(host).SceneStats().Updates
	start := time.Now()
	for i := 1; i <= 1000; i++ {
		a.move(float64(i%100), float64(i/100))
		if i%10 == 0 {
			time.Sleep(10 * time.Millisecond)
		}
	}
	elapsed := time.Since(start)
	waitInterest(t, "the last move at the host", func() bool { return c.Node(host).ScenePositions(sc)[a.id()] == [2]float64{0, 10} })
	got := c.Node(host).SceneStats().Updates - before
	limit := uint64(elapsed.Seconds()*10) + 2
	t.Logf("1000 moves in %v reached the host as %d positions", elapsed.Round(time.Millisecond), got)
	if got > limit || got < 2 {
		t.Fatalf("1000 moves in %v reached the host as %d positions, want 2..%d", elapsed, got, limit)
	}
}

// TestScene_LeaveMidFanOut: listeners and the speaker leave (close, or
// leave the scene) while says are handed out; the rest keep getting every
// say and the host drops who left.
func TestScene_LeaveMidFanOut(t *testing.T) {
	c := sceneCluster(t)
	const sc = "crowd"
	host := stableLeader(t, c, "s/"+sc)
	sp := newPlayer(t, account(t, c, (host+1)%3, "speaker"))
	stay := newPlayer(t, account(t, c, (host+2)%3, "stayer"))
	var goers []*player
	for i := 0; i < 6; i++ {
		goers = append(goers, newPlayer(t, account(t, c, i%3, fmt.Sprintf("goer%d", i))))
	}
	sp.join(sc, 0, 0)
	stay.join(sc, 5, 0)
	for i, g := range goers {
		g.join(sc, float64(i), 3)
	}
	stay.seesPlayer(sp)
	for k := 0; k < 60; k++ {
		if err := sp.SceneSay(ctx30(), fmt.Sprintf("m%d", k)); err != nil {
			t.Fatal(err)
		}
		if k%10 == 5 {
			g := goers[k/10]
			if k/10%2 == 0 {
				g.Close() // the connection ends
			} else if err := g.SceneLeave(ctx30()); err != nil {
				t.Fatal(err)
			}
		}
	}
	for k := 0; k < 60; k++ {
		stay.hears(fmt.Sprintf("m%d", k))
	}
	waitInterest(t, "the host without the goers", func() bool { return len(c.Node(host).ScenePositions(sc)) == 2 })
	// The speaker leaves right after a say.
	sp.say("last")
	if err := sp.SceneLeave(ctx30()); err != nil {
		t.Fatal(err)
	}
	stay.hears("last")
	stay.notSeesPlayer(sp)
	if err := sp.SceneSay(ctx30(), "ghost"); !errors.Is(err, client.ErrNotInScene) {
		t.Fatalf("a say after leaving: %v", err)
	}
}

// TestScene_SlowClientDisconnected: a player that stops reading is
// disconnected by the output bounds of its connection (slow_consumer);
// the others keep hearing.
func TestScene_SlowClientDisconnected(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test")
	}
	c := clustertest.New(t, 3, clustertest.Options{Configure: func(i int, cfg *node.Config) {
		sceneLimits(i, cfg)
		if i == 2 { // the slow client's node
			cfg.VLR.OutQueueBytes = 64 << 10
		}
		cfg.VLR.Scene.MaxText = 8000
	}})
	c.WaitLeaders(30 * time.Second)
	const sc = "slow"
	sp := newPlayer(t, account(t, c, 0, "speaker"))
	fast := newPlayer(t, account(t, c, 1, "fast"))
	account(t, c, 2, "sloth").Close()
	slow := rawLogin(t, c.ClientAddr(2), "sloth", "raw-dev", 0)
	if f := slow.call(wire.TSceneJoin, &wire.SceneJoin{Scene: sc, X: 1, Y: 1}); f.Type != wire.TSceneJoined {
		t.Fatalf("join: %s", describe(f))
	}
	sp.join(sc, 0, 0)
	fast.join(sc, 2, 0)
	fast.seesPlayer(sp)
	slow.mu.Lock() // its reader stops at the next frame: nothing is read
	text := strings.Repeat("y", 7000)
	k := 0
	for ; k < 5000 && c.Node(2).SlowConsumers() == 0; k++ {
		if err := sp.SceneSay(ctx30(), fmt.Sprintf("%d %s", k, text)); err != nil {
			slow.mu.Unlock()
			t.Fatal(err)
		}
	}
	slow.mu.Unlock()
	if c.Node(2).SlowConsumers() == 0 {
		t.Fatalf("after %d says of 7 KB the client that does not read is still connected", k)
	}
	sp.say("after")
	fast.hears("after")
	if n := c.Node(1).SlowConsumers(); n != 0 {
		t.Fatalf("the client that reads was disconnected too (%d)", n)
	}
	t.Logf("disconnected after %d says", k)
}

// TestScene_ManyJoinsDropEmptyScenes: a client joining scene after scene
// leaves no empty scenes behind at the hosts.
func TestScene_ManyJoinsDropEmptyScenes(t *testing.T) {
	c := sceneCluster(t)
	a := newPlayer(t, account(t, c, 0, "alice"))
	for i := 0; i < 40; i++ {
		a.join(fmt.Sprintf("room%03d", i), 0, 0)
	}
	waitInterest(t, "only the last scene hosted", func() bool {
		hosted, players := 0, 0
		for i := 0; i < 3; i++ {
			st := c.Node(i).SceneStats()
			hosted += st.Hosted
			players += st.Players
		}
		return hosted == 1 && players == 1
	})
}

// TestScene_JoinFromEveryNode: players of one scene joining at all three
// nodes — two of which do not lead the scene's partition — end up in one
// grid, at the host, and no other node hosts the scene.
func TestScene_JoinFromEveryNode(t *testing.T) {
	c := sceneCluster(t)
	const sc = "commons"
	host := stableLeader(t, c, "s/"+sc)
	var ps []*player
	for i := 0; i < 6; i++ {
		p := newPlayer(t, account(t, c, i%3, fmt.Sprintf("walker%d", i)))
		p.join(sc, float64(i), 0)
		ps = append(ps, p)
	}
	if n := len(c.Node(host).ScenePositions(sc)); n != 6 {
		t.Fatalf("the host has %d players, want 6", n)
	}
	for i := 0; i < 3; i++ {
		if i != host && c.Node(i).ScenePositions(sc) != nil {
			t.Fatalf("node %d, which does not lead the scene's partition, hosts it", i)
		}
	}
	ps[1].say("all here")
	for i, p := range ps {
		if i != 1 {
			p.hears("all here")
		}
	}
}
