package scene

import "math"

// MaxZoneID bounds a zone's id.
const MaxZoneID = 64

// Zone is a region of a scene whose players hear and see only each
// other: a rectangle (Shape "rect": MinX ≤ x ≤ MaxX, MinY ≤ y ≤ MaxY) or
// a circle (Shape "circle": within R of (X, Y)).
type Zone struct {
	ID    string  `json:"id" msgpack:"id"`
	Shape string  `json:"shape" msgpack:"shape"`
	MinX  float64 `json:"min_x,omitempty" msgpack:"min_x,omitempty"`
	MinY  float64 `json:"min_y,omitempty" msgpack:"min_y,omitempty"`
	MaxX  float64 `json:"max_x,omitempty" msgpack:"max_x,omitempty"`
	MaxY  float64 `json:"max_y,omitempty" msgpack:"max_y,omitempty"`
	X     float64 `json:"x,omitempty" msgpack:"x,omitempty"`
	Y     float64 `json:"y,omitempty" msgpack:"y,omitempty"`
	R     float64 `json:"r,omitempty" msgpack:"r,omitempty"`
}

// Valid reports whether z is a well-formed zone within ±bound.
func (z Zone) Valid(bound float64) bool {
	in := func(vs ...float64) bool {
		for _, v := range vs {
			if math.IsNaN(v) || math.Abs(v) > bound {
				return false
			}
		}
		return true
	}
	if z.ID == "" || len(z.ID) > MaxZoneID {
		return false
	}
	switch z.Shape {
	case "rect":
		return in(z.MinX, z.MinY, z.MaxX, z.MaxY) && z.MinX <= z.MaxX && z.MinY <= z.MaxY
	case "circle":
		return in(z.X, z.Y, z.R) && z.R > 0
	}
	return false
}

// Contains reports whether (x, y) is inside z (its edge included).
func (z Zone) Contains(x, y float64) bool {
	switch z.Shape {
	case "rect":
		return x >= z.MinX && x <= z.MaxX && y >= z.MinY && y <= z.MaxY
	case "circle":
		dx, dy := x-z.X, y-z.Y
		return dx*dx+dy*dy <= z.R*z.R
	}
	return false
}
