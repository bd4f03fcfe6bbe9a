package vlr

import (
	"context"
	"time"

	"github.com/roamhq/roam/hlr"
)

// groupStream is one group's delivery on one session: the same promises
// as the inbox's (session.go) — pushes only after the client's GroupSync
// of that group completed, in order, no gaps, never twice — kept the same
// way: forwards that arrive out of order or not at all are repaired by a
// catch-up read of the group's stream, started by a forward beyond the
// next sequence number or by a notice of how far the stream goes.
//
// A group's entries are pushed to every synced device of every member,
// the device that sent a message included (it recognises its own by
// from_device); membership events are entries too, so a member who leaves
// or is kicked sees that event last and the stream stops there.
type groupStream struct {
	name    string
	synced  bool
	busy    bool
	next    uint64
	maxSeen uint64
	acked   uint64
	flushed uint64
	// gone: the member left, was kicked, or the group was deleted; nothing
	// more is delivered and the stream is dropped once its cursor is
	// written.
	gone bool
}

// groupLocked returns s's stream of group g, nil if the session has none.
func (s *session) groupLocked(g string) *groupStream {
	return s.groups[g]
}

// groupOffer delivers a forwarded entry of group g, as offer does for the
// inbox. It reports whether the session has the group at all.
func (s *session) groupOffer(g string, m *hlr.Message) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.groupLocked(g)
	if s.ended || st == nil || st.gone {
		return false
	}
	if m.Seq > st.maxSeen {
		st.maxSeen = m.Seq
	}
	fresh := s.actLocked()
	if st.synced && !st.busy && m.Seq >= st.next {
		if m.Seq == st.next && fresh {
			st.next++
			s.pushGroupLocked(st, m)
		} else {
			s.startGroupCatchUpLocked(st)
		}
	}
	return true
}

// groupNotice learns that group g's stream reaches head.
func (s *session) groupNotice(g string, head uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.groupLocked(g)
	if s.ended || st == nil || st.gone {
		return
	}
	if head > st.maxSeen {
		st.maxSeen = head
	}
	if st.synced && !st.busy && st.maxSeen >= st.next {
		s.startGroupCatchUpLocked(st)
	}
}

// pushGroupLocked pushes one entry and notices when it ends the member's
// stream.
func (s *session) pushGroupLocked(st *groupStream, m *hlr.Message) {
	s.c.pushGroupMessage(st.name, m)
	if endsMembership(m, s.user) {
		st.gone = true
		// Not under s.mu: the registry's lock comes first (registry.go).
		srv := s.c.srv
		srv.goFunc(func() { srv.reg.groupGone(s, st) })
	}
}

// endsMembership reports whether entry m of a group ends user's
// membership.
func endsMembership(m *hlr.Message, user string) bool {
	switch m.Kind {
	case hlr.EventLeft:
		return m.From == user
	case hlr.EventKicked:
		return m.Subject == user
	case hlr.EventDeleted:
		return true
	}
	return false
}

func (s *session) startGroupCatchUpLocked(st *groupStream) {
	st.busy = true
	s.c.srv.goFunc(func() { s.groupCatchUp(st) })
}

