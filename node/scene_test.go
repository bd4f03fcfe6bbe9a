package node_test

import (
	"errors"
	"fmt"
	"math"
	"sync"
	"testing"
	"time"

	"github.com/roamhq/roam/client"
	"github.com/roamhq/roam/node"
	"github.com/roamhq/roam/node/clustertest"
	"github.com/roamhq/roam/scene"
)

// Scenes over real TCP on three nodes (scene_host.go): hearing and view
// ranges, zones, moves across cells and the hysteresis band, a failover
// of the host, players on every node, two devices of one account.

func sceneLimits(i int, cfg *node.Config) {
	fastSends(i, cfg)
	cfg.VLR.Scene.SayRate, cfg.VLR.Scene.SayBurst = 100000, 100000
	cfg.VLR.Scene.ZoneAdmins = []string{"admin"}
	cfg.Scenes.ViewInterval = 50 * time.Millisecond
	cfg.Scenes.RefreshInterval = 500 * time.Millisecond
	cfg.Scenes.PlayerTTL = 2 * time.Second
	cfg.Scenes.Zones = map[string][]scene.Zone{"arena": {{ID: "pit", Shape: "circle", X: 0, Y: 0, R: 20}}}
}

// player is a client in a scene with what reached it, collected in the
// background.
type player struct {
	*client.Client
	t    *testing.T
	info client.SceneInfo

	mu      sync.Mutex
	events  []client.SceneEvent
	sees    map[uint64]string // id → name
	enters  map[uint64]int
	leaves  map[uint64]int
	changed chan struct{}
	resets  int // views started again: a rehost or a rejoin
}

func newPlayer(t *testing.T, cl *client.Client) *player {
	p := &player{Client: cl, t: t, sees: map[uint64]string{}, enters: map[uint64]int{}, leaves: map[uint64]int{}, changed: make(chan struct{})}
	go func() {
		for e := range cl.Events() {
			p.mu.Lock()
			switch e.Kind {
			case client.EventScene:
				p.events = append(p.events, e.SceneEvent)
			case client.EventSceneView:
				for _, s := range e.SceneView.Enter {
					p.sees[s.ID] = s.Name
					p.enters[s.ID]++
				}
				for _, id := range e.SceneView.Leave {
					delete(p.sees, id)
					p.leaves[id]++
				}
			case client.EventSceneJoined:
				p.info = e.SceneInfo
				clear(p.sees)
				p.resets++
			case client.EventSceneRehosted:
				clear(p.sees)
				p.resets++
			}
			close(p.changed)
			p.changed = make(chan struct{})
			p.mu.Unlock()
		}
	}()
	return p
}

func (p *player) join(scene string, x, y float64) {
	p.t.Helper()
	info, err := p.SceneJoin(ctx30(), scene, x, y)
	if err != nil {
		p.t.Fatalf("%s joins %s: %v", p.User(), scene, err)
	}
	p.mu.Lock()
	p.info = info
	p.mu.Unlock()
}

func (p *player) id() uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.info.ID
}

func (p *player) move(x, y float64) {
	p.t.Helper()
	if err := p.SceneMove(ctx30(), x, y); err != nil {
		p.t.Fatalf("%s moves: %v", p.User(), err)
	}
}

// await waits until cond holds for what p has received.
func (p *player) await(what string, cond func() bool) {
	p.t.Helper()
	deadline := time.After(15 * time.Second)
	for {
		p.mu.Lock()
		ok, ch := cond(), p.changed
		p.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-ch:
		case <-deadline:
			p.t.Fatalf("%s: timed out waiting for %s", p.User(), what)
		}
	}
}

func (p *player) got(kind, text string) bool {
	for _, e := range p.events {
		if e.Kind == kind && (e.Text == text || e.Action == text) {
			return true
		}
	}
	return false
}

func (p *player) hears(text string) {
	p.t.Helper()
	p.await("say "+text, func() bool { return p.got("say", text) })
}

func (p *player) seesAct(action string) {
	p.t.Helper()
	p.await("action "+action, func() bool { return p.got("act", action) })
}

func (p *player) seesPlayer(o *player) {
	p.t.Helper()
	id := o.id()
	p.await(fmt.Sprintf("seeing %s", o.User()), func() bool { _, ok := p.sees[id]; return ok })
}

