package sim

import (
	"context"
	"time"

	"github.com/roamhq/roam/client"
)

// presenceStatus is the status every device sets at the end; nothing
// else in the run sets it, so a view showing it has seen the change.
const presenceStatus = client.StatusBusy

// PresenceResult is how presence converged once the faults were over:
// every device of every user set presenceStatus, and every online device
// of each of the user's friends had to show it.
type PresenceResult struct {
	Views       int `json:"views"`       // (user, friend's device) pairs checked
	Converged   int `json:"converged"`   // of those, showing the new status in time
	Unconverged int `json:"unconverged"` // still showing something else at the deadline
	// AfterChangeMs is from the first status change to the last view
	// that caught up; AfterLastFaultS is from the end of the last fault
	// (its heal, resume or restart) to the same moment.
	AfterChangeMs   float64  `json:"after_change_ms"`
	AfterLastFaultS float64  `json:"after_last_fault_s"`
	Missing         []string `json:"missing,omitempty"` // "device sees user as status", first few
}

// seePresence records a presence push on d.
func (d *device) seePresence(user, status string, at time.Duration) {
	d.mu.Lock()
	if d.view == nil {
		d.view = map[string]presenceSeen{}
	}
	d.view[user] = presenceSeen{status, at}
	d.mu.Unlock()
}

type presenceSeen struct {
	status string
	at     time.Duration
}

// measurePresence changes every user's status and waits (up to limit)
// for every online friend device to show it.
func (r *runner) measurePresence(limit time.Duration, lastFault time.Duration) PresenceResult {
	var res PresenceResult
	changed := r.rec.now()
	for _, d := range r.devs {
		d.mu.Lock()
		cl, st := d.cl, d.state
		d.mu.Unlock()
		if st != "online" {
			continue
		}
		ctx, cancel := context.WithTimeout(r.ctx, 5*time.Second)
		if err := retry(ctx, func() error { return cl.SetPresence(ctx, presenceStatus) }); err != nil {
			r.logf("presence: %s could not set %s: %v", d.id, presenceStatus, err)
		}
		cancel()
	}
	type view struct {
		d    *device
		user string
	}
	var views []view
	byName := map[string]*user{}
	for _, u := range r.users {
		byName[u.name] = u
	}
	for _, u := range r.users {
		for _, f := range u.friends {
			for _, d := range byName[f].devs {
				views = append(views, view{d, u.name})
			}
		}
	}
	deadline := time.Now().Add(limit)
	for {
		res = PresenceResult{}
		var last time.Duration
		for _, v := range views {
			v.d.mu.Lock()
			online := v.d.state == "online"
			seen := v.d.view[v.user]
			v.d.mu.Unlock()
			if !online {
				continue
			}
			res.Views++
			if seen.status == presenceStatus && seen.at >= changed {
				res.Converged++
				if seen.at > last {
					last = seen.at
				}
				continue
			}
			res.Unconverged++
			if len(res.Missing) < 10 {
				s := seen.status
				if s == "" {
					s = "nothing"
				}
				res.Missing = append(res.Missing, v.d.id+" sees "+v.user+" as "+s)
			}
		}
		if res.Unconverged == 0 || time.Now().After(deadline) {
			if last > changed {
				res.AfterChangeMs = float64((last - changed).Microseconds()) / 1000
			}
			if last > lastFault && lastFault > 0 {
				res.AfterLastFaultS = (last - lastFault).Seconds()
			}
			return res
		}
		time.Sleep(50 * time.Millisecond)
	}
}
