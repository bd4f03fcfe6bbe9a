package vlr

import (
	"errors"
	"strconv"
	"time"

	"github.com/roamhq/roam/hlr"
	"github.com/roamhq/roam/wire"
)

// Scheduled messages (PROTOCOL.md §17). The records live in the caller's
// home partition (hlr/schedule.go); the node's scheduler fires them.

// ScheduleConfig bounds scheduled messages. The bounds travel in each
// command, so the home register applies those of the node the request
// came through.
type ScheduleConfig struct {
	// MinAhead and MaxAhead bound how far ahead a fire time may be.
	MinAhead time.Duration
	MaxAhead time.Duration
	// PerConversation bounds the pending schedules of one user to one
	// friend or group; PerUser all of one user's.
	PerConversation int
	PerUser         int
}

// DefaultScheduleConfig returns the defaults: 10 s to 366 days ahead,
// 100 per conversation, 1,000 per user.
func DefaultScheduleConfig() ScheduleConfig {
	return ScheduleConfig{
		MinAhead: hlr.DefaultSchedMinAheadMS * time.Millisecond, MaxAhead: hlr.DefaultSchedMaxAheadMS * time.Millisecond,
		PerConversation: hlr.DefaultSchedPerConv, PerUser: hlr.DefaultSchedPerUser,
	}
}

func (c ScheduleConfig) validate() error {
	if c.MinAhead < time.Second || c.MaxAhead <= c.MinAhead || c.PerConversation < 1 || c.PerUser < c.PerConversation {
		return errors.New("vlr: Schedule: MinAhead must be at least 1s and below MaxAhead, PerConversation positive and PerUser at least PerConversation")
	}
	return nil
}

// limits are the bounds a command carries to the home register, which
// checks the fire time against its entry's clock (after a create's dedup
// check, so that a retry gets what the first attempt made). A time given
// as in_ms (relative) was checked here already, at the request's receipt
// (fireTime): for it (relative set) the home register allows half of
// MinAhead for the request's transit, since its clock is later by that
// (otherwise in_ms = MinAhead itself was refused now and then). A time
// given as at_ms is checked there only, exactly.
func (c ScheduleConfig) limits(relative bool) *hlr.SchedLimits {
	min := c.MinAhead.Milliseconds()
	if relative {
		min /= 2
	}
	return &hlr.SchedLimits{MinAheadMS: min, MaxAheadMS: c.MaxAhead.Milliseconds(),
		PerConv: c.PerConversation, PerUser: c.PerUser}
}

// schedStatusErr maps a schedule command's refusal to the client's code.
func schedStatusErr(st hlr.Status) error {
	switch st {
	case hlr.StatusOK:
		return nil
	case hlr.StatusTooSoon:
		return refuse(wire.CodeSchedTooSoon)
	case hlr.StatusTooFar:
		return refuse(wire.CodeSchedTooFar)
	case hlr.StatusConvFull:
		return refuse(wire.CodeSchedConvFull)
	case hlr.StatusUserFull:
		return refuse(wire.CodeSchedUserFull)
	case hlr.StatusNotFound:
		return refuse(wire.CodeSchedNotFound)
	case hlr.StatusNotPending:
		return refuse(wire.CodeSchedNotPending)
	case hlr.StatusInvalid:
		return refuse(wire.CodeBadRequest)
	}
	return refuse(wire.CodeRefused)
}

// WireScheduled converts a schedule for the client.
func WireScheduled(s *hlr.Schedule) wire.Scheduled {
	return wire.Scheduled{
		ID: s.ID, To: s.To, Group: s.Group, Body: s.Body, FireMS: s.FireMS, CreatedMS: s.CreatedMS,
		State: s.State, Reason: s.Reason, MsgID: s.MsgID, Seq: s.Seq, DoneMS: s.DoneMS, Version: s.Version,
	}
}

