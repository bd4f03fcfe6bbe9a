package node

// ScenePositions returns where the host here has the players of scene
// (nil if it does not host it), for the tests of package node_test.
func (n *Node) ScenePositions(id string) map[uint64][2]float64 {
	n.scenes.mu.Lock()
	hs := n.scenes.scenes[id]
	n.scenes.mu.Unlock()
	if hs == nil {
		return nil
	}
	hs.mu.Lock()
	defer hs.mu.Unlock()
	out := make(map[uint64][2]float64)
	for _, pid := range hs.grid.Players() {
		x, y, _ := hs.grid.Position(pid)
		out[uint64(pid)] = [2]float64{x, y}
	}
	return out
}

// SlowConsumers returns how many clients this node disconnected for not
// reading.
func (n *Node) SlowConsumers() uint64 { return n.vlr.Stats().SlowConsumers }