func (p *player) notSeesPlayer(o *player) {
	p.t.Helper()
	id := o.id()
	p.await(fmt.Sprintf("not seeing %s", o.User()), func() bool { _, ok := p.sees[id]; return !ok })
}

// nothing checks that none of ps got an event of kind with text; call it
// after a later event reached them (a say sent after, to everyone), so
// that "not yet" cannot pass for "never".
func nothing(t *testing.T, kind, text string, ps ...*player) {
	t.Helper()
	for _, p := range ps {
		p.mu.Lock()
		bad := p.got(kind, text)
		p.mu.Unlock()
		if bad {
			t.Fatalf("%s got %s %q, out of range", p.User(), kind, text)
		}
	}
}

func (p *player) say(text string) {
	p.t.Helper()
	if err := p.SceneSay(ctx30(), text); err != nil {
		p.t.Fatalf("%s says: %v", p.User(), err)
	}
}

func (p *player) act(action string) {
	p.t.Helper()
	if err := p.SceneAct(ctx30(), action, nil); err != nil {
		p.t.Fatalf("%s acts: %v", p.User(), err)
	}
}

func sceneCluster(t *testing.T) *clustertest.Cluster {
	t.Helper()
	if testing.Short() {
		t.Skip("cluster test")
	}
	c := clustertest.New(t, 3, clustertest.Options{Configure: sceneLimits})
	c.WaitLeaders(30 * time.Second)
	return c
}

// TestScene_HearingAndViewAcrossNodes: a say reaches the players within
// hearing and only them, an action those within view, on every node,
// the speaker on a node that does not host the scene.
func TestScene_HearingAndViewAcrossNodes(t *testing.T) {
	c := sceneCluster(t)
	const sc = "plaza"
	host := stableLeader(t, c, "s/"+sc)
	other := (host + 1) % 3
	a := newPlayer(t, account(t, c, other, "alice"))     // the speaker, not at the host
	b := newPlayer(t, account(t, c, host, "bob"))        // hears (30)
	cc := newPlayer(t, account(t, c, (host+2)%3, "cat")) // hears (49, diagonal)
	d := newPlayer(t, account(t, c, other, "dan"))       // sees (80), does not hear
	e := newPlayer(t, account(t, c, host, "eve"))        // far away (300)
	a.join(sc, 0, 0)
	b.join(sc, 30, 0)
	cc.join(sc, 35, 34.3)
	d.join(sc, 80, 0)
	e.join(sc, 300, 0)
	for _, o := range []*player{b, cc, d} {
		a.seesPlayer(o)
		o.seesPlayer(a)
	}
	a.say("hello")
	b.hears("hello")
	cc.hears("hello")
	a.act("wave")
	for _, p := range []*player{b, cc, d} {
		p.seesAct("wave")
	}
	// e hears nobody and sees nobody; d did not hear the say (the act
	// came after it, on the same path).
	nothing(t, "say", "hello", d, e, a)
	nothing(t, "act", "wave", e, a)
	e.mu.Lock()
	if len(e.sees) != 0 {
		t.Fatalf("eve sees %v from 300 away", e.sees)
	}
	e.mu.Unlock()
	for _, ev := range b.events {
		if ev.Text == "hello" && (ev.From != "alice" || ev.ID != a.id() || ev.X != 0 || ev.Y != 0) {
			t.Fatalf("bob got %+v", ev)
		}
	}
	b.mu.Lock()
	if b.sees[a.id()] != "alice" {
		t.Fatalf("bob sees alice as %q", b.sees[a.id()])
	}
	b.mu.Unlock()
	// The host has every position (the host of now: the scene's
	// partition may have changed leader since, PROTOCOL §19.6).
	waitInterest(t, "a host with the 5 players", func() bool {
		for i := range 3 {
			if len(c.Node(i).ScenePositions(sc)) == 5 {
				return true
			}
		}
		return false
	})
}

// TestScene_MovesAcrossCellsAndHysteresis: moves across cell borders
// change who hears; a player in the band between the view radius and
// 110 % of it stays in view (no flicker), and leaves beyond it. A host
// that changes on the way starts the views again (PROTOCOL §19.6) and
// forgets the band, so the scenario runs again in a fresh scene then.
func TestScene_MovesAcrossCellsAndHysteresis(t *testing.T) {
	c := sceneCluster(t)
	a := newPlayer(t, account(t, c, 0, "alice"))
	b := newPlayer(t, account(t, c, 1, "bob"))
	for attempt := range 3 {
		if hysteresisScenario(t, c, fmt.Sprintf("field%d", attempt), a, b) {
			return
		}
		t.Logf("attempt %d: the scene's host changed on the way; again in a fresh scene", attempt)
	}
	t.Fatal("the scene's host changed in each of 3 attempts")
}