// groupCatchUp reads group st's stream from st.next until it has
// delivered everything the session heard of, as catchUp does for the
// inbox. Group reads are not session-bound (the group's partition does
// not hold sessions), so it waits for a fresh lease before it pushes.
func (s *session) groupCatchUp(st *groupStream) {
	srv := s.c.srv
	failures := 0
	for {
		s.mu.Lock()
		from, target, stop := st.next, st.maxSeen, s.ended || st.gone
		if stop || from > target {
			st.busy = false
			s.mu.Unlock()
			return
		}
		s.mu.Unlock()
		if err := s.awaitLease(); err != nil {
			if s.isEnded() || srv.ctx.Err() != nil {
				break
			}
			failures++
			if !sleepCtx(srv.ctx, backoff(failures)) {
				break
			}
			continue
		}
		ans, err := s.groupQuery(hlr.Query{Kind: hlr.QueryGroupInbox, Group: st.name, After: from - 1, Limit: catchUpPage, Linear: true})
		if err != nil || ans.Refused || ans.Inbox == nil {
			if srv.ctx.Err() != nil {
				break
			}
			if err == nil {
				// No longer a member (a kick we have not seen the event of):
				// nothing more is ours.
				s.mu.Lock()
				st.gone = true
				s.mu.Unlock()
				srv.reg.groupGone(s, st)
				continue
			}
			failures++
			if !sleepCtx(srv.ctx, backoff(failures)) {
				break
			}
			continue
		}
		failures = 0
		if !s.deliverGroupPage(st, ans.Inbox) && !ans.Inbox.More {
			s.mu.Lock()
			if st.maxSeen > ans.Inbox.Head {
				st.maxSeen = ans.Inbox.Head
			}
			s.mu.Unlock()
		}
	}
	s.mu.Lock()
	st.busy = false
	s.mu.Unlock()
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// deliverGroupPage pushes the page's entries that are due; it reports
// whether st.next moved.
func (s *session) deliverGroupPage(st *groupStream, in *hlr.Inbox) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended || st.gone {
		return true
	}
	start := st.next
	if in.ExpiredThrough >= st.next {
		st.next = in.ExpiredThrough + 1
	}
	for i := range in.Messages {
		m := &in.Messages[i]
		if m.Seq < st.next {
			continue
		}
		st.next = m.Seq + 1
		s.pushGroupLocked(st, m)
		if st.gone {
			break
		}
	}
	return st.next != start
}

// beginGroupSync stops pushes of group g while the client's GroupSync
// reads it, creating the session's stream of g if it has none.
func (s *session) beginGroupSync(g string) *groupStream {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.groups[g]
	if st == nil || st.gone {
		if s.groups == nil {
			s.groups = make(map[string]*groupStream)
		}
		st = &groupStream{name: g}
		s.groups[g] = st
	}
	st.busy = true
	st.synced = false
	return st
}

// endGroupSync records where the client's GroupSync stopped; pushes of g
// resume once the client has everything, and anything forwarded
// meanwhile is caught up. It reports whether the stream is synced.
func (s *session) endGroupSync(st *groupStream, next uint64, complete bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if next > st.next {
		st.next = next
	}
	st.synced = complete && !st.gone
	st.busy = false
	if st.synced && st.maxSeen >= st.next && !s.ended {
		s.startGroupCatchUpLocked(st)
	}
	return st.synced && !s.ended
}

// dropGroup forgets the session's stream of g (a refused read: not a
// member).
func (s *session) dropGroup(g string) {
	s.mu.Lock()
	st := s.groups[g]
	if st != nil {
		st.gone = true
	}
	s.mu.Unlock()
	if st != nil {
		s.c.srv.reg.groupGone(s, st)
	}
}

// groupAck records the client's cursor in g; it reports whether it moved.
func (s *session) groupAck(g string, seq uint64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.groups[g]
	if st == nil {
		return false
	}
	if st.next > 0 && seq >= st.next {
		seq = st.next - 1
	}
	if seq <= st.acked {
		return false
	}
	st.acked = seq
	return true
}

// groupCursor is a group cursor to write.
type groupCursor struct {
	group string
	seq   uint64
}

// groupCursorsToFlush returns the group cursors that moved since they
// were last written.
func (s *session) groupCursorsToFlush() []groupCursor {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []groupCursor
	for _, st := range s.groups {
		if st.acked > st.flushed {
			out = append(out, groupCursor{st.name, st.acked})
		}
	}
	return out
}

func (s *session) markGroupFlushed(g string, seq uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if st := s.groups[g]; st != nil && seq > st.flushed {
		st.flushed = seq
	}
}

// syncedGroups lists the groups whose pushes flow on the session.
func (s *session) syncedGroups() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for g, st := range s.groups {
		if st.synced && !st.gone {
			out = append(out, g)
		}
	}
	return out
}

// groupQuery reads a group as the session's user.
func (s *session) groupQuery(q hlr.Query) (*hlr.Answer, error) {
	srv := s.c.srv
	q.User, q.Device = s.user, s.device
	ctx, cancel := context.WithTimeout(srv.ctx, srv.cfg.RequestTimeout)
	defer cancel()
	return srv.home.Query(ctx, q)
}
