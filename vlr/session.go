package vlr

import (
	"context"
	"sync"
	"time"

	"github.com/roamhq/roam/hlr"
)

// session is one logged-in device on one connection.
//
// Delivery keeps three promises per device: pushes start only after the
// client's first Sync (so the client never sees a message before the ones
// it has not synced yet), sequence numbers reach the client in order with
// no gap, and no sequence number is pushed twice on a session. Forwards
// that arrive out of order, or not at all, are repaired by a catch-up read
// of the inbox.
type session struct {
	c      *conn
	user   string
	device string
	epoch  uint64
	token  []byte // SHA-256 of the current session token
	auth   string // "scram" or "resume"
	authAt time.Time
	since  time.Time
	u      *localUser // owned by registry.mu

	mu      sync.Mutex
	synced  bool   // the client has synced; pushes may flow
	busy    bool   // a sync or catch-up is reading the inbox
	next    uint64 // next sequence number to deliver
	maxSeen uint64 // highest sequence number forwarded to us
	acked   uint64 // highest sequence number the client acknowledged
	flushed uint64 // highest cursor written to the home register
	ended   bool
}

// offer delivers a forwarded message if it is the next one; a message from
// the future starts a catch-up read, a message from the past is dropped.
func (s *session) offer(m *hlr.Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return
	}
	if m.Seq > s.maxSeen {
		s.maxSeen = m.Seq
	}
	if !s.synced || s.busy || m.Seq < s.next {
		return
	}
	if m.Seq == s.next {
		s.next++
		s.c.pushMessage(0, m)
		return
	}
	s.startCatchUpLocked()
}

func (s *session) startCatchUpLocked() {
	s.busy = true
	s.c.srv.goFunc(s.catchUp)
}

// catchUp reads the inbox from s.next until it has delivered everything it
// has heard of.
func (s *session) catchUp() {
	srv := s.c.srv
	for attempt := 0; ; attempt++ {
		s.mu.Lock()
		from, target, ended := s.next, s.maxSeen, s.ended
		if ended || from > target {
			// Checked and cleared under one lock: a forward that arrives
			// after this sees busy == false and is delivered by offer.
			s.busy = false
			s.mu.Unlock()
			return
		}
		s.mu.Unlock()
		ctx, cancel := context.WithTimeout(srv.ctx, srv.cfg.RequestTimeout)
		ans, err := srv.home.Query(ctx, hlr.Query{Kind: hlr.QueryInbox, User: s.user, After: from - 1, Limit: 256, Linear: true})
		cancel()
		if err != nil || ans.Inbox == nil {
			if srv.ctx.Err() != nil || attempt >= 20 {
				break // give up; the client resyncs from its cursor later
			}
			select {
			case <-time.After(backoff(attempt)):
			case <-srv.ctx.Done():
			}
			continue
		}
		progressed := s.deliverPage(ans.Inbox)
		if !progressed && !ans.Inbox.More {
			// Nothing newer is visible yet at the leader (a forward can
			// race ahead of a leader change); try again shortly.
			if attempt >= 20 {
				break
			}
			select {
			case <-time.After(backoff(attempt)):
			case <-srv.ctx.Done():
			}
		}
	}
	s.mu.Lock()
	s.busy = false
	s.mu.Unlock()
}

// deliverPage pushes the page's messages that are due; it reports whether
// s.next moved.
func (s *session) deliverPage(in *hlr.Inbox) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	start := s.next
	if in.ExpiredThrough >= s.next {
		s.next = in.ExpiredThrough + 1
	}
	for i := range in.Messages {
		m := &in.Messages[i]
		if m.Seq < s.next {
			continue
		}
		s.next = m.Seq + 1
		s.c.pushMessage(0, m)
	}
	return s.next != start
}

// beginSync stops pushes while the client's Sync reads the inbox.
func (s *session) beginSync() {
	s.mu.Lock()
	s.busy = true
	s.synced = false
	s.mu.Unlock()
}

// endSync records where the client's Sync stopped; pushes resume if the
// client has everything (complete), and anything forwarded meanwhile is
// caught up.
func (s *session) endSync(next uint64, complete bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.next = next
	s.synced = complete
	s.busy = false
	if complete && s.maxSeen >= s.next && !s.ended {
		s.startCatchUpLocked()
	}
}

// ack records the client's cursor; it returns true if the cursor moved.
func (s *session) ack(seq uint64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.next > 0 && seq >= s.next {
		seq = s.next - 1 // never past what was delivered
	}
	if seq <= s.acked {
		return false
	}
	s.acked = seq
	return true
}

// cursorToFlush returns the cursor to write, if it moved since last time.
func (s *session) cursorToFlush() (uint64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.acked, s.acked > s.flushed
}

func (s *session) markFlushed(seq uint64) {
	s.mu.Lock()
	if seq > s.flushed {
		s.flushed = seq
	}
	s.mu.Unlock()
}

// end stops all deliveries to the session.
func (s *session) end() {
	s.mu.Lock()
	s.ended = true
	s.mu.Unlock()
}

func (s *session) pushPresence(user, status string) {
	s.c.pushPresence(user, status)
}

func backoff(attempt int) time.Duration {
	d := 20 * time.Millisecond << min(attempt, 5)
	return d
}