// hysteresisScenario runs the moves of TestScene_MovesAcrossCellsAndHysteresis
// in scene sc; it returns false, with nothing checked after, when a or
// b saw its view start again.
func hysteresisScenario(t *testing.T, c *clustertest.Cluster, sc string, a, b *player) bool {
	t.Helper()
	host := stableLeader(t, c, "s/"+sc)
	for _, p := range []*player{a, b} {
		p.mu.Lock()
		p.resets = 0
		clear(p.enters)
		clear(p.leaves)
		p.mu.Unlock()
	}
	// rehosted reports a view started again; checked before each count.
	rehosted := func() bool {
		a.mu.Lock()
		defer a.mu.Unlock()
		b.mu.Lock()
		defer b.mu.Unlock()
		return a.resets+b.resets > 0
	}
	a.join(sc, 10, 10)
	b.join(sc, 70, 10) // the next cell over, 60 away: in view, not in hearing
	a.seesPlayer(b)
	a.say("far")
	b.move(45, 10) // back into a's cell... and within hearing
	waitPos := func(x float64) {
		t.Helper()
		waitInterest(t, fmt.Sprintf("bob at %v at the host", x), func() bool {
			p, ok := c.Node(host).ScenePositions(sc)[b.id()]
			if !ok && rehosted() {
				return true
			}
			return ok && p[0] == x
		})
	}
	waitPos(45)
	a.say("near")
	b.hears("near")
	if rehosted() {
		return false
	}
	nothing(t, "say", "far", b)
	// Into the band (view 100, leave beyond 110; a is at x 10): pacing
	// there flickers nothing.
	for _, x := range []float64{115, 118, 112, 119, 114} {
		b.move(x, 10)
		time.Sleep(120 * time.Millisecond) // past the move coalescing (10/s)
	}
	waitPos(114)
	time.Sleep(200 * time.Millisecond) // several view flushes
	if rehosted() {
		return false
	}
	a.mu.Lock()
	if a.leaves[b.id()] != 0 || a.enters[b.id()] != 1 {
		t.Fatalf("pacing in the band: %d enters and %d leaves of bob, want 1 and 0", a.enters[b.id()], a.leaves[b.id()])
	}
	a.mu.Unlock()
	b.move(125, 10)
	a.notSeesPlayer(b)
	b.notSeesPlayer(a)
	b.move(115, 10) // 105 away: inside the band, but it left: not seen again yet
	waitPos(115)
	time.Sleep(200 * time.Millisecond)
	if rehosted() {
		return false
	}
	a.mu.Lock()
	if _, ok := a.sees[b.id()]; ok {
		t.Fatal("bob came back into view inside the band")
	}
	a.mu.Unlock()
	b.move(105, 10) // 95 away: within view
	a.seesPlayer(b)
	if rehosted() {
		return false
	}
	a.mu.Lock()
	if a.enters[b.id()] != 2 || a.leaves[b.id()] != 1 {
		t.Fatalf("%d enters, %d leaves, want 2 and 1", a.enters[b.id()], a.leaves[b.id()])
	}
	a.mu.Unlock()
	return true
}

