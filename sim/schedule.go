package sim

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/roamhq/roam/client"
	"github.com/roamhq/roam/wire"
)

// Scheduled messages (PROTOCOL.md §17). Every SchedEvery (on average) a
// random user schedules a message to a friend (or, a SchedGroupShare of
// them, a member by belief to one of the groups, groups.go) from one of
// its online devices, SchedMinAhead plus half a second to SchedMaxAhead ahead (a
// spawned cluster is configured with schedule_min_ahead SchedMinAhead,
// so that a short run sees many fires). Then, all through the faults, a
// share of them is changed once or twice, at a random moment up to a
// second after the fire time (so some changes race the fire and are
// refused as not pending, or forget a fired one): cancelled, edited (a
// new body version and a new fire time, earlier or later) or sent now.
// Each schedule's requests are made one at a time, from any online
// device of the sender. The body is the schedule's token and body
// version (schedcheck.go) padded with filler.
//
// The end phase (waitSchedules) reads every sender's list until none of
// the run's schedules is pending or firing, keeps what it shows
// (SchedIntent.Final), and raises the recipients' expected inbox heads to
// the fired seqs, so that the devices and the final read wait for them.

// schedPlan is what the load will do with one schedule.
type schedPlan struct {
	ahead time.Duration
	steps []schedStep
}

// schedStep is one change: kind, made after (from the previous
// request's end); ahead is an edit's new fire time from its start.
type schedStep struct {
	kind  string
	after time.Duration
	ahead time.Duration
}

func (r *runner) schedAhead(rng *rand.Rand) time.Duration {
	lo := r.cfg.SchedMinAhead + 500*time.Millisecond
	if r.cfg.SchedMaxAhead <= lo {
		return lo
	}
	return lo + time.Duration(rng.Int64N(int64(r.cfg.SchedMaxAhead-lo)))
}

// drawSchedPlan draws a schedule's plan: no change (40%), a cancel (20%),
// an edit (25%; a third of them followed by a cancel or a now) or a now
// (15%).
func (r *runner) drawSchedPlan(rng *rand.Rand) schedPlan {
	p := schedPlan{ahead: r.schedAhead(rng)}
	fire := p.ahead
	step := func(kind string) {
		s := schedStep{kind: kind, after: time.Duration(rng.Int64N(int64(fire + time.Second)))}
		if kind == SchedEdit {
			s.ahead = r.schedAhead(rng)
			fire = s.ahead
		} else {
			fire = max(fire-s.after, 0)
		}
		p.steps = append(p.steps, s)
	}
	switch x := rng.IntN(100); {
	case x < 40:
	case x < 60:
		step(SchedCancel)
	case x < 85:
		step(SchedEdit)
		if rng.IntN(3) == 0 {
			step([]string{SchedCancel, SchedNow}[rng.IntN(2)])
		}
	default:
		step(SchedNow)
	}
	return p
}

// runSchedules makes scheduled messages until ctx ends. Each schedule's
// requests run in a goroutine of r.scheds, which the end phase awaits
// after the heal (a request in flight at the end of the run may wait for
// a node cut off until then).
func (r *runner) runSchedules(ctx context.Context) {
	cfg := r.cfg
	if cfg.SchedEvery <= 0 {
		return
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x5c4e))
	for n := 1; ; n++ {
		wait := cfg.SchedEvery/2 + time.Duration(rng.Int64N(int64(cfg.SchedEvery)))
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		u := r.users[rng.IntN(len(r.users))]
		to := r.pickFriend(rng, u)
		toGroup := rng.Float64() < cfg.SchedGroupShare
		gi, gk := rng.IntN(1<<20), rng.IntN(1<<20)
		plan := r.drawSchedPlan(rng)
		k, size := rng.IntN(1<<20), 24+rng.IntN(200)
		key := fmt.Sprintf("simsched:%d:%d", cfg.Seed, n)
		group := ""
		if toGroup && r.grp != nil {
			// A group schedule, from a member (by belief) of a group.
			g := r.grp.groups[gi%len(r.grp.groups)]
			m := r.byName[g.sender(gk)]
			if m == nil {
				continue
			}
			u, to, group = m, "", g.name
		}
		r.scheds.Add(1)
		go func() {
			defer r.scheds.Done()
			r.scheduleOne(u, to, group, key, k, size, plan)
		}()
	}
}

