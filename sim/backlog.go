package sim

import (
	"context"
	"math/rand/v2"
	"sync/atomic"
	"time"
)

// backlogTarget is the user a backlog is building for (nil: none).
type backlogTarget = atomic.Pointer[user]

// Backlogs. BacklogUsers times in a run, one user goes offline on every
// device while its friends keep sending to it (a BacklogShare of all
// sends, see drive.go), until Backlog messages wait in its inbox; then
// every device logs in again, each on another node than before, and
// syncs. The time each device takes to catch up is reported; the sync
// must complete (a sync page larger than the client's frame limit once
// made a user with a backlog unable to sync at all), and everything the
// usual checkers look at holds for those devices too.

// BacklogSync is one device's catch-up after a backlog.
type BacklogSync struct {
	User     string  `json:"user"`
	Device   string  `json:"device"`
	Messages uint64  `json:"messages"` // seqs it had to catch up on
	TookS    float64 `json:"took_s"`   // from the start of its login to its cursor reaching the target; -1 if it never did
}

// runBacklogs runs the backlog workload; it returns when ctx ends.
func (r *runner) runBacklogs(ctx context.Context, base time.Duration) {
	n := r.cfg.BacklogUsers
	if n <= 0 || r.cfg.Backlog <= 0 {
		return
	}
	rng := rand.New(rand.NewPCG(r.cfg.Seed, 0xbac))
	spacing := r.cfg.Duration / time.Duration(n)
	for i := 0; i < n; i++ {
		start := base + spacing*time.Duration(i) + spacing/10
		select {
		case <-ctx.Done():
			return
		case <-time.After(start - r.rec.now()):
		}
		var u *user
		for try := 0; try < 20 && u == nil; try++ {
			c := r.users[rng.IntN(len(r.users))]
			if len(c.friends) > 0 && c.claim() {
				u = c
			}
		}
		if u == nil {
			continue
		}
		r.backlog(ctx, u, base+spacing*time.Duration(i+1)-5*time.Second)
		u.release()
	}
}

// backlog holds u offline until Backlog messages wait for it (or until
// the time until), then logs its devices in on other nodes and measures
// their sync.
func (r *runner) backlog(ctx context.Context, u *user, until time.Duration) {
	u.mu.Lock()
	u.away = true
	u.mu.Unlock()
	for _, d := range u.devs {
		r.offline(d, true)
	}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		moving := 0
		for _, d := range u.devs {
			d.mu.Lock()
			if d.state != "offline" {
				moving++
			}
			d.mu.Unlock()
			r.offline(d, false)
		}
		if moving == 0 {
			break
		}
	}
	r.rec.mu.Lock()
	base := r.rec.maxSeq[u.name]
	r.rec.mu.Unlock()
	r.fault("backlog", u.name, "offline on every device while its friends send to it")
	r.backlogUser.Store(u)
	for ctx.Err() == nil && r.rec.now() < until {
		r.rec.mu.Lock()
		got := r.rec.maxSeq[u.name] - base
		r.rec.mu.Unlock()
		if got >= uint64(r.cfg.Backlog) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	r.backlogUser.Store(nil)
	r.rec.mu.Lock()
	target := r.rec.maxSeq[u.name]
	r.rec.mu.Unlock()
	u.mu.Lock()
	u.away = false
	u.mu.Unlock()
	r.fault("backlog", u.name, "back on other nodes")
	addrs := r.addrs()
	done := make(chan BacklogSync, len(u.devs))
	for _, d := range u.devs {
		addr := addrs[0]
		for i, a := range addrs {
			if a == d.lastAddr {
				addr = addrs[(i+1)%len(addrs)]
			}
		}
		go func() { done <- r.catchUp(d, addr, target) }()
	}
	for range u.devs {
		s := <-done
		r.rec.mu.Lock()
		r.rec.backlogs = append(r.rec.backlogs, s)
		r.rec.mu.Unlock()
		r.logf("backlog: %s caught up on %d messages in %.1fs", s.Device, s.Messages, s.TookS)
	}
}

// catchUp logs d in on addr and waits (up to a minute) for its cursor to
// reach target.
func (r *runner) catchUp(d *device, addr string, target uint64) BacklogSync {
	d.mu.Lock()
	from := d.cursor
	d.mu.Unlock()
	s := BacklogSync{User: d.user.name, Device: d.id, Messages: target - min(from, target), TookS: -1}
	start := time.Now()
	if err := r.online(d, addr); err != nil {
		r.logf("backlog: %s could not log in: %v", d.id, err)
		return s
	}
	for deadline := start.Add(time.Minute); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		d.mu.Lock()
		c := d.cursor
		d.mu.Unlock()
		if c >= target {
			s.TookS = time.Since(start).Seconds()
			break
		}
	}
	return s
}
