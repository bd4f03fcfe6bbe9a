package scene

import (
	"errors"
	"math"
	"math/rand"
	"reflect"
	"slices"
	"testing"
)

func newGrid(t testing.TB, mod func(*Config)) *Grid {
	t.Helper()
	cfg := DefaultConfig()
	if mod != nil {
		mod(&cfg)
	}
	g, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func add(t testing.TB, g *Grid, id ID, x, y float64) []Change {
	t.Helper()
	ch, err := g.Add(id, x, y)
	if err != nil {
		t.Fatalf("add %d at (%v, %v): %v", id, x, y, err)
	}
	return ch
}

func move(t testing.TB, g *Grid, id ID, x, y float64) []Change {
	t.Helper()
	ch, err := g.Move(id, x, y)
	if err != nil {
		t.Fatalf("move %d to (%v, %v): %v", id, x, y, err)
	}
	return ch
}

func ids(v ...ID) []ID { return v }

// checkInvariants: visibility is symmetric, within the leave radius and
// one zone, and under the cap; every player is in the cell of its
// position, once.
func checkInvariants(t *testing.T, g *Grid) {
	t.Helper()
	seen := map[ID]bool{}
	for ck, c := range g.cells {
		if len(c) == 0 {
			t.Fatalf("empty cell %v kept", ck)
		}
		for _, e := range c {
			if seen[e.id] {
				t.Fatalf("player %d in two cells", e.id)
			}
			seen[e.id] = true
			if g.keyOf(e.x, e.y) != ck {
				t.Fatalf("player %d at (%v, %v) is in cell %v", e.id, e.x, e.y, ck)
			}
		}
	}
	if len(seen) != len(g.ents) {
		t.Fatalf("%d players in cells, %d in the scene", len(seen), len(g.ents))
	}
	for id, e := range g.ents {
		if len(e.sees) > g.cfg.MaxListeners {
			t.Fatalf("player %d sees %d > cap", id, len(e.sees))
		}
		if z := g.zoneOf(e.x, e.y); z != e.zone {
			t.Fatalf("player %d in zone %q, its position is in %q", id, e.zone, z)
		}
		for p := range e.sees {
			o := g.ents[p]
			if o == nil {
				t.Fatalf("player %d sees %d, who left", id, p)
			}
			if _, ok := o.sees[id]; !ok {
				t.Fatalf("%d sees %d but not the other way", id, p)
			}
			if o.zone != e.zone {
				t.Fatalf("%d (zone %q) sees %d (zone %q)", id, e.zone, p, o.zone)
			}
			// Either may have moved below the threshold since its last
			// evaluation: allow both thresholds.
			if d := math.Hypot(o.x-e.x, o.y-e.y); d > g.leave+2*g.cfg.MoveThreshold {
				t.Fatalf("%d sees %d at distance %v > leave radius %v", id, p, d, g.leave)
			}
		}
	}
}

func TestScene_HearingRange(t *testing.T) {
	g := newGrid(t, nil)
	add(t, g, 1, 0, 0)
	add(t, g, 2, 49.9, 0)  // inside 50
	add(t, g, 3, 0, -50)   // on the edge: inside
	add(t, g, 4, 36, 36)   // 50.9: outside
	add(t, g, 5, 120, 0)   // far outside
	add(t, g, 6, -0.5, 0)  // the next cell over, very close
	add(t, g, 7, 30, 39.9) // 49.92, diagonal cell
	got := g.Listeners(1, 50, nil)
	if want := ids(6, 2, 7, 3); !reflect.DeepEqual(got, want) {
		t.Fatalf("listeners of 1: %v, want %v (nearest first)", got, want)
	}
	if got := g.Listeners(5, 50, nil); len(got) != 0 {
		t.Fatalf("listeners of 5: %v, want none", got)
	}
	// The view radius reaches further, through more rings of cells.
	if got := g.Listeners(1, 100, nil); !slices.Contains(got, 4) || slices.Contains(got, 5) {
		t.Fatalf("viewers of 1: %v, want 4 in and 5 out", got)
	}
	if got := g.Listeners(99, 50, nil); len(got) != 0 {
		t.Fatalf("listeners of an unknown player: %v", got)
	}
	checkInvariants(t, g)
}

func TestScene_ListenersMatchBruteForce(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	g := newGrid(t, func(c *Config) { c.MaxListeners = 1 << 20; c.MaxPlayers = 1 << 20 })
	pos := map[ID][2]float64{}
	for i := ID(1); i <= 600; i++ {
		x, y := r.Float64()*600-300, r.Float64()*600-300
		add(t, g, i, x, y)
		pos[i] = [2]float64{x, y}
	}
	for i := 0; i < 2000; i++ {
		id := ID(r.Intn(600) + 1)
		x, y := pos[id][0]+r.Float64()*40-20, pos[id][1]+r.Float64()*40-20
		move(t, g, id, x, y)
		pos[id] = [2]float64{x, y}
	}
	for _, rad := range []float64{50, 100, 130} {
		for id := ID(1); id <= 600; id += 7 {
			var want []ID
			for o, p := range pos {
				if o != id && math.Hypot(p[0]-pos[id][0], p[1]-pos[id][1]) <= rad {
					want = append(want, o)
				}
			}
			got := g.Listeners(id, rad, nil)
			slices.Sort(want)
			slices.Sort(got)
			if !slices.Equal(got, want) {
				t.Fatalf("radius %v, player %d: grid %v, brute force %v", rad, id, got, want)
			}
		}
	}
	checkInvariants(t, g)
}

func TestScene_CapNearest(t *testing.T) {
	g := newGrid(t, nil)
	add(t, g, 1, 0, 0)
	// 300 players within 50, player k at distance 0.1·k.
	for k := 1; k <= 300; k++ {
		a := float64(k) * 2.399963 // golden angle: spread around
		d := 0.1 * float64(k)
		add(t, g, ID(1000+k), d*math.Cos(a), d*math.Sin(a))
	}
	got := g.Listeners(1, 50, nil)
	if len(got) != 200 {
		t.Fatalf("%d listeners, want the cap of 200", len(got))
	}
	for i, id := range got {
		if id != ID(1001+i) {
			t.Fatalf("listener %d is %d, want %d (the 200 nearest, nearest first)", i, id, 1001+i)
		}
	}
	if n := len(g.Sees(1)); n != 200 {
		t.Fatalf("1 sees %d, want the cap", n)
	}
	checkInvariants(t, g)
}

func TestScene_EnterLeaveChanges(t *testing.T) {
	g := newGrid(t, nil)
	if ch := add(t, g, 1, 0, 0); len(ch) != 0 {
		t.Fatalf("alone: %v", ch)
	}
	ch := add(t, g, 2, 90, 0)
	want := []Change{{To: 2, Peer: 1, Enter: true}, {To: 1, Peer: 2, Enter: true}}
	if !reflect.DeepEqual(ch, want) {
		t.Fatalf("enter: %v, want %v", ch, want)
	}
	// Across cells, still in view: nothing.
	if ch := move(t, g, 2, 60, 10); len(ch) != 0 {
		t.Fatalf("move within view: %v", ch)
	}
	if ch := move(t, g, 2, 300, 0); !reflect.DeepEqual(ch, []Change{{To: 2, Peer: 1}, {To: 1, Peer: 2}}) {
		t.Fatalf("leave: %v", ch)
	}
	if ch := move(t, g, 2, 300, 0); len(ch) != 0 {
		t.Fatalf("no move: %v", ch)
	}
	checkInvariants(t, g)
}

// TestScene_Hysteresis: a player pacing across the view edge enters
// once, stays visible in the band up to 110, and leaves once beyond it.
func TestScene_Hysteresis(t *testing.T) {
	g := newGrid(t, nil)
	add(t, g, 1, 0, 0)
	add(t, g, 2, 150, 0)
	var enters, leaves int
	count := func(ch []Change) {
		for _, c := range ch {
			if c.To != 1 {
				continue
			}
			if c.Enter {
				enters++
			} else {
				leaves++
			}
		}
	}
	count(move(t, g, 2, 99, 0)) // enters
	for i := 0; i < 20; i++ {   // pacing around the edge, within the band
		x := 95.0 + float64(i%2)*14 // 95, 109, 95, ...
		count(move(t, g, 2, x, 0))
	}
	if enters != 1 || leaves != 0 {
		t.Fatalf("pacing in the band: %d enters, %d leaves, want 1 and 0", enters, leaves)
	}
	count(move(t, g, 2, 111, 0))
	if leaves != 1 {
		t.Fatalf("beyond the band: %d leaves, want 1", leaves)
	}
	// Back inside the band but beyond View: not seen again yet.
	count(move(t, g, 2, 105, 0))
	if enters != 1 {
		t.Fatalf("in the band after leaving: %d enters, want still 1", enters)
	}
	count(move(t, g, 2, 100, 0))
	if enters != 2 {
		t.Fatalf("back at View: %d enters, want 2", enters)
	}
	checkInvariants(t, g)
}

func TestScene_MoveThresholdSkipsEvaluation(t *testing.T) {
	g := newGrid(t, func(c *Config) { c.MoveThreshold = 5 })
	add(t, g, 1, 0, 0)
	add(t, g, 2, 98, 0)
	// Creeping outward in steps below the threshold: no evaluation until
	// the distance from the last evaluated spot reaches it.
	for x := 99.0; x <= 101; x++ {
		if ch := move(t, g, 2, x, 0); len(ch) != 0 {
			t.Fatalf("small move to %v: %v", x, ch)
		}
	}
	if x, _, _ := g.Position(2); x != 101 {
		t.Fatalf("position %v: a small move still moves", x)
	}
	if ch := move(t, g, 2, 112, 0); len(ch) != 2 {
		t.Fatalf("large move out: %v, want the two leaves", ch)
	}
	// Small moves still change cells.
	g2 := newGrid(t, func(c *Config) { c.MoveThreshold = 5 })
	add(t, g2, 1, 49, 0)
	move(t, g2, 1, 51, 0)
	checkInvariants(t, g2)
	if got := g2.Listeners(1, 50, nil); len(got) != 0 {
		t.Fatal(got)
	}
}

func TestScene_Zones(t *testing.T) {
	g := newGrid(t, nil)
	if _, err := g.SetZone(Zone{ID: "tavern", Shape: "rect", MinX: 0, MinY: 0, MaxX: 20, MaxY: 20}); err != nil {
		t.Fatal(err)
	}
	if _, err := g.SetZone(Zone{ID: "well", Shape: "circle", X: -30, Y: 0, R: 5}); err != nil {
		t.Fatal(err)
	}
	add(t, g, 1, 5, 5)   // tavern
	add(t, g, 2, 15, 15) // tavern
	add(t, g, 3, 25, 5)  // outside, 20 from 1
	add(t, g, 4, -30, 2) // well
	add(t, g, 5, -10, 0) // outside
	if got := g.Listeners(1, 50, nil); !reflect.DeepEqual(got, ids(2)) {
		t.Fatalf("inside hears %v, want only the tavern", got)
	}
	if got := g.Listeners(3, 50, nil); !reflect.DeepEqual(got, ids(5)) {
		t.Fatalf("outside hears %v, want only outside", got)
	}
	if got := g.Listeners(4, 50, nil); len(got) != 0 {
		t.Fatalf("alone at the well hears %v", got)
	}
	if !reflect.DeepEqual(g.Sees(1), ids(2)) || !reflect.DeepEqual(g.Sees(3), ids(5)) {
		t.Fatalf("sees: 1 %v, 3 %v", g.Sees(1), g.Sees(3))
	}
	// Walking out of the tavern: leaves 2, enters 3 and 5.
	ch := move(t, g, 2, 25, 15)
	if g.Zone(2) != "" || !reflect.DeepEqual(g.Sees(2), ids(3, 5)) {
		t.Fatalf("2 outside: zone %q sees %v (changes %v)", g.Zone(2), g.Sees(2), ch)
	}
	// A zone removed: everyone outside again, all in view of each other.
	g.RemoveZone("tavern")
	if !reflect.DeepEqual(g.Sees(1), ids(2, 3, 5)) {
		t.Fatalf("after the tavern went: 1 sees %v", g.Sees(1))
	}
	checkInvariants(t, g)
	for _, bad := range []Zone{{ID: "", Shape: "rect"}, {ID: "x", Shape: "square"}, {ID: "x", Shape: "circle", R: 0},
		{ID: "x", Shape: "rect", MinX: 1, MaxX: 0}, {ID: "x", Shape: "circle", R: math.NaN()}, {ID: "x", Shape: "rect", MaxX: math.Inf(1)}} {
		if _, err := g.SetZone(bad); !errors.Is(err, ErrBadZone) {
			t.Fatalf("zone %+v: %v, want ErrBadZone", bad, err)
		}
	}
	g3 := newGrid(t, func(c *Config) { c.MaxZones = 1 })
	g3.SetZone(Zone{ID: "a", Shape: "circle", R: 1})
	if _, err := g3.SetZone(Zone{ID: "b", Shape: "circle", R: 1}); !errors.Is(err, ErrTooManyZones) {
		t.Fatal(err)
	}
	if _, err := g3.SetZone(Zone{ID: "a", Shape: "circle", R: 2}); err != nil {
		t.Fatalf("replacing a zone: %v", err)
	}
}

func TestScene_BadPositions(t *testing.T) {
	g := newGrid(t, nil)
	add(t, g, 1, 0, 0)
	for _, p := range [][2]float64{{math.NaN(), 0}, {0, math.NaN()}, {math.Inf(1), 0}, {0, math.Inf(-1)}, {1e6 + 1, 0}, {0, -1e300}} {
		if _, err := g.Add(2, p[0], p[1]); !errors.Is(err, ErrBadPosition) {
			t.Fatalf("add at %v: %v", p, err)
		}
		if _, err := g.Move(1, p[0], p[1]); !errors.Is(err, ErrBadPosition) {
			t.Fatalf("move to %v: %v", p, err)
		}
	}
	if x, y, _ := g.Position(1); x != 0 || y != 0 {
		t.Fatalf("a refused move moved: (%v, %v)", x, y)
	}
	if _, err := g.Move(9, 0, 0); !errors.Is(err, ErrUnknown) {
		t.Fatal(err)
	}
	add(t, g, 3, 1e6, -1e6) // the corner is allowed
	checkInvariants(t, g)
	gf := newGrid(t, func(c *Config) { c.MaxPlayers = 1 })
	add(t, gf, 1, 0, 0)
	if _, err := gf.Add(2, 0, 0); !errors.Is(err, ErrFull) {
		t.Fatal(err)
	}
}

// TestScene_LeaveMidEvent: listeners taken for an event stay valid while
// players leave (and others join) before the event is handed out, and the
// leavers' peers get their leave changes.
func TestScene_LeaveMidEvent(t *testing.T) {
	g := newGrid(t, nil)
	for i := ID(1); i <= 10; i++ {
		add(t, g, i, float64(i), 0)
	}
	ls := g.Listeners(1, 50, nil)
	for _, id := range ls {
		ch := g.Remove(id) // every listener leaves while the event is out
		for _, c := range ch {
			if c.Peer != id || c.Enter {
				t.Fatalf("remove %d: change %+v", id, c)
			}
		}
		if g.Remove(id) != nil {
			t.Fatal("a second remove changed something")
		}
		add(t, g, id+100, 0, 1) // and others come
	}
	if len(ls) != 9 {
		t.Fatalf("listeners %v", ls)
	}
	if got := g.Listeners(1, 50, nil); len(got) != 9 || got[0] < 100 {
		t.Fatalf("after: %v", got)
	}
	// The speaker itself leaves mid-event.
	g.Remove(1)
	if got := g.Listeners(1, 50, nil); got != nil {
		t.Fatalf("listeners of a player who left: %v", got)
	}
	checkInvariants(t, g)
}

// TestScene_Deterministic: the same calls give the same changes, in the
// same order.
func TestScene_Deterministic(t *testing.T) {
	run := func() []Change {
		r := rand.New(rand.NewSource(7))
		g := newGrid(t, func(c *Config) { c.MaxListeners = 5 })
		g.SetZone(Zone{ID: "z", Shape: "circle", X: 0, Y: 0, R: 40})
		var all []Change
		for i := 0; i < 3000; i++ {
			id := ID(r.Intn(80))
			x, y := r.Float64()*400-200, r.Float64()*400-200
			switch r.Intn(10) {
			case 0:
				all = append(all, g.Remove(id)...)
			default:
				ch, err := g.Add(id, x, y)
				if err != nil {
					t.Fatal(err)
				}
				all = append(all, ch...)
			}
		}
		checkInvariants(t, g)
		return all
	}
	a, b := run(), run()
	if !reflect.DeepEqual(a, b) {
		t.Fatal("two runs of the same calls differ")
	}
	if len(a) == 0 {
		t.Fatal("no changes at all")
	}
}

// TestScene_ChangesReplayToSees: applying every change in order to an
// empty view per player gives exactly the grid's visibility (no lost or
// doubled enter/leave).
func TestScene_ChangesReplayToSees(t *testing.T) {
	r := rand.New(rand.NewSource(3))
	g := newGrid(t, func(c *Config) { c.MaxListeners = 8 })
	views := map[ID]map[ID]bool{}
	apply := func(ch []Change) {
		for _, c := range ch {
			v := views[c.To]
			if v == nil {
				v = map[ID]bool{}
				views[c.To] = v
			}
			if v[c.Peer] == c.Enter {
				t.Fatalf("change %+v repeats the state", c)
			}
			if c.Enter {
				v[c.Peer] = true
			} else {
				delete(v, c.Peer)
			}
		}
	}
	for i := 0; i < 5000; i++ {
		id := ID(r.Intn(60))
		if r.Intn(15) == 0 {
			apply(g.Remove(id))
			delete(views, id)
			continue
		}
		ch, _ := g.Add(id, r.Float64()*300, r.Float64()*300)
		apply(ch)
	}
	for _, id := range g.Players() {
		var got []ID
		for p := range views[id] {
			got = append(got, p)
		}
		slices.Sort(got)
		if want := g.Sees(id); !slices.Equal(got, want) && !(len(got) == 0 && len(want) == 0) {
			t.Fatalf("player %d: replayed %v, grid %v", id, got, want)
		}
	}
	checkInvariants(t, g)
}

func TestScene_ConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	for _, mod := range []func(*Config){
		func(c *Config) { c.Hysteresis = 0.05 },
		func(c *Config) { c.Hear = 0 },
		func(c *Config) { c.View = math.NaN() },
		func(c *Config) { c.Bound = math.Inf(1) },
		func(c *Config) { c.MaxListeners = 0 },
		func(c *Config) { c.MoveThreshold = 100 },
	} {
		c := DefaultConfig()
		mod(&c)
		if c.Validate() == nil {
			t.Fatalf("%+v accepted", c)
		}
	}
}