// scheduleOne makes one schedule of u to friend to (or to group) and the
// changes of its plan, and records them.
func (r *runner) scheduleOne(u *user, to, group, key string, k, size int, plan schedPlan) {
	rec := SchedIntent{Key: key, From: u.name, To: to, Group: group}
	version := 0
steps:
	for i, st := range append([]schedStep{{kind: SchedCreate, ahead: plan.ahead}}, plan.steps...) {
		if i > 0 {
			select {
			case <-r.ctx.Done():
				break steps // what was made is recorded
			case <-time.After(st.after):
			}
		}
		d := u.onlineDevice(k + i)
		if d == nil {
			if i == 0 {
				return // nothing made
			}
			continue
		}
		cl, err := d.client()
		if err != nil {
			if i == 0 {
				return
			}
			continue
		}
		op := SchedOp{Kind: st.kind, Device: d.id}
		var sc client.Scheduled
		ctx, cancel := context.WithTimeout(r.ctx, 30*time.Second)
		op.Start = r.rec.now()
		switch st.kind {
		case SchedCreate:
			at := time.Now().Add(st.ahead)
			op.AtMS = at.UnixMilli()
			if group != "" {
				sc, err = cl.ScheduleGroupAt(ctx, group, makeBody(schedBodyKey(key, 0), size), at)
			} else {
				sc, err = cl.ScheduleAt(ctx, to, makeBody(schedBodyKey(key, 0), size), at)
			}
		case SchedEdit:
			version++
			at := time.Now().Add(st.ahead)
			op.Version, op.AtMS = version, at.UnixMilli()
			sc, err = cl.ScheduleEdit(ctx, rec.ID, makeBody(schedBodyKey(key, version), size), at)
		case SchedCancel:
			sc, err = cl.ScheduleCancel(ctx, rec.ID)
		case SchedNow:
			sc, err = cl.ScheduleNow(ctx, rec.ID)
		}
		cancel()
		op.End = r.rec.now()
		op.Outcome = schedOutcome(st.kind, err)
		if err != nil {
			op.Err = err.Error()
			if c := client.CodeOf(err); c != 0 {
				op.ReplyErr = c.Name()
			}
			r.rec.mu.Lock()
			r.rec.errs["schedule "+st.kind+" "+errKey(err)]++
			r.rec.mu.Unlock()
		} else {
			op.State, op.FireMS, op.MsgID, op.ServerV = sc.State, sc.Fire.UnixMilli(), sc.MsgID, sc.Version
			if sc.Fire.IsZero() || sc.Fire.UnixMilli() <= 0 {
				op.FireMS = 0 // a retried cancel's empty answer
			}
			if !sc.Done.IsZero() {
				op.DoneMS = sc.Done.UnixMilli()
			}
			if len(sc.Body) > 0 {
				op.BodyKey, _ = parseBody(sc.Body)
			}
			if i == 0 {
				rec.ID = sc.ID
			}
		}
		rec.Ops = append(rec.Ops, op)
		if i == 0 && op.Outcome != Acked {
			break // no id to change
		}
		if st.kind == SchedCancel && op.Outcome == Acked {
			break
		}
	}
	if len(rec.Ops) == 0 {
		return
	}
	r.rec.mu.Lock()
	r.rec.scheds = append(r.rec.scheds, rec)
	r.rec.mu.Unlock()
}