// fireTime resolves a request's at_ms / in_ms (at_ms wins; 0: neither
// was given) and says whether it came as in_ms. An in_ms is checked here,
// at the request's receipt (schedule_too_soon, schedule_too_far), before
// it is added to the clock (a huge one would overflow); a retry carries
// the same in_ms, so this refuses only what no attempt could have made.
func (c *conn) fireTime(atMS, inMS int64) (at int64, relative bool, err error) {
	if atMS != 0 || inMS == 0 {
		return atMS, false, nil
	}
	lim := c.srv.cfg.Schedule
	switch {
	case inMS < lim.MinAhead.Milliseconds():
		return 0, false, refuse(wire.CodeSchedTooSoon)
	case inMS > lim.MaxAhead.Milliseconds():
		return 0, false, refuse(wire.CodeSchedTooFar)
	}
	return c.srv.cfg.Now().UnixMilli() + inMS, true, nil
}

func (c *conn) schedule(m *wire.Schedule) (wire.Type, any, error) {
	s := c.sess
	cfg := &c.srv.cfg
	if len(m.Body) > cfg.MaxBody {
		return 0, nil, refusef(wire.CodeTooLarge, "message body is limited to "+strconv.Itoa(cfg.MaxBody)+" bytes")
	}
	if len(m.Body) == 0 || m.CMID == 0 || (m.To == "") == (m.Group == "") || m.AtMS == 0 && m.InMS == 0 {
		return 0, nil, refusef(wire.CodeBadRequest, "a scheduled message needs a body, a non-zero cmid, one of to and group, and a time")
	}
	ttl := time.Duration(m.TTLMS) * time.Millisecond
	if ttl == 0 {
		ttl = cfg.MessageTTL
	}
	if ttl < time.Second || ttl > cfg.MessageTTL {
		return 0, nil, refusef(wire.CodeBadTTL, "ttl_ms must be between 1000 and "+strconv.FormatInt(cfg.MessageTTL.Milliseconds(), 10))
	}
	at, relative, err := c.fireTime(m.AtMS, m.InMS)
	if err != nil {
		return 0, nil, err
	}
	cmd := hlr.Cmd{Op: hlr.OpSchedCreate, User: s.user, Device: s.device, CMID: m.CMID, Body: m.Body,
		TTLMS: ttl.Milliseconds(), AtMS: at, Sched: cfg.Schedule.limits(relative)}
	if m.To != "" {
		to, ok := canonicalName(m.To)
		if !ok {
			return 0, nil, refuse(wire.CodeRefused)
		}
		cmd.Peer = to
	} else {
		g, err := groupName(m.Group)
		if err != nil {
			return 0, nil, err
		}
		cmd.Peer = hlr.GroupKey(g) // the create applies in the sender's partition
	}
	// Scheduling reserves a send: the sender's send rate pays for it now.
	if err := c.takeSchedWrite(); err != nil {
		return 0, nil, err
	}
	if err := s.awaitLease(); err != nil {
		return 0, nil, err
	}
	return c.schedExec(cmd)
}

// takeSchedWrite charges a schedule command (each a Raft write) to the
// caller's send rate.
func (c *conn) takeSchedWrite() error {
	if ok, wait := c.srv.limits.send.take(c.sess.user, c.srv.cfg.Now()); !ok {
		return &reqError{code: wire.CodeRateLimited, msg: "sending too fast", retry: wait}
	}
	return nil
}

// schedExec runs a schedule command in the caller's partition.
func (c *conn) schedExec(cmd hlr.Cmd) (wire.Type, any, error) {
	res, err := c.exec(cmd)
	if err != nil {
		return 0, nil, err
	}
	if err := schedStatusErr(res.Status); err != nil {
		return 0, nil, err
	}
	if res.Sched == nil && cmd.Op == hlr.OpSchedCancel {
		// An earlier attempt of this cancel removed it (node/router.go
		// settles the retry as ok).
		return wire.TScheduled, &wire.Scheduled{ID: cmd.ID, State: hlr.SchedCancelled}, nil
	}
	if res.Sched == nil {
		return 0, nil, refuse(wire.CodeSchedNotFound)
	}
	out := WireScheduled(res.Sched)
	out.Dup = res.Dup
	return wire.TScheduled, &out, nil
}

