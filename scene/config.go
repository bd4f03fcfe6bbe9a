package scene

import (
	"errors"
	"fmt"
	"math"
)

// Errors of the grid.
var (
	// ErrBadPosition: a coordinate is NaN, infinite or beyond Config.Bound.
	ErrBadPosition = errors.New("scene: position out of range")
	// ErrUnknown: no player with that id is in the scene.
	ErrUnknown = errors.New("scene: no such player")
	// ErrBadZone: a zone's shape is not a valid rectangle or circle, or
	// its id is empty or too long.
	ErrBadZone = errors.New("scene: invalid zone")
	// ErrTooManyZones: the scene has Config.MaxZones zones already.
	ErrTooManyZones = errors.New("scene: too many zones")
	// ErrFull: the scene has Config.MaxPlayers players already.
	ErrFull = errors.New("scene: full")
)

// Config is the settings of one scene.
type Config struct {
	// Hear is the hearing radius of a say, and the side of a cell.
	Hear float64
	// View is the view radius of an action and of enter/leave changes.
	View float64
	// MaxListeners caps the listeners of a say or an action (the nearest
	// ones) and the players one player sees.
	MaxListeners int
	// Hysteresis is the band, as a fraction of View, that a visible pair
	// must move apart beyond View before it stops being visible. At least
	// 0.1.
	Hysteresis float64
	// MoveThreshold is the distance below which a move skips the
	// re-evaluation of the mover's view.
	MoveThreshold float64
	// Bound limits every coordinate to [-Bound, Bound].
	Bound float64
	// MaxPlayers bounds the players of the scene; MaxZones its zones.
	MaxPlayers int
	MaxZones   int
}

// DefaultConfig returns the defaults: hearing 50, view 100, the 200
// nearest, 10 % hysteresis, a threshold of 1 unit, coordinates within
// ±1,000,000, 10,000 players and 64 zones.
func DefaultConfig() Config {
	return Config{Hear: 50, View: 100, MaxListeners: 200, Hysteresis: 0.1, MoveThreshold: 1,
		Bound: 1e6, MaxPlayers: 10000, MaxZones: 64}
}

// Validate checks the configuration.
func (c Config) Validate() error {
	finite := func(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
	switch {
	case !finite(c.Hear) || !finite(c.View) || !finite(c.Bound) || !finite(c.MoveThreshold) || !finite(c.Hysteresis):
		return fmt.Errorf("scene: settings must be finite: %+v", c)
	case c.Hear < 1 || c.View < 1:
		return fmt.Errorf("scene: Hear and View must be at least 1, got %v and %v", c.Hear, c.View)
	case c.Bound < c.Hear || c.Bound/c.Hear > 1<<30:
		return fmt.Errorf("scene: Bound must be at least Hear and at most 2^30 cells, got %v", c.Bound)
	case c.Hysteresis < 0.1 || c.Hysteresis > 1:
		return fmt.Errorf("scene: Hysteresis must be 0.1..1 (a fraction of View), got %v", c.Hysteresis)
	case c.MoveThreshold < 0 || c.MoveThreshold > c.Hear:
		return fmt.Errorf("scene: MoveThreshold must be 0..Hear, got %v", c.MoveThreshold)
	case c.MaxListeners < 1 || c.MaxPlayers < 1 || c.MaxZones < 0:
		return fmt.Errorf("scene: MaxListeners and MaxPlayers must be positive and MaxZones not negative")
	}
	return nil
}

// ValidPosition reports whether (x, y) is a position a player may have
// under c: both finite and within ±Bound.
func (c Config) ValidPosition(x, y float64) bool {
	return !math.IsNaN(x) && !math.IsNaN(y) && math.Abs(x) <= c.Bound && math.Abs(y) <= c.Bound
}
