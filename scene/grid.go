package scene

import (
	"math"
	"slices"
)

// ID identifies a player in a scene.
type ID uint64

// Change is one change of visibility: To now sees Peer (Enter) or no
// longer does.
type Change struct {
	To, Peer ID
	Enter    bool
}

// Grid is one scene. It is not safe for concurrent use.
type Grid struct {
	cfg   Config
	cell  float64
	leave float64 // View × (1 + Hysteresis)
	cells map[cellKey][]*entity
	ents  map[ID]*entity
	zones []Zone // sorted by id

	gone []ID   // evaluate's scratch
	near []near // evaluate's scratch
}

type cellKey struct{ cx, cy int32 }

type entity struct {
	id     ID
	x, y   float64
	ex, ey float64 // where the view was last evaluated
	ck     cellKey
	zone   string
	sees   map[ID]struct{}
}

// New returns an empty scene with the zones of cfg.
func New(cfg Config) (*Grid, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	g := &Grid{cfg: cfg, cell: cfg.Hear, leave: cfg.View * (1 + cfg.Hysteresis),
		cells: make(map[cellKey][]*entity), ents: make(map[ID]*entity)}
	return g, nil
}

// Config returns the scene's settings.
func (g *Grid) Config() Config { return g.cfg }

// Len returns the number of players.
func (g *Grid) Len() int { return len(g.ents) }

func (g *Grid) keyOf(x, y float64) cellKey {
	return cellKey{int32(math.Floor(x / g.cell)), int32(math.Floor(y / g.cell))}
}

func (g *Grid) zoneOf(x, y float64) string {
	for _, z := range g.zones {
		if z.Contains(x, y) {
			return z.ID
		}
	}
	return ""
}

// Add puts player id at (x, y), or moves it there if it is in the scene
// already, and returns the changes of visibility.
func (g *Grid) Add(id ID, x, y float64) ([]Change, error) {
	if !g.cfg.ValidPosition(x, y) {
		return nil, ErrBadPosition
	}
	if _, ok := g.ents[id]; ok {
		return g.Move(id, x, y)
	}
	if len(g.ents) >= g.cfg.MaxPlayers {
		return nil, ErrFull
	}
	e := &entity{id: id, x: x, y: y, ex: x, ey: y, ck: g.keyOf(x, y), zone: g.zoneOf(x, y), sees: make(map[ID]struct{})}
	g.ents[id] = e
	g.cells[e.ck] = append(g.cells[e.ck], e)
	return g.evaluate(e, nil), nil
}

// Move moves player id to (x, y) and returns the changes of visibility
// (none when the move is below the threshold).
func (g *Grid) Move(id ID, x, y float64) ([]Change, error) {
	if !g.cfg.ValidPosition(x, y) {
		return nil, ErrBadPosition
	}
	e := g.ents[id]
	if e == nil {
		return nil, ErrUnknown
	}
	e.x, e.y = x, y
	if ck := g.keyOf(x, y); ck != e.ck {
		g.unlink(e)
		e.ck = ck
		g.cells[ck] = append(g.cells[ck], e)
	}
	zone := g.zoneOf(x, y)
	dx, dy := x-e.ex, y-e.ey
	if zone == e.zone && dx*dx+dy*dy < g.cfg.MoveThreshold*g.cfg.MoveThreshold {
		return nil, nil
	}
	e.zone = zone
	return g.evaluate(e, nil), nil
}

// Remove takes player id out of the scene; everyone who saw it gets a
// leave change. Removing a player that is not there changes nothing.
func (g *Grid) Remove(id ID) []Change {
	e := g.ents[id]
	if e == nil {
		return nil
	}
	var out []Change
	for _, p := range sortedIDs(e.sees) {
		delete(g.ents[p].sees, id)
		out = append(out, Change{To: p, Peer: id})
	}
	g.unlink(e)
	delete(g.ents, id)
	return out
}

func (g *Grid) unlink(e *entity) {
	c := g.cells[e.ck]
	for i, o := range c {
		if o == e {
			c[i] = c[len(c)-1]
			c[len(c)-1] = nil
			c = c[:len(c)-1]
			break
		}
	}
	if len(c) == 0 {
		delete(g.cells, e.ck)
	} else {
		g.cells[e.ck] = c
	}
}

// Position returns where player id is.
func (g *Grid) Position(id ID) (x, y float64, ok bool) {
	e := g.ents[id]
	if e == nil {
		return 0, 0, false
	}
	return e.x, e.y, true
}

// Zone returns the zone player id is in ("" for none).
func (g *Grid) Zone(id ID) string {
	if e := g.ents[id]; e != nil {
		return e.zone
	}
	return ""
}

// Sees returns the players id sees, by id.
func (g *Grid) Sees(id ID) []ID {
	e := g.ents[id]
	if e == nil {
		return nil
	}
	return sortedIDs(e.sees)
}