func (c *conn) scheduleList(r *wire.ScheduleList) (wire.Type, any, error) {
	ans, err := c.query(hlr.Query{Kind: hlr.QuerySchedules, User: c.sess.user, AfterMS: r.AfterMS, After: r.AfterID,
		Limit: int(r.Limit), Linear: true})
	if err != nil {
		return 0, nil, err
	}
	out := &wire.ScheduleListReply{Items: make([]wire.Scheduled, 0, len(ans.Schedules)), More: ans.More}
	size := 64
	for i := range ans.Schedules {
		w := WireScheduled(&ans.Schedules[i])
		size += len(w.Body) + len(w.To) + len(w.Group) + 160
		if size > c.outMax && len(out.Items) > 0 {
			out.More = true
			break
		}
		out.Items = append(out.Items, w)
	}
	return wire.TScheduleListReply, out, nil
}

func (c *conn) scheduleGet(r *wire.ScheduleRef) (wire.Type, any, error) {
	ans, err := c.query(hlr.Query{Kind: hlr.QuerySchedule, User: c.sess.user, After: r.ID, Linear: true})
	if err != nil {
		return 0, nil, err
	}
	if ans.Schedule == nil {
		return 0, nil, refuse(wire.CodeSchedNotFound)
	}
	out := WireScheduled(ans.Schedule)
	return wire.TScheduled, &out, nil
}

func (c *conn) scheduleEdit(r *wire.ScheduleEdit) (wire.Type, any, error) {
	if len(r.Body) > c.srv.cfg.MaxBody {
		return 0, nil, refusef(wire.CodeTooLarge, "message body is limited to "+strconv.Itoa(c.srv.cfg.MaxBody)+" bytes")
	}
	body := r.Body
	if len(body) == 0 {
		body = nil // empty is the same as absent (§1.3)
	}
	if body == nil && r.AtMS == 0 && r.InMS == 0 {
		return 0, nil, refusef(wire.CodeBadRequest, "an edit needs a body or a time")
	}
	at, relative, err := c.fireTime(r.AtMS, r.InMS)
	if err != nil {
		return 0, nil, err
	}
	if err := c.takeSchedWrite(); err != nil {
		return 0, nil, err
	}
	return c.schedExec(hlr.Cmd{Op: hlr.OpSchedEdit, User: c.sess.user, Device: c.sess.device, ID: r.ID,
		Body: body, AtMS: at, Sched: c.srv.cfg.Schedule.limits(relative)})
}

func (c *conn) scheduleRef(t wire.Type, r *wire.ScheduleRef) (wire.Type, any, error) {
	op := hlr.OpSchedCancel
	if t == wire.TScheduleNow {
		op = hlr.OpSchedNow
	}
	if err := c.takeSchedWrite(); err != nil {
		return 0, nil, err
	}
	return c.schedExec(hlr.Cmd{Op: op, User: c.sess.user, Device: c.sess.device, ID: r.ID})
}

// PushSchedule tells user's sessions at locs (on this node) that one of
// their scheduled messages changed.
func (s *Server) PushSchedule(user string, locs []hlr.Location, event string, sc *hlr.Schedule) {
	ev := &wire.ScheduleEvent{Event: event, Item: WireScheduled(sc)}
	for _, sess := range s.reg.sessionsAt(user, locs, s.cfg.NodeID) {
		sess.pushSchedule(ev)
	}
}

// pushSchedule pushes a schedule event, or holds it while the lease is
// stale (as friend events are; beyond maxHeldEvents they are dropped, and
// the client lists its schedules again when it logs in).
func (s *session) pushSchedule(ev *wire.ScheduleEvent) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended {
		return
	}
	if s.actLocked() && s.held.empty() {
		s.c.push(wire.TScheduleEvent, ev)
		return
	}
	if len(s.held.scheds) < maxHeldEvents {
		s.held.scheds = append(s.held.scheds, ev)
	}
}
