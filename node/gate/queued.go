package gate

// QueuedBytes returns the bytes waiting to be written on the gate's
// connections: requests and one-way items for other nodes, and replies to
// their requests. Each peer's queue is bounded by Config.MaxQueueBytes; a
// queue that stays high means a slow or unreachable peer (and, once full,
// Stats.Drops). It takes each queue's lock in turn, never two at once.
func (g *Gate) QueuedBytes() int64 {
	g.mu.Lock()
	peers := make([]*peer, 0, len(g.peers))
	for _, p := range g.peers {
		peers = append(peers, p)
	}
	conns := make([]*serverConn, 0, len(g.conns))
	for c := range g.conns {
		conns = append(conns, c)
	}
	g.mu.Unlock()
	var n int64
	for _, p := range peers {
		p.mu.Lock()
		n += int64(len(p.q.buf))
		p.mu.Unlock()
	}
	for _, c := range conns {
		c.mu.Lock()
		n += int64(len(c.q.buf))
		c.mu.Unlock()
	}
	return n
}
