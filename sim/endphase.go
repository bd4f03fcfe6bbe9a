package sim

import (
	"fmt"
	"sync"
	"time"
)

// bringAllOnline logs every offline device in, a few at a time.
func (r *runner) bringAllOnline() {
	addrs := r.addrs()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i, d := range r.devs {
		d.mu.Lock()
		st := d.state
		d.mu.Unlock()
		if st != "offline" {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := r.online(d, addrs[i%len(addrs)]); err != nil {
				r.logf("device %s could not come back: %v", d.id, err)
			}
		}()
	}
	wg.Wait()
}

// waitCaughtUp waits until every online device has received its user's
// highest acked seq, then marks online devices complete. It returns the
// devices that could not be checked for completeness.
func (r *runner) waitCaughtUp(limit time.Duration) []string {
	deadline := time.Now().Add(limit)
	for {
		lag := r.lagging()
		if len(lag) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	var incomplete []string
	r.rec.mu.Lock()
	defer r.rec.mu.Unlock()
	for _, d := range r.devs {
		d.mu.Lock()
		if d.state == "online" {
			r.rec.devices[d.rec].Complete = true
		} else {
			incomplete = append(incomplete, d.id+" ("+d.state+")")
		}
		d.mu.Unlock()
	}
	return incomplete
}

func (r *runner) lagging() []string {
	r.rec.mu.Lock()
	want := make(map[string]uint64, len(r.rec.maxSeq))
	for k, v := range r.rec.maxSeq {
		want[k] = v
	}
	r.rec.mu.Unlock()
	var lag []string
	for _, d := range r.devs {
		d.mu.Lock()
		if d.state == "online" && d.cursor < want[d.user.name] {
			lag = append(lag, d.id)
		}
		d.mu.Unlock()
	}
	return lag
}

// finalRead logs every user in on a fresh device and reads the whole
// inbox from seq 1.
func (r *runner) finalRead() {
	addrs := r.addrs()
	r.rec.mu.Lock()
	want := make(map[string]uint64, len(r.rec.maxSeq))
	for k, v := range r.rec.maxSeq {
		want[k] = v
	}
	r.rec.mu.Unlock()
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	for i, u := range r.users {
		d := &device{idx: -1, id: fmt.Sprintf("%s-final", u.name), user: u, state: "offline"}
		r.rec.mu.Lock()
		r.rec.devices = append(r.rec.devices, Device{ID: d.id, User: u.name, Complete: true})
		d.rec = len(r.rec.devices) - 1
		r.rec.mu.Unlock()
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := r.online(d, addrs[i%len(addrs)]); err != nil {
				r.logf("final read of %s: %v", u.name, err)
				return
			}
			deadline := time.Now().Add(15 * time.Second)
			for time.Now().Before(deadline) {
				d.mu.Lock()
				c := d.cursor
				d.mu.Unlock()
				if c >= want[u.name] {
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			time.Sleep(300 * time.Millisecond) // anything beyond the highest ack (recovered sends)
			r.offline(d, false)
		}()
	}
	wg.Wait()
}

func (r *runner) closeAll() {
	var wg sync.WaitGroup
	devs := r.devs
	if r.grp != nil {
		devs = r.groupDevices()
	}
	for _, d := range devs {
		wg.Add(1)
		go func() { defer wg.Done(); r.offline(d, false) }()
	}
	wg.Wait()
}

// progress prints a line (and calls OnTick) every second until the
// returned func is called; runStart is when the run proper began.
func (r *runner) progress(runStart time.Duration) func() {
	if r.cfg.Progress == nil && r.cfg.OnTick == nil {
		return func() {}
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		last := int64(0)
		for {
			select {
			case <-stop:
				return
			case <-t.C:
			}
			sent := r.nsent.Load()
			r.fmu.Lock()
			nf := len(r.faults)
			r.fmu.Unlock()
			now, acked := r.rec.now(), r.nacked.Load()
			phase, _ := r.phase.Load().(string)
			if r.cfg.OnTick != nil {
				r.cfg.OnTick(Tick{Elapsed: now - runStart, Phase: phase, SendsPS: sent - last, Sent: sent, Acked: acked, Faults: nf})
			}
			if r.cfg.Progress != nil {
				fmt.Fprintf(r.cfg.Progress, "roamsim: %6.1fs %-10s sends/s %4d  sent %6d  acked %6d  faults %d\n",
					now.Seconds(), phase, sent-last, sent, acked, nf)
			}
			last = sent
		}
	}()
	return func() { close(stop); <-done }
}
