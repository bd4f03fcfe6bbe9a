package vlr

import "github.com/roamhq/roam/wire"

// Redirects: the node moves a session to another node (PROTOCOL.md
// §10.2). The connection gets a redirect push (the reason and the nodes'
// loads) and then a goodbye 406 with the same address, and closes; the
// client resumes its session at that address. A client that does not
// know the push follows the goodbye as it always did, so nothing breaks.
// Nothing is lost on the way: sends waiting for their acknowledgement are
// retried on the new connection with their cmids, and what was pushed but
// not acknowledged is still in the inbox when the client syncs there.

// placeElsewhere asks Config.Place, once the connection's session is
// established, whether it belongs at another node, and moves it if so.
// It reports whether the connection is closing.
func (c *conn) placeElsewhere() bool {
	if c.srv.cfg.Place == nil || c.sess == nil {
		return false
	}
	addr, reason := c.srv.cfg.Place(c.sess.user)
	if addr == "" {
		return false
	}
	return c.redirect(addr, reason)
}

// redirect sends the redirect push and the goodbye, once; it reports
// false when the connection was already moving.
func (c *conn) redirect(addr, reason string) bool {
	if addr == "" || c.moving.Swap(true) {
		return false
	}
	push := &wire.Redirect{Reason: reason, Addr: addr}
	if c.srv.cfg.Loads != nil {
		push.Nodes = c.srv.cfg.Loads()
	}
	c.out.enqueue(func(dst []byte) []byte {
		out, err := wire.AppendFrame(dst, wire.TRedirect, 0, push)
		if err != nil {
			return dst
		}
		return out
	})
	c.closeWith(&wire.Goodbye{Code: wire.CodeRedirect, Message: "reconnect to " + addr + " (" + reason + ")", Redirect: addr})
	c.srv.redirected.Add(1)
	c.srv.movingNow.Add(1) // teardown takes it back
	return true
}

// Redirect moves up to n of this node's sessions to other nodes: for
// each it asks pick for the address (and the reason); an empty address
// stops it. It returns how many it moved.
func (s *Server) Redirect(n int, pick func() (addr, reason string)) int {
	moved := 0
	for _, sess := range s.reg.all() {
		if moved >= n {
			break
		}
		if sess.c == nil || sess.c.moving.Load() {
			continue
		}
		addr, reason := pick()
		if addr == "" {
			break
		}
		if sess.c.redirect(addr, reason) {
			moved++
		}
	}
	return moved
}

// Redirected returns how many sessions this server has moved to other
// nodes since it started.
func (s *Server) Redirected() uint64 { return s.redirected.Load() }

// Staying returns the sessions here that are not being moved away.
func (s *Server) Staying() int { return max(0, s.reg.count()-int(s.movingNow.Load())) }
