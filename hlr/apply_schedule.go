package hlr

import "encoding/binary"

// The commands of scheduled messages (schedule.go). All of them apply in
// the sender's partition and decide with the entry's clock t.now.

func applySchedOp(t *txn, c *Cmd) (Result, error) {
	if c.User == "" {
		return Result{Status: StatusInvalid}, nil
	}
	switch c.Op {
	case OpSchedCreate:
		return applySchedCreate(t, c)
	case OpSchedEdit:
		return applySchedEdit(t, c)
	case OpSchedCancel:
		return applySchedCancel(t, c)
	case OpSchedNow:
		return applySchedNow(t, c)
	case OpSchedFire:
		return applySchedFire(t, c)
	case OpSchedDone:
		return applySchedDone(t, c)
	}
	return Result{Status: StatusInvalid}, nil
}

func (t *txn) schedule(user string, id uint64) (*Schedule, error) {
	var s Schedule
	ok, err := t.getRec(schedKey(user, id), &s)
	if err != nil || !ok {
		return nil, err
	}
	return &s, nil
}

func (t *txn) counter(sub []byte) (int, error) {
	v, ok, err := t.get(sub)
	if err != nil || !ok || len(v) != 8 {
		return 0, err
	}
	return int(binary.BigEndian.Uint64(v)), nil
}

// addCount adds delta to the counter under sub, removing it at zero.
func (t *txn) addCount(sub []byte, delta int) error {
	n, err := t.counter(sub)
	if err != nil {
		return err
	}
	n += delta
	if n <= 0 {
		return t.del(sub)
	}
	return t.set(sub, binary.BigEndian.AppendUint64(nil, uint64(n)))
}

// countPending adds delta to the pending counts of s's sender.
func (t *txn) countPending(s *Schedule, delta int) error {
	if err := t.addCount(schedConvKey(s.User, s.Conv()), delta); err != nil {
		return err
	}
	return t.addCount(schedUserKey(s.User), delta)
}

// checkFireTime judges a requested fire time against the limits.
func checkFireTime(now, at int64, l SchedLimits) Status {
	switch {
	case at < now+l.MinAheadMS:
		return StatusTooSoon
	case at > now+l.MaxAheadMS:
		return StatusTooFar
	}
	return StatusOK
}

// putSchedule writes s and its index entries; old, if not nil, is the
// stored version whose index entries it replaces.
func (t *txn) putSchedule(s, old *Schedule) error {
	if old != nil {
		if old.actionMS() != s.actionMS() {
			if err := t.del(schedActionKey(old.actionMS(), old.User, old.ID)); err != nil {
				return err
			}
		}
		if old.FireMS != s.FireMS {
			if err := t.del(schedListKey(old.User, old.FireMS, old.ID)); err != nil {
				return err
			}
		}
	}
	if err := t.set(schedActionKey(s.actionMS(), s.User, s.ID), nil); err != nil {
		return err
	}
	if err := t.set(schedListKey(s.User, s.FireMS, s.ID), nil); err != nil {
		return err
	}
	return t.setRec(schedKey(s.User, s.ID), s)
}

// removeSchedule deletes s and everything that points at it.
func (t *txn) removeSchedule(s *Schedule) error {
	for _, k := range [][]byte{
		schedActionKey(s.actionMS(), s.User, s.ID), schedListKey(s.User, s.FireMS, s.ID),
		schedDedupKey(s.User, s.Device, s.CMID), schedKey(s.User, s.ID),
	} {
		if err := t.del(k); err != nil {
			return err
		}
	}
	return nil
}

// schedResult answers with s and pushes event to the sender's devices
// other than skip.
func (t *txn) schedResult(s *Schedule, event, skip string) (Result, error) {
	cp := *s
	r := Result{Sched: &cp}
	locs, err := attachedLocations(&t.state, s.User)
	if err != nil {
		return Result{}, err
	}
	others := locs[:0]
	for _, l := range locs {
		if l.Device != skip {
			others = append(others, l)
		}
	}
	if len(others) > 0 {
		r.Effects = append(r.Effects, ScheduleEffect{User: s.User, Locs: others, Sched: &cp, Event: event})
	}
	return r, nil
}