// BenchmarkGrid_Move: 2,000 players spread over 1,000×1,000 (about 16
// within hearing, 63 within view of each), each move a step of 2 units.
func BenchmarkGrid_Move(b *testing.B) {
	r := rand.New(rand.NewSource(1))
	g := newGrid(b, nil)
	const n = 2000
	pos := make([][2]float64, n)
	for i := range pos {
		pos[i] = [2]float64{r.Float64() * 1000, r.Float64() * 1000}
		if _, err := g.Add(ID(i), pos[i][0], pos[i][1]); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		id := i % n
		p := &pos[id]
		p[0] = math.Max(0, math.Min(1000, p[0]+r.Float64()*4-2))
		p[1] = math.Max(0, math.Min(1000, p[1]+r.Float64()*4-2))
		if _, err := g.Move(ID(id), p[0], p[1]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGrid_Listeners: the hearing listeners of a say in the same
// scene.
func BenchmarkGrid_Listeners(b *testing.B) {
	r := rand.New(rand.NewSource(1))
	g := newGrid(b, nil)
	for i := 0; i < 2000; i++ {
		g.Add(ID(i), r.Float64()*1000, r.Float64()*1000)
	}
	var dst []ID
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		dst = g.Listeners(ID(i%2000), 50, dst[:0])
	}
}
