package sim

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/roamhq/roam/client"
)

// A device is one simulated device of a user: a stable device id and, at
// any moment, at most one primary client (its session). While offline it
// has none; a revoked session's client may live on as a ghost (ghost.go)
// beside the primary one, recording into its own history record.
type device struct {
	idx  int
	id   string
	user *user
	rec  int // index of its record in recorder.devices

	mu       sync.Mutex
	cl       *client.Client
	cs       *clientSession
	state    string // offline, online, moving
	cursor   uint64 // highest seq recorded on its record (guarded by recorder.mu too, see read)
	readerD  chan struct{}
	sends    sync.WaitGroup
	view     map[string]presenceSeen // friends' presence as pushed to this device
	lastAddr string                  // node of its last login
	// gcursor is, per group, the highest seq recorded on its record (as
	// cursor); gflows counts the groups flows its clients completed.
	gcursor map[string]uint64
	gflows  atomic.Int64
}

type user struct {
	name     string
	friends  []string
	devs     []*device
	quiet    bool // receives rarely (see drive.go)
	throwway bool // a deletion workload account (ghost.go), not in runner.users

	mu    sync.Mutex
	pw    string
	altPw string // after a password change of unknown outcome: the other candidate
	away  bool   // held offline by the backlog workload: online refuses
	busy  bool   // a password change or backlog is in progress
}

func (u *user) password() (string, string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.pw, u.altPw
}

func (u *user) isAway() bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.away
}

// isBusy: a password change or a backlog is in progress (no churn then).
func (u *user) isBusy() bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	return u.busy || u.away
}

// claim marks u busy for a password change or a backlog; false if it is
// busy already.
func (u *user) claim() bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.busy {
		return false
	}
	u.busy = true
	return true
}

func (u *user) release() {
	u.mu.Lock()
	u.busy = false
	u.mu.Unlock()
}

// errOffline: the device has no client right now.
var errOffline = errors.New("sim: device offline")

// client returns d's current client, or errOffline.
func (d *device) client() (*client.Client, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cl == nil {
		return nil, errOffline
	}
	return d.cl, nil
}

// clientSession is the recorder's view of one client object (a session).
// rec, primary and stretch are guarded by recorder.mu.
type clientSession struct {
	key     string
	sess    int  // index in recorder.sessions
	rec     int  // record its deliveries go to (moves to a revoked record)
	primary bool // its deliveries advance the device's cursor
	stretch int  // index of its open stretch in the record's Online, -1 none
	// gstretch: per group, the index of its open stretch in the record's
	// GroupOnline (groups.go).
	gstretch map[string]int
	// Parking the reader (see ghost.go, ghostRecord): closing pause
	// asks it to stop taking events; it closes parked once it has, and
	// waits for resume.
	pause, parked, resume chan struct{}
	pauseOnce, resumeOnce sync.Once
}

// park stops cs's reader from taking events and waits until it has
// (or has ended: done is closed).
func (cs *clientSession) park(done <-chan struct{}) {
	cs.pauseOnce.Do(func() { close(cs.pause) })
	select {
	case <-cs.parked:
	case <-done:
	}
}

// release lets a parked reader go on (idempotent).
func (cs *clientSession) release() {
	cs.resumeOnce.Do(func() { close(cs.resume) })
}

// newSession records a new session of d, logged in at now.
func (rc *recorder) newSession(d *device) *clientSession {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.nsess++
	cs := &clientSession{key: fmt.Sprintf("%s#%d", d.id, rc.nsess), rec: d.rec, primary: true, stretch: -1,
		pause: make(chan struct{}), parked: make(chan struct{}), resume: make(chan struct{})}
	rc.sessions = append(rc.sessions, Session{Key: cs.key, Device: d.id, User: d.user.name, Start: rc.now()})
	cs.sess = len(rc.sessions) - 1
	return cs
}

// openStretchLocked starts an online stretch of cs at addr, unless one is
// open.
func (rc *recorder) openStretchLocked(cs *clientSession, at time.Duration, addr string) {
	if cs.stretch >= 0 || addr == "" {
		return
	}
	d := &rc.devices[cs.rec]
	d.Online = append(d.Online, Stretch{From: at, To: -1, Addr: addr})
	cs.stretch = len(d.Online) - 1
}