// applySchedCreate stores a new pending schedule. It passes the checks of
// a send that the sender's partition can make (the sender's side of the
// friendship, the sender's index of its groups); the send itself checks
// again at fire time. A retry of the same create (Device, CMID) answers
// with the schedule it made.
func applySchedCreate(t *txn, c *Cmd) (Result, error) {
	to, group := c.Peer, ""
	if IsGroupKey(c.Peer) {
		to, group = "", c.Peer[len(GroupKeyPrefix):]
	}
	if c.Peer == "" || c.Group != "" || c.Body == nil {
		return Result{Status: StatusInvalid}, nil
	}
	raw, ok, err := t.get(schedDedupKey(c.User, c.Device, c.CMID))
	if err != nil {
		return Result{}, err
	}
	if ok && len(raw) == 8 {
		s, err := t.schedule(c.User, binary.BigEndian.Uint64(raw))
		if err != nil || s == nil {
			return Result{Status: StatusNotFound}, err
		}
		return Result{Sched: s, Dup: true}, nil
	}
	a, err := t.account(c.User)
	if err != nil || a == nil {
		return Result{Status: StatusRefused}, err
	}
	if to != "" {
		st, err := t.edge(c.User, to)
		if err != nil {
			return Result{}, err
		}
		if st != EdgeFriend {
			return Result{Status: StatusRefused}, nil
		}
	} else {
		var ug UserGroup
		ok, err := t.getRec(userGroupKey(c.User, group), &ug)
		if err != nil {
			return Result{}, err
		}
		if !ok || ug.Invited || ug.Left {
			return Result{Status: StatusRefused}, nil
		}
	}
	lim := c.Sched.withDefaults()
	if st := checkFireTime(t.now, c.AtMS, lim); st != StatusOK {
		return Result{Status: st}, nil
	}
	s := &Schedule{
		User: c.User, To: to, Group: group, Body: c.Body, TTLMS: c.TTLMS,
		FireMS: c.AtMS, CreatedMS: t.now, State: SchedPending, Version: 1,
		Device: c.Device, CMID: c.CMID,
	}
	n, err := t.counter(schedConvKey(c.User, s.Conv()))
	if err != nil {
		return Result{}, err
	}
	if n >= lim.PerConv {
		return Result{Status: StatusConvFull}, nil
	}
	if n, err = t.counter(schedUserKey(c.User)); err != nil {
		return Result{}, err
	}
	if n >= lim.PerUser {
		return Result{Status: StatusUserFull}, nil
	}
	t.meta.NextSched++
	s.ID = uint64(t.pid)<<msgIDBits | (t.meta.NextSched & (1<<msgIDBits - 1))
	if err := t.putSchedule(s, nil); err != nil {
		return Result{}, err
	}
	if err := t.countPending(s, 1); err != nil {
		return Result{}, err
	}
	if err := t.set(schedDedupKey(c.User, c.Device, c.CMID), binary.BigEndian.AppendUint64(nil, s.ID)); err != nil {
		return Result{}, err
	}
	r, err := t.schedResult(s, SchedEventCreated, c.Device)
	r.Effects = append(r.Effects, ScheduleArmEffect{AtMS: s.FireMS})
	return r, err
}

// pendingSchedule reads schedule c.ID of c.User for a change that only a
// pending schedule takes; st is not OK when there is none.
func (t *txn) pendingSchedule(c *Cmd) (*Schedule, Status, error) {
	s, err := t.schedule(c.User, c.ID)
	switch {
	case err != nil:
		return nil, StatusOK, err
	case s == nil:
		return nil, StatusNotFound, nil
	case s.State != SchedPending:
		return s, StatusNotPending, nil
	}
	return s, StatusOK, nil
}

// applySchedEdit changes a pending schedule's body (Body not nil) and
// fire time (AtMS not 0, checked as at a create).
func applySchedEdit(t *txn, c *Cmd) (Result, error) {
	old, st, err := t.pendingSchedule(c)
	if err != nil || st != StatusOK {
		return Result{Status: st}, err
	}
	s := *old
	if c.Body != nil {
		s.Body = c.Body
	}
	if c.AtMS != 0 {
		if st := checkFireTime(t.now, c.AtMS, c.Sched.withDefaults()); st != StatusOK {
			return Result{Status: st}, nil
		}
		s.FireMS = c.AtMS
	}
	return t.rescheduled(&s, old, c.Device)
}

// rescheduled stores s, the edited copy of pending schedule old, with its
// version moved on, and arms the leader's timer for its fire time.
func (t *txn) rescheduled(s, old *Schedule, device string) (Result, error) {
	s.Version++
	if err := t.putSchedule(s, old); err != nil {
		return Result{}, err
	}
	r, err := t.schedResult(s, SchedEventEdited, device)
	r.Effects = append(r.Effects, ScheduleArmEffect{AtMS: s.FireMS})
	return r, err
}