// schedOutcome is the outcome of a schedule request that returned err.
// The client retries a request whose outcome is unknown and does not say
// how often it tried, so a refusal is only taken as "not applied" where
// an applied earlier attempt could not have caused it: a create's
// refusals come after its dedup (a retry of an applied create is answered
// with it); a cancel's not_pending says it was firing, so no earlier
// attempt removed it. An edit's or a now's refusal is recorded as
// refused, and CheckSchedules counts it as possibly applied.
func schedOutcome(kind string, err error) Outcome {
	if err == nil {
		return Acked
	}
	c := client.CodeOf(err)
	switch kind {
	case SchedCreate:
		switch c {
		case wire.CodeSchedTooSoon, wire.CodeSchedTooFar, wire.CodeSchedConvFull, wire.CodeSchedUserFull,
			wire.CodeRefused, wire.CodeBadRequest, wire.CodeTooLarge, wire.CodeBadTTL:
			return Refused
		}
	case SchedCancel:
		if c == wire.CodeSchedNotPending {
			return Refused
		}
	default:
		switch c {
		case wire.CodeSchedTooSoon, wire.CodeSchedTooFar, wire.CodeSchedNotPending, wire.CodeSchedNotFound, wire.CodeBadRequest, wire.CodeTooLarge:
			return Refused
		}
	}
	return Unknown
}

// waitSchedules reads the senders' lists until none of the run's
// schedules is pending or firing (at most limit), keeps the final states
// and raises the recipients' expected inbox heads to the fired seqs.
func (r *runner) waitSchedules(limit time.Duration) {
	if r.cfg.SchedEvery <= 0 {
		return
	}
	r.rec.mu.Lock()
	senders := map[string]bool{}
	for _, s := range r.rec.scheds {
		if s.Ops[0].Outcome != Refused {
			senders[s.From] = true
		}
	}
	r.rec.mu.Unlock()
	deadline := time.Now().Add(limit)
	finals := map[string]*SchedFinal{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	for name := range senders {
		u := r.byName[name]
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			got, busy, err := r.listUntilDone(u, deadline)
			if err != nil || busy > 0 {
				r.logf("schedules of %s: %d still pending or firing at the end (%v)", u.name, busy, err)
			}
			mu.Lock()
			for k, f := range got {
				finals[k] = f
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	r.rec.mu.Lock()
	defer r.rec.mu.Unlock()
	for i := range r.rec.scheds {
		s := &r.rec.scheds[i]
		if f := finals[s.Key]; f != nil {
			s.Final = f
			switch {
			case f.State != client.SchedFired:
			case s.Group != "" && f.Seq > r.rec.gmaxSeq[s.Group]:
				r.rec.gmaxSeq[s.Group] = f.Seq
			case s.Group == "" && f.Seq > r.rec.maxSeq[s.To]:
				r.rec.maxSeq[s.To] = f.Seq
			}
		}
	}
}

// listUntilDone lists u's schedules from an online device until none of
// the run's is pending or firing, or deadline; it returns the run's
// schedules by token and how many were still busy.
func (r *runner) listUntilDone(u *user, deadline time.Time) (map[string]*SchedFinal, int, error) {
	var err error
	for try := 0; ; try++ {
		var got map[string]*SchedFinal
		busy := 0
		d := u.onlineDevice(try)
		var cl *client.Client
		if d == nil {
			err = errOffline
		} else if cl, err = d.client(); err == nil {
			ctx, cancel := context.WithTimeout(r.ctx, 5*time.Second)
			var items []client.Scheduled
			items, err = cl.ScheduleList(ctx)
			cancel()
			got = map[string]*SchedFinal{}
			for _, it := range items {
				bk, _ := parseBody(it.Body)
				key, _, ok := splitSchedKey(bk)
				if !ok {
					continue
				}
				f := &SchedFinal{ID: it.ID, State: it.State, Reason: it.Reason, FireMS: it.Fire.UnixMilli(), MsgID: it.MsgID, Seq: it.Seq, BodyKey: bk}
				if !it.Done.IsZero() {
					f.DoneMS = it.Done.UnixMilli()
				}
				got[key] = f
				if it.State == client.SchedPending || it.State == client.SchedFiring {
					busy++
				}
			}
		}
		if err == nil && busy == 0 || time.Now().After(deadline) || r.ctx.Err() != nil {
			return got, busy, err
		}
		time.Sleep(500 * time.Millisecond)
	}
}
