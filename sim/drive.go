package sim

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/roamhq/roam/client"
)

// drive is the workload loop: every decision comes from one seeded
// generator, so the same seed makes the same decisions (what they meet,
// devices online or not, depends on timing).
//
// Each tick picks a sender (a random user and one of its devices) and a
// recipient among its friends. Quiet users are picked as recipients with
// probability QuietFactor of the others' (they receive one message every
// several seconds, so a lost one-way Deliver is not repaired by the next
// message soon after). While a backlog is building (backlog.go), a
// BacklogShare of the sends goes to the absent user from its friends.
// A GroupShare of the other sends goes to a group (groups.go).
func (r *runner) drive(ctx context.Context) {
	rng := rand.New(rand.NewPCG(r.cfg.Seed, 0xd71e))
	tick := time.Duration(float64(time.Second) / r.cfg.Rate)
	t := time.NewTicker(tick)
	defer t.Stop()
	churnP := r.cfg.Churn / r.cfg.Rate
	start := time.Now()
	n := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		// Catch up with the ticks a busy machine dropped, so that the rate
		// holds (a tick the Go runtime could not deliver is lost).
		want := int(time.Since(start) / tick)
		for k := 0; k < 4 && n < want; k++ {
			n++
			r.step(rng, churnP, n)
		}
		if n < want-int(r.cfg.Rate) { // more than a second behind: give up on those
			n = want
		}
	}
}

// step makes one workload decision.
func (r *runner) step(rng *rand.Rand, churnP float64, n int) {
	u := r.users[rng.IntN(len(r.users))]
	d := u.devs[rng.IntN(len(u.devs))]
	to := r.pickFriend(rng, u)
	churn := rng.Float64() < churnP
	gracefulChurn := rng.IntN(4) != 0
	awayFor := time.Duration(1000+rng.IntN(6000)) * time.Millisecond
	addrs := r.addrs()
	addr := addrs[rng.IntN(len(addrs))]
	size := drawSize(rng, r.cfg.MaxBody)
	toBacklog := rng.Float64() < r.cfg.BacklogShare
	// A GroupShare of the sends go to a group (groups.go): a member
	// picked by gk, one of its devices by dk.
	var group *simGroup
	gk, dk := 0, 0
	if r.grp != nil && rng.Float64() < r.cfg.GroupShare {
		group, gk, dk = r.grp.groups[rng.IntN(len(r.grp.groups))], rng.IntN(1<<20), rng.IntN(1<<20)
	}
	if b := r.backlogUser.Load(); b != nil && toBacklog && len(b.friends) > 0 {
		f := r.byName[b.friends[rng.IntN(len(b.friends))]]
		u, d, to = f, f.devs[rng.IntN(len(f.devs))], b.name
		churn = false
	}
	if churn {
		if u.isBusy() {
			return
		}
		r.away(d, gracefulChurn, awayFor, addr)
		return
	}
	if group != nil {
		if m := r.byName[group.sender(gk)]; m != nil {
			d := m.devs[dk%len(m.devs)]
			r.groupSend(d, group.name, fmt.Sprintf("simg:%d:%d:%s>%s", r.cfg.Seed, n, d.id, group.name), size)
		}
		return
	}
	key := fmt.Sprintf("sim:%d:%d:%s>%s", r.cfg.Seed, n, d.id, to)
	r.send(d, to, key, size)
}

// pickFriend picks a recipient among u's friends, quiet ones rarely.
func (r *runner) pickFriend(rng *rand.Rand, u *user) string {
	var f string
	for try := 0; try < 32; try++ {
		f = u.friends[rng.IntN(len(u.friends))]
		if !r.byName[f].quiet || rng.Float64() < r.cfg.QuietFactor {
			return f
		}
	}
	return f
}

// send sends from d's primary client, if d is online, in the background.
func (r *runner) send(d *device, to, key string, size int) {
	d.mu.Lock()
	if d.state != "online" {
		d.mu.Unlock()
		return
	}
	cl, cs := d.cl, d.cs
	d.sends.Add(1)
	d.mu.Unlock()
	select {
	case r.sem <- struct{}{}:
	default:
		d.sends.Done() // too many in flight: skip this one
		return
	}
	r.sendsWG.Add(1)
	r.nsent.Add(1)
	go func() {
		defer r.sendsWG.Done()
		defer d.sends.Done()
		defer func() { <-r.sem }()
		r.sendOn(cl, cs.key, d, to, key, size, 60*time.Second)
	}()
}

// sendOn makes one Send on cl (session key sess) and records it.
func (r *runner) sendOn(cl *client.Client, sess string, d *device, to, key string, size int, limit time.Duration) Outcome {
	cmid := cl.NextCMID()
	body := makeBody(key, size)
	s := Send{Body: key, From: d.user.name, FromDevice: d.id, To: to, CMID: cmid, Start: r.rec.now(), Session: sess, Size: len(body), NodeAt: cl.Addr()}
	ctx, cancel := context.WithTimeout(r.ctx, limit)
	ack, err := cl.Send(ctx, to, body, client.WithCMID(cmid))
	cancel()
	s.End, s.NodeEnd = r.rec.now(), cl.Addr()
	s.Outcome = sendOutcome(err)
	if err == nil {
		s.AckID, s.AckSeq = ack.ID, ack.Seq
		r.nacked.Add(1)
	} else {
		s.Err = err.Error()
	}
	r.rec.mu.Lock()
	r.rec.sends = append(r.rec.sends, s)
	if s.Outcome != Acked {
		r.rec.errs[errKey(err)]++
	} else if s.AckSeq > r.rec.maxSeq[to] {
		r.rec.maxSeq[to] = s.AckSeq
	}
	r.rec.mu.Unlock()
	return s.Outcome
}

// sendOutcome is the outcome of a Send or GroupSend that returned err.
func sendOutcome(err error) Outcome {
	var se *client.SendError
	retried := errors.As(err, &se) && se.Attempts > 1
	switch {
	case err == nil:
		return Acked
	case !retried && (errors.Is(err, client.ErrRefused) || errors.Is(err, client.ErrRateLimited) || errors.Is(err, client.ErrTooLarge) ||
		errors.Is(err, client.ErrBadRequest) || errors.Is(err, client.ErrNotLoggedIn)):
		// A refusal of the only attempt: the server did not take the
		// message (or the client had no session to send it with). A
		// refusal after retries says nothing of the earlier attempts,
		// which may have been stored: that is an unknown outcome.
		return Refused
	}
	return Unknown
}

func errKey(err error) string {
	switch {
	case errors.Is(err, client.ErrBusy):
		return "busy"
	case errors.Is(err, client.ErrClosed):
		return "closed"
	case errors.Is(err, client.ErrRefused):
		return "refused"
	case errors.Is(err, client.ErrNotLoggedIn):
		return "not_logged_in"
	case errors.Is(err, client.ErrTTLPassed):
		return "ttl_passed"
	case errors.Is(err, context.DeadlineExceeded):
		return "deadline"
	}
	if c := client.CodeOf(err); c != 0 {
		return c.Name()
	}
	s := err.Error()
	if len(s) > 60 {
		s = s[:60]
	}
	return s
}
