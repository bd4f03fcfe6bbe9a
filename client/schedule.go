package client

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/roamhq/roam/wire"
)

// Scheduled messages (PROTOCOL.md §17): a message the cluster delivers at
// a later time, to a friend or a group, once. Requests are retried like
// group requests when their outcome is unknown; a Schedule retried keeps
// its cmid, so it schedules once. Refusals are *Error values: the
// sentinels below, ErrRefused, ErrTooLarge, ErrBadTTL, ErrBadRequest,
// ErrRateLimited.

// Schedule states (Scheduled.State).
const (
	SchedPending   = "pending"
	SchedFiring    = "firing"
	SchedFired     = "fired"
	SchedFailed    = "failed"
	SchedCancelled = "cancelled"
)

// Refusals of scheduled messages.
var (
	ErrSchedTooSoon    = codeErr(wire.CodeSchedTooSoon)    // the time is too soon (under 10 s ahead)
	ErrSchedTooFar     = codeErr(wire.CodeSchedTooFar)     // the time is too far (over 366 days ahead)
	ErrSchedConvFull   = codeErr(wire.CodeSchedConvFull)   // 100 pending to this friend or group
	ErrSchedUserFull   = codeErr(wire.CodeSchedUserFull)   // 1,000 pending
	ErrSchedNotFound   = codeErr(wire.CodeSchedNotFound)   // no such id
	ErrSchedNotPending = codeErr(wire.CodeSchedNotPending) // fired, failed or firing
)

// Scheduled is one scheduled message.
type Scheduled struct {
	ID      uint64
	To      string // the friend, or
	Group   string // the group
	Body    []byte
	Fire    time.Time // when it fires
	Created time.Time
	State   string // SchedPending, SchedFiring, SchedFired, SchedFailed, SchedCancelled
	Reason  string // failed: "refused" or "late"
	MsgID   uint64 // fired: the message's id and seq
	Seq     uint64
	Done    time.Time // when it fired or failed (zero before)
	Version uint32
	Dup     bool // Schedule: a retry answered with the first request's schedule
}

func toScheduled(w *wire.Scheduled) Scheduled {
	s := Scheduled{ID: w.ID, To: w.To, Group: w.Group, Body: w.Body, Fire: time.UnixMilli(w.FireMS),
		Created: time.UnixMilli(w.CreatedMS), State: w.State, Reason: w.Reason, MsgID: w.MsgID, Seq: w.Seq,
		Version: w.Version, Dup: w.Dup}
	if w.DoneMS != 0 {
		s.Done = time.UnixMilli(w.DoneMS)
	}
	return s
}

// ScheduleAt schedules body to friend to at time at.
func (c *Client) ScheduleAt(ctx context.Context, to string, body []byte, at time.Time) (Scheduled, error) {
	return c.schedule(ctx, &wire.Schedule{To: canonicalUser(to), Body: body, AtMS: at.UnixMilli()})
}

// ScheduleIn schedules body to friend to, d from now (the server's now).
func (c *Client) ScheduleIn(ctx context.Context, to string, body []byte, d time.Duration) (Scheduled, error) {
	return c.schedule(ctx, &wire.Schedule{To: canonicalUser(to), Body: body, InMS: d.Milliseconds()})
}

// ScheduleGroupAt schedules body to a group at time at.
func (c *Client) ScheduleGroupAt(ctx context.Context, group string, body []byte, at time.Time) (Scheduled, error) {
	return c.schedule(ctx, &wire.Schedule{Group: canonicalUser(group), Body: body, AtMS: at.UnixMilli()})
}

// ScheduleGroupIn schedules body to a group, d from now.
func (c *Client) ScheduleGroupIn(ctx context.Context, group string, body []byte, d time.Duration) (Scheduled, error) {
	return c.schedule(ctx, &wire.Schedule{Group: canonicalUser(group), Body: body, InMS: d.Milliseconds()})
}

