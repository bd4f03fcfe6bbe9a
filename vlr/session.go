package vlr

import (
	"context"
	"sync"
	"time"

	"github.com/roamhq/roam/hlr"
	"github.com/roamhq/roam/wire"
)

// session is one logged-in device on one connection.
//
// Delivery keeps three promises per device: pushes start only after the
// client's first Sync (so the client never sees a message before the ones
// it has not synced yet), sequence numbers reach the client in order with
// no gap, and no sequence number is pushed twice on a session. Forwards
// that arrive out of order, or not at all, are repaired by a catch-up read
// of the inbox: a forward beyond the next sequence number, or a Notice
// from the partition leader saying how far the stream goes, starts one,
// and it reads until it has delivered everything the session has heard
// of, however long the home register takes to answer, for as long as the
// session lives. What the session has heard of (maxSeen) is therefore what
// it has taken responsibility for, and what it acknowledges to the leader
// (DeliveryAck).
//
// The session acts — is pushed anything, or sends — only while its lease
// is fresh (lease.go). A forward that finds the lease stale starts a
// catch-up instead of a push: the catch-up's inbox read is session-bound,
// so the leader checks the session before it answers, and the answer
// renews the lease. Presence and friend events that find it stale wait in
// held until a renewal answers.
type session struct {
	c       *conn
	user    string
	device  string
	epoch   uint64
	credGen uint64 // credential generation of the login (0: unknown)
	token   []byte // SHA-256 of the current session token
	auth    string // "scram" or "resume"
	authAt  time.Time
	since   time.Time
	u       *localUser // owned by registry.mu

	mu      sync.Mutex
	synced  bool   // the client has synced; pushes may flow
	busy    bool   // a sync or catch-up is reading the inbox
	next    uint64 // next sequence number to deliver
	maxSeen uint64 // highest sequence number forwarded or noticed to us
	acked   uint64 // highest sequence number the client acknowledged
	flushed uint64 // highest cursor written to the home register
	ended   bool
	revoked string // why the session was revoked, if it was
	lease   lease
	held    heldPushes
	groups  map[string]*groupStream // by group name (group_stream.go)
	role    pickedRole              // the role the session picked (conn_roles.go)
	seat    *seat                   // the scene the session is in, if any (scene.go)
}

// heldPushes are presence changes and friend events that arrived while
// the lease was stale, pushed in order once it is renewed and dropped if
// the session is revoked. Presence keeps the last status per user; at
// most maxHeldEvents friend events are kept (a client that misses one
// sees the change in its next friend list).
type heldPushes struct {
	order    []string          // users in presence, in arrival order
	presence map[string]string // user → status
	events   []friendEvent
	scheds   []*wire.ScheduleEvent // conn_schedule.go
}

type friendEvent struct{ event, peer string }

const maxHeldEvents = 64

func (h *heldPushes) empty() bool {
	return len(h.order) == 0 && len(h.events) == 0 && len(h.scheds) == 0
}

// now is the server's clock.
func (s *session) now() time.Time { return s.c.srv.cfg.Now() }

// actLocked consults the lease before the session acts, queueing a
// renewal when one is due; it reports whether the lease is fresh.
func (s *session) actLocked() bool {
	fresh, renew := s.lease.act(s.now(), s.c.srv.cfg.Lease.TTL)
	if renew {
		s.c.srv.renew.add(s)
	}
	return fresh
}

// offer delivers a forwarded message if it is the next one and the lease
// is fresh; a message from the future, or a stale lease, starts a
// catch-up read; a message from the past is dropped. It returns the
// acknowledgement for the leader.
func (s *session) offer(m *hlr.Message) DeliveryAck {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return s.goneAck()
	}
	if m.Seq > s.maxSeen {
		s.maxSeen = m.Seq
	}
	fresh := s.actLocked()
	if s.synced && !s.busy && m.Seq >= s.next {
		if m.Seq == s.next && fresh {
			s.next++
			s.c.srv.counts.pushed(m, true)
			s.c.pushMessage(0, m)
		} else {
			s.startCatchUpLocked()
		}
	}
	return s.ackLocked()
}

// notice learns from the partition leader that the stream reaches head,
// and catches up if that is beyond what the session has delivered.
func (s *session) notice(head uint64) DeliveryAck {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return s.goneAck()
	}
	if head > s.maxSeen {
		s.maxSeen = head
	}
	if s.synced && !s.busy && s.maxSeen >= s.next {
		s.startCatchUpLocked()
	}
	return s.ackLocked()
}