// applySchedCancel removes a pending schedule, which then never fires, or
// forgets a finished one. A firing one cannot be cancelled (its send may
// have happened). The leader forgets finished schedules once kept long
// enough, with Reason "forget", which removes nothing else.
func applySchedCancel(t *txn, c *Cmd) (Result, error) {
	s, err := t.schedule(c.User, c.ID)
	if err != nil || s == nil {
		return Result{Status: StatusNotFound}, err
	}
	if c.Reason == "forget" {
		if !s.Done() || s.actionMS() > t.now {
			return Result{Status: StatusNotPending}, nil
		}
		return Result{}, t.removeSchedule(s)
	}
	switch {
	case s.State == SchedFiring:
		return Result{Status: StatusNotPending}, nil
	case s.State == SchedPending:
		if err := t.countPending(s, -1); err != nil {
			return Result{}, err
		}
	}
	if err := t.removeSchedule(s); err != nil {
		return Result{}, err
	}
	s.State = SchedCancelled
	s.Version++
	return t.schedResult(s, SchedCancelled, c.Device)
}

// applySchedNow moves a pending schedule's fire time to now.
func applySchedNow(t *txn, c *Cmd) (Result, error) {
	old, st, err := t.pendingSchedule(c)
	if err != nil || st != StatusOK {
		return Result{Status: st}, err
	}
	s := *old
	s.FireMS = t.now
	return t.rescheduled(&s, old, c.Device)
}

// applySchedFire claims a due schedule for its fire. A pending one
// becomes firing (the claim time in DoneMS) and is answered OK with the
// schedule to send; one firing already (its leader failed before it was
// done) is answered OK again, and the send repeated is deduplicated. One
// later than MaxLateMS fails instead (StatusExpired): a pending one after
// its fire time, a firing one after its claim (by then the recipient's
// dedup record may have expired, and a repeated send could deliver twice).
// One not due (edited meanwhile) is answered StatusTooSoon.
func applySchedFire(t *txn, c *Cmd) (Result, error) {
	old, err := t.schedule(c.User, c.ID)
	if err != nil || old == nil {
		return Result{Status: StatusNotFound}, err
	}
	lim := c.Sched.withDefaults()
	s := *old
	switch {
	case s.State == SchedFiring:
		if t.now-s.DoneMS <= lim.MaxLateMS {
			return Result{Sched: &s}, nil
		}
	case s.State != SchedPending:
		return Result{Status: StatusNotPending, Sched: &s}, nil
	case s.FireMS > t.now:
		return Result{Status: StatusTooSoon, Sched: &s}, nil
	case t.now-s.FireMS <= lim.MaxLateMS:
		s.State = SchedFiring
		s.DoneMS = t.now
		s.Version++
		return Result{Sched: &s}, t.putSchedule(&s, old)
	}
	r, err := t.finishSchedule(old, &s, "", 0, 0, ReasonLate)
	r.Status = StatusExpired
	return r, err
}

// finishSchedule records the outcome of s (a copy of old): fired with the
// message (msgID, seq) when reason is "", else failed for reason.
func (t *txn) finishSchedule(old, s *Schedule, skip string, msgID, seq uint64, reason string) (Result, error) {
	s.State = SchedFired
	if reason != "" {
		s.State = SchedFailed
	}
	s.Reason, s.MsgID, s.Seq, s.DoneMS = reason, msgID, seq, t.now
	s.Version++
	if err := t.countPending(s, -1); err != nil {
		return Result{}, err
	}
	if err := t.putSchedule(s, old); err != nil {
		return Result{}, err
	}
	return t.schedResult(s, s.State, skip)
}

// applySchedDone records the end of a firing schedule's send: Reason ""
// when it was sent (message id in CMID, sequence number in Seq), else why
// it failed. Anything but a firing schedule is left alone.
func applySchedDone(t *txn, c *Cmd) (Result, error) {
	old, err := t.schedule(c.User, c.ID)
	if err != nil || old == nil {
		return Result{Status: StatusNotFound}, err
	}
	if old.State != SchedFiring {
		return Result{Status: StatusNotPending, Sched: old}, nil
	}
	s := *old
	return t.finishSchedule(old, &s, "", c.CMID, c.Seq, c.Reason)
}

// dropSchedules removes every schedule of user (the account is deleted).
func (t *txn) dropSchedules(user string) error {
	var actions [][]byte
	err := t.scan(skUserPrefix(skSched, user), func(_, val []byte) (bool, error) {
		var s Schedule
		if err := decodeRec(val, &s); err != nil {
			return false, err
		}
		actions = append(actions, schedActionKey(s.actionMS(), user, s.ID))
		return true, nil
	})
	if err != nil {
		return err
	}
	for _, k := range actions {
		if err := t.del(k); err != nil {
			return err
		}
	}
	for _, kind := range []byte{skSched, skSchedList, skSchedConv, skSchedDedup} {
		if err := t.delPrefix(skUserPrefix(kind, user)); err != nil {
			return err
		}
	}
	return t.del(schedUserKey(user))
}