// closeStretchLocked ends cs's open stretch, if any.
func (rc *recorder) closeStretchLocked(cs *clientSession, at time.Duration) {
	rc.closeGroupStretchesLocked(cs, at, "")
	if cs.stretch < 0 {
		return
	}
	rc.devices[cs.rec].Online[cs.stretch].To = at
	cs.stretch = -1
}

func (rc *recorder) closeStretch(cs *clientSession) {
	rc.mu.Lock()
	rc.closeStretchLocked(cs, rc.now())
	rc.mu.Unlock()
}

// online logs device d in on addr (first), continuing from its cursor.
func (r *runner) online(d *device, addr string) error {
	if d.user.isAway() {
		return nil // the backlog workload holds the user offline
	}
	// Claim the device: only one goroutine brings it online, so that a
	// device never has two primary clients.
	d.mu.Lock()
	if d.state != "offline" {
		d.mu.Unlock()
		return nil
	}
	d.state = "moving"
	d.mu.Unlock()
	if err := r.login(d, addr); err != nil {
		d.mu.Lock()
		d.state = "offline"
		d.mu.Unlock()
		return err
	}
	return nil
}

// login makes a new primary client for the claimed device d (state
// moving) on addr and sets d online.
func (r *runner) login(d *device, addr string) error {
	ctx, cancel := context.WithTimeout(r.ctx, 30*time.Second)
	defer cancel()
	// Each attempt uses a fresh client: a Login that failed on one client
	// may have left it half logged in.
	var cl *client.Client
	var err error
	for attempt := 1; ; attempt++ {
		d.mu.Lock()
		cursor := d.cursor
		d.mu.Unlock()
		pw, alt := d.user.password()
		cl, err = client.Dial(ctx, r.clientConfig(d.id, addr))
		if err == nil {
			cl.SetCursor(cursor)
			cl.SetGroupCursors(d.groupFloors())
			err = cl.Login(ctx, d.user.name, pw)
			if errors.Is(err, client.ErrAuthFailed) && alt != "" {
				if err = cl.Login(ctx, d.user.name, alt); err == nil {
					d.user.mu.Lock()
					d.user.pw, d.user.altPw = alt, ""
					d.user.mu.Unlock()
				}
			}
			if err == nil {
				break
			}
			cl.Close()
		}
		if attempt == 5 || ctx.Err() != nil {
			return fmt.Errorf("log in %s: %w", d.id, err)
		}
		r.logf("log in %s on %s, attempt %d: %v", d.id, addr, attempt, err)
		time.Sleep(300 * time.Millisecond)
	}
	cs := r.rec.newSession(d)
	done := make(chan struct{})
	d.mu.Lock()
	d.cl, d.cs, d.state, d.readerD, d.lastAddr = cl, cs, "online", done, addr
	d.mu.Unlock()
	go r.read(d, cl, cs, done)
	return nil
}