func (c *Client) schedule(ctx context.Context, req *wire.Schedule) (Scheduled, error) {
	req.CMID = c.NextCMID()
	var r wire.Scheduled
	if req.InMS != 0 {
		// The first attempt gives the time relative to the server's
		// receipt (exactly as far ahead as asked: the minimum itself is
		// accepted). A retry must mean the same time, so it gives the
		// time the first attempt meant, by this device's clock; if the
		// first attempt was made, the retry gets what it made (dup).
		at := c.now().Add(time.Duration(req.InMS) * time.Millisecond).UnixMilli()
		err := c.call(ctx, wire.TSchedule, req, wire.TScheduled, &r)
		switch {
		case err == nil:
			return toScheduled(&r), nil
		case ctx.Err() != nil || errors.Is(err, ErrClosed) || !retryable(err):
			return Scheduled{}, err
		}
		if err := c.sleep(ctx, c.backoff(0)); err != nil {
			return Scheduled{}, err
		}
		req.AtMS, req.InMS = at, 0
	}
	if err := c.groupCall(ctx, wire.TSchedule, req, wire.TScheduled, &r); err != nil {
		return Scheduled{}, err
	}
	return toScheduled(&r), nil
}

// ScheduleListPage returns one page of the caller's scheduled messages in
// fire time order after after (the last item of the previous page; nil
// for the first), and whether more follow.
func (c *Client) ScheduleListPage(ctx context.Context, after *Scheduled) ([]Scheduled, bool, error) {
	req := &wire.ScheduleList{}
	if after != nil {
		req.AfterMS, req.AfterID = after.Fire.UnixMilli(), after.ID
	}
	var r wire.ScheduleListReply
	if err := c.groupCall(ctx, wire.TScheduleList, req, wire.TScheduleListReply, &r); err != nil {
		return nil, false, err
	}
	out := make([]Scheduled, 0, len(r.Items))
	for i := range r.Items {
		out = append(out, toScheduled(&r.Items[i]))
	}
	if r.More && len(out) == 0 {
		return nil, false, fmt.Errorf("%w: schedule_list_reply with more and no item", ErrProtocol)
	}
	return out, r.More, nil
}

// ScheduleList returns all the caller's scheduled messages (pending, and
// those fired or failed in the last 7 days) in fire time order.
func (c *Client) ScheduleList(ctx context.Context) ([]Scheduled, error) {
	var all []Scheduled
	var after *Scheduled
	for {
		page, more, err := c.ScheduleListPage(ctx, after)
		if err != nil {
			return nil, err
		}
		all = append(all, page...)
		if !more {
			return all, nil
		}
		after = &page[len(page)-1]
	}
}

// ScheduleGet returns one scheduled message.
func (c *Client) ScheduleGet(ctx context.Context, id uint64) (Scheduled, error) {
	return c.scheduleCall(ctx, wire.TScheduleGet, &wire.ScheduleRef{ID: id})
}

// ScheduleEdit changes a pending scheduled message: its body if body is
// not nil, its fire time if at is not zero.
func (c *Client) ScheduleEdit(ctx context.Context, id uint64, body []byte, at time.Time) (Scheduled, error) {
	req := &wire.ScheduleEdit{ID: id, Body: body}
	if !at.IsZero() {
		req.AtMS = at.UnixMilli()
	}
	return c.scheduleCall(ctx, wire.TScheduleEdit, req)
}

// ScheduleCancel cancels a pending scheduled message: it never fires, and
// it stays listed as cancelled until the server forgets it (after 7 days,
// like a fired one). A cancel retried after a lost reply gets the
// cancelled message again. One that is being sent, was sent or failed is
// refused with ErrSchedNotPending.
func (c *Client) ScheduleCancel(ctx context.Context, id uint64) (Scheduled, error) {
	s, err := c.scheduleCall(ctx, wire.TScheduleCancel, &wire.ScheduleRef{ID: id})
	if err == nil && s.ID == 0 { // the retry of a cancel that was made
		s = Scheduled{ID: id, State: SchedCancelled}
	}
	return s, err
}

// ScheduleNow makes a pending scheduled message fire now.
func (c *Client) ScheduleNow(ctx context.Context, id uint64) (Scheduled, error) {
	return c.scheduleCall(ctx, wire.TScheduleNow, &wire.ScheduleRef{ID: id})
}

func (c *Client) scheduleCall(ctx context.Context, t wire.Type, body any) (Scheduled, error) {
	var r wire.Scheduled
	if err := c.groupCall(ctx, t, body, wire.TScheduled, &r); err != nil {
		return Scheduled{}, err
	}
	return toScheduled(&r), nil
}