func (s *session) ackLocked() DeliveryAck {
	return DeliveryAck{User: s.user, Device: s.device, Epoch: s.epoch, Seq: s.maxSeen}
}

func (s *session) goneAck() DeliveryAck {
	return DeliveryAck{User: s.user, Device: s.device, Epoch: s.epoch, Gone: true}
}

func (s *session) startCatchUpLocked() {
	s.busy = true
	s.c.srv.goFunc(s.catchUp)
}

// catchUpPage bounds one catch-up read.
const catchUpPage = 256

// catchUp reads the inbox from s.next until it has delivered everything
// it has heard of. It retries while the home register cannot be reached
// (backing off to a second) and stops when the session ends.
func (s *session) catchUp() {
	srv := s.c.srv
	failures := 0
	for {
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
		ans, err := s.homeQuery(hlr.Query{Kind: hlr.QueryInbox, After: from - 1, Limit: catchUpPage, Linear: true})
		if err != nil || ans.Inbox == nil {
			if srv.ctx.Err() != nil {
				break
			}
			if s.isEnded() { // revoked by the refusal
				continue
			}
			failures++
			select {
			case <-time.After(backoff(failures)):
			case <-srv.ctx.Done():
			}
			continue
		}
		failures = 0
		if !s.deliverPage(ans.Inbox) && !ans.Inbox.More {
			// The linearizable read saw every committed message, and the
			// stream ends before what the session heard of: that inbox is
			// gone (the account was deleted). Stop chasing it.
			s.mu.Lock()
			if s.maxSeen > ans.Inbox.Head {
				s.maxSeen = ans.Inbox.Head
			}
			s.mu.Unlock()
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
	if s.ended {
		return true
	}
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
		s.c.srv.counts.pushed(m, false)
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
	s.held = heldPushes{}
	s.mu.Unlock()
}

// revoke ends a session the home register no longer holds valid: its
// queued output is dropped and the client gets the goodbye for reason. It
// reports whether this call ended it.
func (s *session) revoke(reason string) bool {
	s.mu.Lock()
	if s.ended {
		s.mu.Unlock()
		return false
	}
	s.ended, s.revoked = true, reason
	s.held = heldPushes{}
	s.mu.Unlock()
	s.c.srv.log.Debug("session revoked", "user", s.user, "device", s.device, "epoch", s.epoch, "reason", reason)
	s.c.revokeWith(reasonCode(reason), "session ended: "+reason)
	return true
}

// pushPresence pushes a friend's presence, or holds it while the lease is
// stale.
func (s *session) pushPresence(user, status string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return
	}
	if s.actLocked() && s.held.empty() {
		s.c.pushPresence(user, status)
		return
	}
	h := &s.held
	if h.presence == nil {
		h.presence = make(map[string]string)
	}
	if _, ok := h.presence[user]; !ok {
		h.order = append(h.order, user)
	}
	h.presence[user] = status
}

// pushFriendEvent pushes a friend event, or holds it while the lease is
// stale.
func (s *session) pushFriendEvent(event, peer string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return
	}
	if s.actLocked() && s.held.empty() {
		s.c.pushFriendEvent(event, peer)
		return
	}
	if len(s.held.events) < maxHeldEvents {
		s.held.events = append(s.held.events, friendEvent{event, peer})
	}
}

// flushHeldLocked pushes what waited for a fresh lease, and catches up
// messages that were forwarded meanwhile.
func (s *session) flushHeldLocked() {
	h := s.held
	s.held = heldPushes{}
	for _, u := range h.order {
		s.c.pushPresence(u, h.presence[u])
	}
	for _, e := range h.events {
		s.c.pushFriendEvent(e.event, e.peer)
	}
	for _, e := range h.scheds {
		s.c.push(wire.TScheduleEvent, e)
	}
	if s.synced && !s.busy && s.maxSeen >= s.next {
		s.startCatchUpLocked()
	}
}