// read records everything a client reports until it is closed (it may be
// parked meanwhile, see clientSession.park): messages
// (into its session's record), presence (primary sessions), online
// stretches and session ends. A primary session that ends on its own is
// replaced by a fresh login (relogin).
func (r *runner) read(d *device, cl *client.Client, cs *clientSession, done chan struct{}) {
	defer close(done)
	rc := r.rec
	events, pause := cl.Events(), cs.pause
	for {
		var ev client.Event
		select {
		case <-pause:
			// Every event taken so far is recorded: the client counts
			// nothing more as handed (nor acknowledges it) until resume.
			close(cs.parked)
			pause = nil
			<-cs.resume
			continue
		case e, ok := <-events:
			if !ok {
				rc.closeStretch(cs)
				return
			}
			ev = e
		}
		switch ev.Kind {
		case client.EventPresence:
			rc.mu.Lock()
			primary := cs.primary
			rc.mu.Unlock()
			if primary {
				d.seePresence(ev.User, ev.Status, rc.now())
			}
		case client.EventSynced:
			addr := cl.Addr()
			rc.mu.Lock()
			rc.openStretchLocked(cs, rc.now(), addr)
			rc.mu.Unlock()
		case client.EventDisconnected, client.EventGoodbye:
			rc.closeStretch(cs)
		case client.EventSessionEnded:
			code := ""
			if c := client.CodeOf(ev.Err); c != 0 {
				code = c.Name()
			}
			rc.mu.Lock()
			at := rc.now()
			rc.closeStretchLocked(cs, at)
			detail := ""
			if ev.Err != nil {
				detail = ev.Err.Error()
			}
			s := &rc.sessions[cs.sess]
			s.Ends = append(s.Ends, SessionEnd{At: at, Code: code, Detail: detail})
			primary := cs.primary
			rc.mu.Unlock()
			if primary {
				r.logf("session of %s ended: %v", d.id, ev.Err)
				r.tasks.Go(func() { r.relogin(d, cl) })
			}
		case client.EventGroupMessage, client.EventGroupSynced, client.EventGroupGone, client.EventGroupsSynced:
			r.readGroup(d, cl, cs, ev)
		case client.EventMessage:
			m := ev.Message
			key, ok := parseBody(m.Body)
			rc.mu.Lock()
			at := rc.at(ev.At)
			rc.devices[cs.rec].Delivered = append(rc.devices[cs.rec].Delivered, Delivery{Seq: m.Seq, ID: m.ID, From: m.From, Body: key, At: at, Corrupt: !ok,
				Sched: m.FromDevice == SchedDevice, SentMS: m.Sent.UnixMilli()})
			if cs.primary {
				// Under recorder.mu, so that a revocation (ghost.go) reads a
				// cursor that matches the record.
				d.mu.Lock()
				if m.Seq > d.cursor {
					d.cursor = m.Seq
				}
				d.mu.Unlock()
			}
			rc.mu.Unlock()
		}
	}
}

// relogin replaces d's client cl, whose session ended on its own, with a
// fresh login on a random node.
func (r *runner) relogin(d *device, cl *client.Client) {
	if !r.offlineIf(d, cl, false) {
		return
	}
	time.Sleep(300 * time.Millisecond)
	addrs := r.addrs()
	if err := r.online(d, addrs[int(r.nsent.Load())%len(addrs)]); err != nil {
		r.logf("device %s could not log in again: %v", d.id, err)
	}
}

// offline takes d offline: gracefully (log out) or abruptly (close).
func (r *runner) offline(d *device, graceful bool) { r.offlineIf(d, nil, graceful) }

// offlineIf takes d offline if it is online (and, when cl is not nil,
// still on client cl); it reports whether it did.
func (r *runner) offlineIf(d *device, cl *client.Client, graceful bool) bool {
	d.mu.Lock()
	if d.state != "online" || cl != nil && d.cl != cl {
		d.mu.Unlock()
		return false
	}
	d.state = "moving"
	cl, cs, done := d.cl, d.cs, d.readerD
	d.mu.Unlock()
	if graceful {
		d.sends.Wait()
		ctx, cancel := context.WithTimeout(r.ctx, 5*time.Second)
		cl.Logout(ctx)
		cancel()
	}
	r.rec.closeStretch(cs)
	cl.Close()
	<-done
	d.mu.Lock()
	d.cl, d.cs, d.state = nil, nil, "offline"
	d.mu.Unlock()
	return true
}

// away takes d offline and brings it back after dur on addr.
func (r *runner) away(d *device, graceful bool, dur time.Duration, addr string) {
	r.tasks.Go(func() {
		r.offline(d, graceful)
		time.Sleep(dur)
		d.mu.Lock()
		st := d.state
		d.mu.Unlock()
		if st != "offline" {
			return
		}
		if err := r.online(d, addr); err != nil {
			r.logf("device %s could not come back: %v", d.id, err)
		}
	})
}

// group tracks goroutines; unlike a WaitGroup it may gain members while
// someone waits.
type group struct {
	mu   sync.Mutex
	n    int
	zero *sync.Cond
}

func (g *group) Go(f func()) {
	g.mu.Lock()
	if g.zero == nil {
		g.zero = sync.NewCond(&g.mu)
	}
	g.n++
	g.mu.Unlock()
	go func() {
		defer func() {
			g.mu.Lock()
			if g.n--; g.n == 0 {
				g.zero.Broadcast()
			}
			g.mu.Unlock()
		}()
		f()
	}()
}

// Wait waits until no member runs.
func (g *group) Wait() {
	g.mu.Lock()
	defer g.mu.Unlock()
	for g.n > 0 {
		g.zero.Wait()
	}
}