// Players returns every player, by id.
func (g *Grid) Players() []ID {
	out := make([]ID, 0, len(g.ents))
	for id := range g.ents {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

type near struct {
	e  *entity
	d2 float64
}

// around calls fn for every other player within r of e, in its zone.
func (g *Grid) around(e *entity, r float64, fn func(o *entity, d2 float64)) {
	k := int32(math.Ceil(r / g.cell))
	r2 := r * r
	for cx := e.ck.cx - k; cx <= e.ck.cx+k; cx++ {
		for cy := e.ck.cy - k; cy <= e.ck.cy+k; cy++ {
			for _, o := range g.cells[cellKey{cx, cy}] {
				if o == e || o.zone != e.zone {
					continue
				}
				dx, dy := o.x-e.x, o.y-e.y
				if d2 := dx*dx + dy*dy; d2 <= r2 {
					fn(o, d2)
				}
			}
		}
	}
}

// Listeners appends to dst the players within r of player id (at most
// MaxListeners, the nearest; ties by id), nearest first. The slice is the
// caller's: the grid may change while it is used.
func (g *Grid) Listeners(id ID, r float64, dst []ID) []ID {
	e := g.ents[id]
	if e == nil {
		return dst
	}
	var ns []near
	g.around(e, r, func(o *entity, d2 float64) { ns = append(ns, near{o, d2}) })
	sortNear(ns)
	if len(ns) > g.cfg.MaxListeners {
		ns = ns[:g.cfg.MaxListeners]
	}
	for _, n := range ns {
		dst = append(dst, n.e.id)
	}
	return dst
}

func sortNear(ns []near) {
	slices.SortFunc(ns, func(a, b near) int {
		switch {
		case a.d2 < b.d2:
			return -1
		case a.d2 > b.d2:
			return 1
		case a.e.id < b.e.id:
			return -1
		case a.e.id > b.e.id:
			return 1
		}
		return 0
	})
}

// evaluate re-evaluates e's view where it is now and appends the changes
// to out: pairs too far apart (beyond the leave radius) or in different
// zones stop being visible; then the nearest players within View in its
// zone become visible while both sides have room.
func (g *Grid) evaluate(e *entity, out []Change) []Change {
	e.ex, e.ey = e.x, e.y
	gone := g.gone[:0]
	for p := range e.sees {
		o := g.ents[p]
		dx, dy := o.x-e.x, o.y-e.y
		if o.zone != e.zone || dx*dx+dy*dy > g.leave*g.leave {
			gone = append(gone, p)
		}
	}
	slices.Sort(gone) // the changes in id order, whatever the map's
	for _, p := range gone {
		delete(e.sees, p)
		delete(g.ents[p].sees, e.id)
		out = append(out, Change{To: e.id, Peer: p}, Change{To: p, Peer: e.id})
	}
	g.gone = gone
	if len(e.sees) >= g.cfg.MaxListeners {
		return out
	}
	ns := g.near[:0]
	g.around(e, g.cfg.View, func(o *entity, d2 float64) {
		if _, ok := e.sees[o.id]; !ok {
			ns = append(ns, near{o, d2})
		}
	})
	sortNear(ns)
	defer func() { clear(ns); g.near = ns[:0] }()
	for _, n := range ns {
		if len(e.sees) >= g.cfg.MaxListeners {
			break
		}
		if len(n.e.sees) >= g.cfg.MaxListeners {
			continue
		}
		e.sees[n.e.id] = struct{}{}
		n.e.sees[e.id] = struct{}{}
		out = append(out, Change{To: e.id, Peer: n.e.id, Enter: true}, Change{To: n.e.id, Peer: e.id, Enter: true})
	}
	return out
}

// SetZone adds zone z, or replaces the zone with its id, and returns the
// changes of visibility of every player whose zone changed.
func (g *Grid) SetZone(z Zone) ([]Change, error) {
	if !z.Valid(g.cfg.Bound) {
		return nil, ErrBadZone
	}
	i, found := slices.BinarySearchFunc(g.zones, z.ID, func(a Zone, id string) int {
		switch {
		case a.ID < id:
			return -1
		case a.ID > id:
			return 1
		}
		return 0
	})
	if found {
		g.zones[i] = z
	} else {
		if len(g.zones) >= g.cfg.MaxZones {
			return nil, ErrTooManyZones
		}
		g.zones = slices.Insert(g.zones, i, z)
	}
	return g.rezone(), nil
}

// RemoveZone removes the zone with id (if there is one).
func (g *Grid) RemoveZone(id string) []Change {
	i := slices.IndexFunc(g.zones, func(z Zone) bool { return z.ID == id })
	if i < 0 {
		return nil
	}
	g.zones = slices.Delete(g.zones, i, i+1)
	return g.rezone()
}

// Zones returns the scene's zones, by id.
func (g *Grid) Zones() []Zone { return slices.Clone(g.zones) }

// rezone recomputes every player's zone and re-evaluates those whose
// zone changed, in id order.
func (g *Grid) rezone() []Change {
	var moved []*entity
	for _, id := range g.Players() {
		e := g.ents[id]
		if z := g.zoneOf(e.x, e.y); z != e.zone {
			e.zone = z
			moved = append(moved, e)
		}
	}
	var out []Change
	for _, e := range moved {
		out = g.evaluate(e, out)
	}
	return out
}

func sortedIDs(m map[ID]struct{}) []ID {
	out := make([]ID, 0, len(m))
	for id := range m {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}