// TestScene_ZonesBothWays: inside a zone (configured, or set through the
// API) players hear only each other; outside, they do not hear those
// inside.
func TestScene_ZonesBothWays(t *testing.T) {
	c := sceneCluster(t)
	in1 := newPlayer(t, account(t, c, 0, "inner"))
	in2 := newPlayer(t, account(t, c, 1, "insider"))
	out := newPlayer(t, account(t, c, 2, "outer"))
	admin := newPlayer(t, account(t, c, 0, "admin"))
	// The configured zone: arena's pit, a circle of 20 around the origin.
	in1.join("arena", 0, 5)
	in2.join("arena", 5, 0)
	out.join("arena", 30, 0) // 25..30 away: hearing range, but outside
	in1.seesPlayer(in2)
	in1.say("inside")
	in2.hears("inside")
	out.say("outside")
	out.act("knock")
	in1.say("inside again")
	in2.hears("inside again")
	time.Sleep(300 * time.Millisecond) // says of other nodes are not ordered with these
	nothing(t, "say", "inside", out)
	nothing(t, "say", "outside", in1, in2)
	nothing(t, "act", "knock", in1, in2)
	out.mu.Lock()
	_, seen := out.sees[in1.id()]
	out.mu.Unlock()
	if seen {
		t.Fatal("outside sees inside")
	}
	// A zone through the API: a rectangle in another scene.
	in1.join("market", 100, 100)
	in2.join("market", 105, 100)
	out.join("market", 150, 100) // 45 from in2: in hearing range
	admin.join("market", 150, 110)
	zone := client.SceneZone{ID: "stall", Shape: "rect", MinX: 90, MinY: 90, MaxX: 120, MaxY: 120}
	if err := out.SceneZone(ctx30(), zone, false); !errors.Is(err, client.ErrSceneZoneDenied) {
		t.Fatalf("a zone from a non-admin: %v", err)
	}
	if err := admin.SceneZone(ctx30(), client.SceneZone{ID: "bad", Shape: "circle", R: math.Inf(1)}, false); !errors.Is(err, client.ErrSceneBadZone) {
		t.Fatalf("an infinite circle: %v", err)
	}
	if err := admin.SceneZone(ctx30(), zone, false); err != nil {
		t.Fatal(err)
	}
	in1.say("stall")
	in2.hears("stall")
	out.say("street")
	admin.hears("street")
	admin.say("check")
	out.hears("check")
	time.Sleep(300 * time.Millisecond) // says of other nodes are not ordered with these
	nothing(t, "say", "stall", out, admin)
	nothing(t, "say", "street", in1, in2)
	// Removed: everyone hears everyone again.
	if err := admin.SceneZone(ctx30(), client.SceneZone{ID: "stall"}, true); err != nil {
		t.Fatal(err)
	}
	out.say("open")
	in2.hears("open")
}

// TestScene_HostFailoverResendsPositions: the host of a scene is killed;
// the new host asks every node for its players' positions (and the
// clients for theirs) and chat works again, with no help from the
// periodic refresh (made too slow to matter).
func TestScene_HostFailoverResendsPositions(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test")
	}
	c := clustertest.New(t, 3, clustertest.Options{Configure: func(i int, cfg *node.Config) {
		sceneLimits(i, cfg)
		cfg.Scenes.RefreshInterval = time.Minute
		cfg.Scenes.PlayerTTL = 3 * time.Minute
	}})
	c.WaitLeaders(30 * time.Second)
	const sc = "keep"
	host := stableLeader(t, c, "s/"+sc)
	x, y := (host+1)%3, (host+2)%3
	a := newPlayer(t, account(t, c, x, "alice"))
	b := newPlayer(t, account(t, c, y, "bob"))
	h := newPlayer(t, account(t, c, host, "hal")) // on the node that dies
	a.join(sc, 0, 0)
	b.join(sc, 20, 0)
	h.join(sc, 10, 10)
	a.seesPlayer(b)
	a.seesPlayer(h)
	a.say("before")
	b.hears("before")
	h.hears("before")
	oldHal := h.id()
	c.Kill(host)
	var newHost int
	waitInterest(t, "a new host with both positions", func() bool {
		for _, i := range []int{x, y} {
			if ps := c.Node(i).ScenePositions(sc); len(ps) >= 2 {
				newHost = i
				return true
			}
		}
		return false
	})
	ps := c.Node(newHost).ScenePositions(sc)
	if ps[a.id()] != [2]float64{0, 0} || ps[b.id()] != [2]float64{20, 0} {
		t.Fatalf("the new host has %v", ps)
	}
	// Chat works again (the say's own position is not what seats the
	// listener: bob has not spoken since).
	for i := 0; ; i++ {
		a.say(fmt.Sprintf("after %d", i))
		ok := false
		deadline := time.Now().Add(time.Second)
		for time.Now().Before(deadline) && !ok {
			b.mu.Lock()
			ok = b.got("say", fmt.Sprintf("after %d", i))
			b.mu.Unlock()
			time.Sleep(20 * time.Millisecond)
		}
		if ok {
			break
		}
		if i == 10 {
			t.Fatal("no say got through after the failover")
		}
	}
	// Moves go to the new host.
	b.move(30, 0)
	waitInterest(t, "bob's move at the new host", func() bool {
		return c.Node(newHost).ScenePositions(sc)[b.id()] == [2]float64{30, 0}
	})
	// The player whose node died reconnects elsewhere, joins again where
	// it was (a new id) and hears again.
	h.await("hal back in the scene", func() bool { return h.info.ID != oldHal && h.info.ID != 0 })
	waitInterest(t, "hal at the new host", func() bool {
		return c.Node(newHost).ScenePositions(sc)[h.id()] == [2]float64{10, 10}
	})
	a.say("welcome back")
	h.hears("welcome back")
	// Alice's view started again with the new host (§19.6) and holds bob
	// and hal's new id, entered by it; hal's old id was forgotten.
	bid, hid := b.id(), h.id()
	a.await("bob and hal in the new view", func() bool {
		_, okb := a.sees[bid]
		_, okh := a.sees[hid]
		_, old := a.sees[oldHal]
		return a.resets > 0 && okb && okh && !old
	})
	if _, ok := c.Node(newHost).ScenePositions(sc)[oldHal]; ok {
		t.Fatal("hal's old id is still at the new host")
	}
}

