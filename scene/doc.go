// Package scene is the area-of-interest grid of one scene (game mode):
// who hears a say, who sees an action, and who enters and leaves whose
// view as players move. It is pure and deterministic: no goroutines, no
// clock, no I/O; the same calls in the same order give the same answers
// and the same changes in the same order. The node's scene host
// (node/scene_host.go) is the concurrent shell around it.
//
// # The grid
//
// The plane is cut into square cells whose side is the hearing radius, so
// that everyone within hearing of a player is in the nine cells around
// that player's cell; the view radius (twice the hearing radius by
// default) looks a ring of cells further. Each cell lists its players.
//
// # Rules
//
//   - Listeners(id, r) are the players within distance r of id (not id
//     itself), in id's zone, the Config.MaxListeners nearest (ties by
//     id), nearest first.
//   - Visibility is a symmetric relation kept between pairs: a pair
//     becomes visible when the two are within View of each other and in
//     the same zone (and each sees fewer than MaxListeners others); it
//     stops being visible when they are further apart than
//     View×(1+Hysteresis), or in different zones. The band between the
//     two radii is what keeps a player pacing along the edge from
//     flickering in and out.
//   - A move shorter than MoveThreshold from where the player was last
//     evaluated (and that keeps its zone) updates its position and cell
//     but skips the re-evaluation of its view.
//   - Zones are rectangles or circles. A player is in the first zone (by
//     id) that contains its position, or in none. Players hear and see
//     only players of the same zone: inside one, only each other;
//     outside all, only others outside.
//
// # Example
//
//	g, _ := scene.New(scene.DefaultConfig())
//	g.Add(1, 0, 0)
//	ch, _ := g.Add(2, 30, 0)    // 1 and 2 now see each other: two enter changes
//	near := g.Listeners(1, 50, nil) // [2]
//	ch = g.Remove(2)            // 1 gets a leave change
package scene
