package node

import "sort"

// Hooks for fault injection and inspection by the simulator (served by
// roamd -fault-control, see node/faultctl). Config.GateDropOneWay is the
// other half: it is handed to the gate at New.

// ResetGateConnections closes every gate connection of this node, in
// both directions (gate.Gate.ResetConnections); they are redialled as
// after any connection loss. It returns how many it closed.
func (n *Node) ResetGateConnections() int {
	if n.gate == nil {
		return 0
	}
	return n.gate.ResetConnections()
}

// LeaderPartitions lists, in order, the partitions whose Raft leader is
// this node right now.
func (n *Node) LeaderPartitions() []uint16 {
	var out []uint16
	for _, pid := range n.openPids() {
		if p, ok := n.host.Partition(pid); ok && p.IsLeader() {
			out = append(out, pid)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}