// TestScene_TwoDevicesOfOneAccount: two sessions of one account, on two
// nodes, are two players in the same scene: with the same name, the
// user's, or each with the role it picked.
func TestScene_TwoDevicesOfOneAccount(t *testing.T) {
	c := sceneCluster(t)
	const sc = "hall"
	cl1 := account(t, c, 0, "twin")
	cl2 := dial(t, c, 1, "twin-second")
	if err := cl2.Login(ctx30(), "twin", "pw-twin"); err != nil {
		t.Fatal(err)
	}
	t1, t2 := newPlayer(t, cl1), newPlayer(t, cl2)
	o := newPlayer(t, account(t, c, 2, "other"))
	if err := cl2.RoleCreate(ctx30(), "europe", "knight"); err != nil {
		t.Fatal(err)
	}
	t1.join(sc, 0, 0)
	t2.join(sc, 10, 0)
	o.join(sc, 5, 5)
	if t1.id() == t2.id() {
		t.Fatal("two devices got one id")
	}
	t1.seesPlayer(t2)
	t2.seesPlayer(t1)
	o.seesPlayer(t1)
	o.seesPlayer(t2)
	t1.say("one")
	t2.say("two")
	t2.hears("one")
	t1.hears("two")
	o.hears("one")
	o.hears("two")
	o.mu.Lock()
	if o.sees[t1.id()] != "twin" || o.sees[t2.id()] != "twin" {
		t.Fatalf("other sees %v", o.sees)
	}
	o.mu.Unlock()
	// The second device picks a role: it shows as the role from its next
	// move and say on; the first device stays the user.
	if err := cl2.PickRole(ctx30(), "europe", "knight"); err != nil {
		t.Fatal(err)
	}
	t2.move(11, 0)
	t2.say("as a knight")
	o.hears("as a knight")
	t1.say("as myself")
	o.hears("as myself")
	// The first device picks another role of the account: two roles of
	// one account in the scene at once, on two devices.
	if err := cl1.RoleCreate(ctx30(), "europe", "mage"); err != nil {
		t.Fatal(err)
	}
	if err := cl1.PickRole(ctx30(), "europe", "mage"); err != nil {
		t.Fatal(err)
	}
	t1.move(1, 0)
	t1.say("as a mage")
	o.hears("as a mage")
	t2.say("still a knight")
	o.hears("still a knight")
	o.mu.Lock()
	defer o.mu.Unlock()
	want := map[string]struct {
		from string
		id   uint64
	}{"as a knight": {"knight", t2.id()}, "as myself": {"twin", t1.id()}, "as a mage": {"mage", t1.id()}, "still a knight": {"knight", t2.id()}}
	seen := 0
	for _, e := range o.events {
		if w, ok := want[e.Text]; ok {
			seen++
			if e.From != w.from || e.ID != w.id {
				t.Fatalf("other got %+v, want it from %s (player %d)", e, w.from, w.id)
			}
		}
	}
	if seen != len(want) {
		t.Fatalf("other got %d of the %d says it checks", seen, len(want))
	}
}
