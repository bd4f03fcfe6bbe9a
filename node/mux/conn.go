package mux

import (
	"net"
	"sync"
)

// tracker is a set of open connections that can all be closed at once.
type tracker struct {
	mu     sync.Mutex
	set    map[*trackedConn]struct{}
	closed bool
}

// add wraps c and tracks it; it returns nil if the tracker is closed.
func (t *tracker) add(c net.Conn) *trackedConn {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		return nil
	}
	if t.set == nil {
		t.set = make(map[*trackedConn]struct{})
	}
	tc := &trackedConn{Conn: c, t: t}
	t.set[tc] = struct{}{}
	return tc
}

// remove stops tracking c without closing it.
func (t *tracker) remove(c *trackedConn) {
	t.mu.Lock()
	delete(t.set, c)
	t.mu.Unlock()
}

// close closes every tracked connection and refuses new ones.
func (t *tracker) close() {
	t.mu.Lock()
	t.closed = true
	set := t.set
	t.set = nil
	t.mu.Unlock()
	for c := range set {
		c.Close()
	}
}

// trackedConn removes itself from its tracker when closed.
type trackedConn struct {
	net.Conn
	t    *tracker
	once sync.Once
	err  error
}

func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.err = c.Conn.Close()
		c.t.remove(c)
	})
	return c.err
}

// peerNodeID passes on the identity of the connection it wraps.
func (c *trackedConn) peerNodeID() (string, bool) { return PeerNodeID(c.Conn) }