// homeQuery runs a session-bound read: the leader answers only while the
// session is still valid, and an answer renews the lease. A refusal
// revokes the session and returns the goodbye's code as the error; a
// leader whose records are behind the session's is unavailable for now.
func (s *session) homeQuery(q hlr.Query) (*hlr.Answer, error) {
	srv := s.c.srv
	q.User, q.Device, q.Epoch, q.Node, q.CredGen = s.user, s.device, s.epoch, srv.cfg.NodeID, s.credGen
	ctx, cancel := context.WithTimeout(srv.ctx, srv.cfg.RequestTimeout)
	defer cancel()
	sent := s.now()
	ans, err := srv.home.Query(ctx, q)
	if err != nil {
		return nil, err
	}
	switch ans.Revoked {
	case "":
		s.granted(sent)
		return ans, nil
	case hlr.NotYet:
		return nil, refusef(wire.CodeUnavailable, "the home register has not caught up with the session yet; try again")
	}
	s.revoke(ans.Revoked)
	return nil, refusef(reasonCode(ans.Revoked), "session ended: "+ans.Revoked)
}

func (s *session) isEnded() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.ended
}

// granted records a validated contact sent at sentAt, and pushes what
// waited for it.
func (s *session) granted(sentAt time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lease.grant(sentAt)
	if !s.ended && !s.held.empty() && s.lease.fresh(s.now(), s.c.srv.cfg.Lease.TTL) {
		s.flushHeldLocked()
	}
}

// renewed ends a renewal (the renewer's answer): reason "" grants the
// lease from sentAt, a revocation reason revokes, and ok false (the home
// register could not be reached, or was behind) leaves the lease as it was.
func (s *session) renewed(ok bool, reason string, sentAt time.Time) {
	if ok && reason != "" {
		s.revoke(reason)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if ok && reason == "" {
		s.lease.grant(sentAt)
	}
	s.lease.renewed(ok && reason == "", s.now(), s.c.srv.cfg.Lease.RetryAfter)
	switch {
	case s.ended:
	case s.lease.fresh(s.now(), s.c.srv.cfg.Lease.TTL):
		if !s.held.empty() || s.synced && !s.busy && s.maxSeen >= s.next {
			s.flushHeldLocked()
		}
	case !s.held.empty():
		// Pushes are waiting and nobody may act to renew again: retry.
		s.c.srv.renew.later(s)
	}
}

// retryRenewal queues the renewal of a session whose held pushes wait
// for a renewal that failed (the renewer calls it after RetryAfter).
func (s *session) retryRenewal() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.ended && !s.held.empty() && !s.lease.fresh(s.now(), s.c.srv.cfg.Lease.TTL) && s.lease.stale(s.now(), 0) {
		s.c.srv.renew.add(s)
	}
}

// awaitLease returns when the session may act: at once while its lease is
// fresh, otherwise once a renewal answers. A revoked session gets its
// goodbye's code; a home register that cannot be reached in time,
// unavailable (the session holds: it is neither ended nor allowed to act).
func (s *session) awaitLease() error {
	s.mu.Lock()
	if err := s.endedErrLocked(); err != nil {
		s.mu.Unlock()
		return err
	}
	fresh := s.actLocked()
	wait := s.lease.wait()
	s.mu.Unlock()
	if fresh {
		return nil
	}
	if wait == nil {
		// The last renewal failed moments ago: fail fast until RetryAfter.
		return refusef(wire.CodeUnavailable, "the home register could not confirm the session; try again")
	}
	t := time.NewTimer(s.c.srv.cfg.RequestTimeout)
	defer t.Stop()
	select {
	case <-wait:
	case <-t.C:
	case <-s.c.srv.ctx.Done():
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.endedErrLocked(); err != nil {
		return err
	}
	if s.lease.fresh(s.now(), s.c.srv.cfg.Lease.TTL) {
		return nil
	}
	return refusef(wire.CodeUnavailable, "the home register could not confirm the session; try again")
}

func (s *session) endedErrLocked() error {
	if !s.ended {
		return nil
	}
	if s.revoked != "" {
		return refusef(reasonCode(s.revoked), "session ended: "+s.revoked)
	}
	return refusef(wire.CodeUnavailable, "the session is ending")
}

// idleCheck renews, in the background, the lease of a session that only
// heartbeats, once it is older than IdleRecheck: a revoked session whose
// Cancel Location was lost ends even if it never acts.
func (s *session) idleCheck() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.ended && s.lease.stale(s.now(), s.c.srv.cfg.Lease.IdleRecheck) {
		s.c.srv.renew.add(s)
	}
}

func backoff(attempt int) time.Duration {
	return min(20*time.Millisecond<<min(attempt, 6), time.Second)
}
