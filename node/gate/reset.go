package gate

import "net"

// ResetConnections closes every gate connection of this node, the ones
// other nodes opened to it and the ones it opened, as a network failure
// would. Requests in flight on them fail (the callers see ErrUnreachable
// or hlr.ErrTimeout and may retry), one-way items written on them may be
// lost (the senders resync presence), and each side redials when it next
// has something to send, exactly as after any other loss. It returns how
// many connections it closed. The simulator uses it through roamd
// -fault-control (the gatereset fault); nothing else should.
func (g *Gate) ResetConnections() int {
	g.mu.Lock()
	conns := make([]net.Conn, 0, len(g.conns)+len(g.peers))
	for sc := range g.conns {
		conns = append(conns, sc.conn)
	}
	peers := make([]*peer, 0, len(g.peers))
	for _, p := range g.peers {
		peers = append(peers, p)
	}
	g.mu.Unlock()
	// g.mu is released before any peer lock is taken (peers never take
	// g.mu while holding their own, but this keeps the order trivial).
	for _, p := range peers {
		p.mu.Lock()
		if p.conn != nil {
			conns = append(conns, p.conn)
		}
		p.mu.Unlock()
	}
	for _, c := range conns {
		c.Close()
	}
	return len(conns)
}
