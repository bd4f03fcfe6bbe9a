package vlr

import "time"

// A device that closes its connection and logs in again at once must not
// be sent again what it acknowledged on the old connection: the old
// session's final cursor write (in teardown) has to land before the new
// session reads the cursor. The server tracks the sessions whose teardown
// is writing their cursor, by user and device, and a login of the same
// device on this node waits for them (bounded).

// endings counts the sessions of one device still being torn down.
type endings struct {
	n    int
	done chan struct{} // closed when n drops to 0
}

func endingKey(user, device string) string { return user + "\x00" + device }

// beginEnding records that a session of (user, device) is being torn down.
func (s *Server) beginEnding(user, device string) {
	k := endingKey(user, device)
	s.endingMu.Lock()
	e := s.ending[k]
	if e == nil {
		e = &endings{done: make(chan struct{})}
		s.ending[k] = e
	}
	e.n++
	s.endingMu.Unlock()
}

// finishEnding records that a teardown begun with beginEnding is over.
func (s *Server) finishEnding(user, device string) {
	k := endingKey(user, device)
	s.endingMu.Lock()
	if e := s.ending[k]; e != nil {
		if e.n--; e.n == 0 {
			close(e.done)
			delete(s.ending, k)
		}
	}
	s.endingMu.Unlock()
}

// deviceHere reports whether (user, device) has a session on this node,
// live or being torn down.
func (s *Server) deviceHere(user, device string) bool {
	if s.reg.session(user, device) != nil {
		return true
	}
	s.endingMu.Lock()
	defer s.endingMu.Unlock()
	return s.ending[endingKey(user, device)] != nil
}

// waitEnding waits, at most max, until no session of (user, device) on
// this node is being torn down.
func (s *Server) waitEnding(user, device string, max time.Duration) {
	s.endingMu.Lock()
	e := s.ending[endingKey(user, device)]
	s.endingMu.Unlock()
	if e == nil {
		return
	}
	t := time.NewTimer(max)
	defer t.Stop()
	select {
	case <-e.done:
	case <-t.C:
	case <-s.ctx.Done():
	}
}
