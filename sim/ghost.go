package sim

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/roamhq/roam/client"
)

// Revocations. The simulator revokes sessions three ways, as users do:
//
//   - login elsewhere: during a partition, devices connected to a cut-off
//     node log in again on a node of the majority (moveCutOff), so the
//     Cancel Location for the old session cannot reach the old node;
//   - a password change by one device of a user ends the user's other
//     sessions (runPasswords);
//   - an account deletion ends the account's other sessions
//     (runDeletions, on throwaway accounts).
//
// In each case the old client object is not closed: it lives on as a
// ghost for GhostLife, reading its events into a record of its own
// (Device.Revoked) and sending to a friend every ghostEvery, so that any
// send it gets acknowledged, and any message it receives, after the
// revocation shows up in CheckRevocation.

// ghostEvery spaces a ghost's send attempts.
const ghostEvery = 300 * time.Millisecond

// ghostRecord parks cs's reader (done is the reader's), then moves cs
// (d's primary session until now) to a new revoked record and returns the
// record's ID: from here on its deliveries go there and no longer advance
// d's cursor. The reader stays parked until the device's new session has
// logged in (haunt releases it): the client hands the application
// nothing meanwhile, so it acknowledges nothing, and the new session
// syncs from the cursor this one had reached. (Otherwise a message the
// old client took and acknowledged in between would be missing from the
// device's stream: the new session starts after the server's cursor.)
func (rc *recorder) ghostRecord(d *device, cs *clientSession, done <-chan struct{}) string {
	cs.park(done)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.closeStretchLocked(cs, rc.now())
	id := fmt.Sprintf("%s~%d", d.id, cs.sess)
	rc.devices = append(rc.devices, Device{ID: id, User: d.user.name, Revoked: true})
	cs.rec, cs.primary = len(rc.devices)-1, false
	return id
}

// revoke records that cs was revoked by cause, by a call that began at
// from and returned at at. The caller releases the ghost's reader once
// the device's new session (if any) has synced.
func (rc *recorder) revoke(cs *clientSession, from, at time.Duration, cause, record string) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if s := &rc.sessions[cs.sess]; s.RevokedAt == 0 {
		s.RevokeFrom, s.RevokedAt, s.RevokedBy, s.Record = from, at, cause, record
	}
}

// mayEnd records that a call of unknown outcome, begun at from, may have
// ended cs on purpose (see Session.MayEndFrom).
func (rc *recorder) mayEnd(cs *clientSession, from time.Duration) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if s := &rc.sessions[cs.sess]; s.MayEndFrom == 0 {
		s.MayEndFrom = from
	}
}

// ghost is a revoked session's client, still running.
type ghost struct {
	d    *device
	cl   *client.Client
	cs   *clientSession
	done chan struct{} // its reader's
	rec  string
}

// detach takes d's primary client away from it, as a ghost, leaving d
// claimed (state moving) for a new login; nil if d is not online.
func (r *runner) detach(d *device) *ghost {
	d.mu.Lock()
	if d.state != "online" {
		d.mu.Unlock()
		return nil
	}
	d.state = "moving"
	g := &ghost{d: d, cl: d.cl, cs: d.cs, done: d.readerD}
	d.cl, d.cs = nil, nil
	d.mu.Unlock()
	g.rec = r.rec.ghostRecord(d, g.cs, g.done)
	return g
}

// drop closes a ghost (at once when its revocation is uncertain).
func (g *ghost) drop() {
	g.cs.release()
	g.cl.Close()
	<-g.done
}

// haunt releases the ghost's reader, keeps the ghost sending until
// GhostLife after at, then closes it.
func (r *runner) haunt(g *ghost, at time.Duration) {
	g.cs.release()
	defer g.drop()
	rng := rand.New(rand.NewPCG(r.cfg.Seed, uint64(g.cs.sess)))
	for r.rec.now() < at+r.cfg.GhostLife && r.ctx.Err() == nil {
		if fs := g.d.user.friends; len(fs) > 0 {
			to := fs[rng.IntN(len(fs))]
			key := fmt.Sprintf("sim:%d:g%d:%s>%s", r.cfg.Seed, r.nghost.Add(1), g.d.id, to)
			r.sendOn(g.cl, g.cs.key, g.d, to, key, drawSize(rng, r.cfg.MaxBody), 3*time.Second)
		}
		time.Sleep(ghostEvery)
	}
}

// moveCutOff logs up to Ghosts devices connected to the cut-off nodes in
// again on the other nodes (the partition fault).
func (r *runner) moveCutOff(cut []*Node) {
	if r.cfg.Ghosts <= 0 {
		return
	}
	in := map[string]bool{}
	for _, n := range cut {
		in[n.Client] = true
	}
	var others []string
	for _, a := range r.addrs() {
		if !in[a] {
			others = append(others, a)
		}
	}
	if len(others) == 0 {
		return
	}
	moved := 0
	for _, d := range r.devs {
		if moved == r.cfg.Ghosts {
			break
		}
		d.mu.Lock()
		ok := d.state == "online" && in[d.cl.Addr()]
		d.mu.Unlock()
		if !ok || !d.user.claim() {
			continue
		}
		moved++
		addr := others[moved%len(others)]
		r.tasks.Go(func() {
			defer d.user.release()
			r.moveDevice(d, addr, "login_elsewhere_cut_off")
		})
	}
}

// moveDevice logs d in on addr while its current client stays connected
// where it was: the old session is revoked by the new login (cause
// names the circumstances).
func (r *runner) moveDevice(d *device, addr, cause string) {
	g := r.detach(d)
	if g == nil {
		return
	}
	r.logf("device %s logs in elsewhere (%s): %s", d.id, addr, cause)
	from := r.rec.now()
	if err := r.login(d, addr); err != nil {
		r.logf("device %s could not log in elsewhere: %v", d.id, err)
		g.drop()
		r.setOffline(d)
		return
	}
	at := r.rec.now()
	r.rec.revoke(g.cs, from, at, cause, g.rec)
	r.fault("relogin", d.id, fmt.Sprintf("logged in on %s (%s); the old session is revoked", addr, cause))
	r.haunt(g, at)
}

func (r *runner) setOffline(d *device) {
	d.mu.Lock()
	d.state = "offline"
	d.mu.Unlock()
}

// runPasswords changes a random user's password every PasswordEvery.
func (r *runner) runPasswords(ctx context.Context) {
	rng := rand.New(rand.NewPCG(r.cfg.Seed, 0x9a55))
	for k := 1; ; k++ {
		wait := r.cfg.PasswordEvery/2 + time.Duration(rng.Int64N(int64(r.cfg.PasswordEvery)))
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		u := r.users[rng.IntN(len(r.users))]
		if len(u.devs) < 2 || !u.claim() {
			continue
		}
		r.changePassword(ctx, u, k)
		u.release()
	}
}

// changePassword changes u's password from one online device; the other
// online devices' sessions become ghosts and the devices log in again
// with the new password.
func (r *runner) changePassword(ctx context.Context, u *user, k int) {
	var changer *device
	for _, d := range u.devs {
		d.mu.Lock()
		if d.state == "online" && changer == nil {
			changer = d
		}
		d.mu.Unlock()
	}
	if changer == nil {
		return
	}
	changer.mu.Lock()
	cl, ccs := changer.cl, changer.cs
	changer.mu.Unlock()
	if cl == nil || ccs == nil {
		return
	}
	var ghosts []*ghost
	for _, d := range u.devs {
		if d != changer {
			if g := r.detach(d); g != nil {
				ghosts = append(ghosts, g)
			}
		}
	}
	old, _ := u.password()
	pw := fmt.Sprintf("pw-%d-%s-%d", r.cfg.Seed, u.name, k)
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	from := r.rec.now()
	err := cl.ChangePassword(cctx, old, pw)
	cancel()
	at := r.rec.now()
	switch {
	case err == nil:
		u.mu.Lock()
		u.pw, u.altPw = pw, ""
		u.mu.Unlock()
		r.fault("password", u.name, fmt.Sprintf("changed by %s; %d other sessions revoked", changer.id, len(ghosts)))
		for _, g := range ghosts {
			r.rec.revoke(g.cs, from, at, "password_changed", g.rec)
		}
	case errors.Is(err, client.ErrRefused), errors.Is(err, client.ErrReauth), errors.Is(err, client.ErrRateLimited), errors.Is(err, client.ErrAuthFailed):
		r.logf("password change of %s refused: %v", u.name, err)
		for _, g := range ghosts {
			g.drop()
		}
	default:
		// Unknown outcome: either password may be the current one, and
		// the other sessions may or may not have been revoked. The
		// changer's own session too: the client logs in anew before it
		// changes the password, and if that login happened but its
		// reply was lost, the session it replaced is gone (its resume
		// gets session_invalid).
		r.rec.mayEnd(ccs, from)
		u.mu.Lock()
		u.altPw = pw
		u.mu.Unlock()
		r.logf("password change of %s: unknown outcome: %v", u.name, err)
		for _, g := range ghosts {
			g.drop()
		}
	}
	// The devices log in again; only then do the ghosts (still held, so
	// they acknowledged nothing) read on, so that what they take cannot
	// move the device's cursor past the new session's first sync.
	addrs := r.addrs()
	for i, g := range ghosts {
		if err := r.login(g.d, addrs[(k+i)%len(addrs)]); err != nil {
			r.logf("device %s could not log in after the password change: %v", g.d.id, err)
			r.setOffline(g.d)
		}
		if err == nil {
			r.tasks.Go(func() { r.haunt(g, at) })
		}
	}
}

// runDeletions deletes a throwaway account every DeleteEvery: two users
// (one with two devices) befriend each other and talk; one device
// deletes its account while the other stays on as a ghost.
func (r *runner) runDeletions(ctx context.Context) {
	rng := rand.New(rand.NewPCG(r.cfg.Seed, 0xde1))
	for k := 1; ; k++ {
		wait := r.cfg.DeleteEvery/2 + time.Duration(rng.Int64N(int64(r.cfg.DeleteEvery)))
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		if err := r.deletion(ctx, k); err != nil {
			r.logf("deletion %d: %v", k, err)
		}
	}
}

func (r *runner) throwaway(name string, devices int) *user {
	u := &user{name: name, pw: "pw-" + name, throwway: true}
	for i := 0; i < devices; i++ {
		d := &device{idx: -1, id: fmt.Sprintf("%s-d%d", name, i), user: u, state: "offline"}
		r.rec.mu.Lock()
		r.rec.devices = append(r.rec.devices, Device{ID: d.id, User: name})
		d.rec = len(r.rec.devices) - 1
		r.rec.mu.Unlock()
		u.devs = append(u.devs, d)
	}
	return u
}

func (r *runner) deletion(ctx context.Context, k int) error {
	addrs := r.addrs()
	a := r.throwaway(fmt.Sprintf("%sx%d", r.namePrefix(), k), 2)
	b := r.throwaway(fmt.Sprintf("%sy%d", r.namePrefix(), k), 1)
	all := []*device{a.devs[0], a.devs[1], b.devs[0]}
	defer func() {
		for _, d := range all {
			r.offline(d, false)
		}
	}()
	for i, u := range []*user{a, b} {
		if err := r.registerAndLogin(u, addrs[(k+i)%len(addrs)]); err != nil {
			return err
		}
	}
	if err := r.online(a.devs[1], addrs[(k+2)%len(addrs)]); err != nil {
		return err
	}
	cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := retry(cctx, func() error {
		cl, err := a.devs[0].client()
		if err != nil {
			return err
		}
		return cl.FriendRequest(cctx, b.name)
	}); err != nil {
		return fmt.Errorf("friend request: %w", err)
	}
	if err := retry(cctx, func() error {
		cl, err := b.devs[0].client()
		if err != nil {
			return err
		}
		return cl.FriendAccept(cctx, a.name)
	}); err != nil {
		return fmt.Errorf("friend accept: %w", err)
	}
	a.friends, b.friends = []string{b.name}, []string{a.name}
	i := 0
	talk := func(n int) {
		for end := i + n; i < end && ctx.Err() == nil; i++ {
			for j, d := range all {
				to := b.name
				if d.user == b {
					to = a.name
				}
				r.send(d, to, fmt.Sprintf("sim:%d:t%d.%d.%d:%s>%s", r.cfg.Seed, k, i, j, d.id, to), 64)
			}
			time.Sleep(250 * time.Millisecond)
		}
	}
	talk(8)
	g := r.detach(a.devs[1])
	if g == nil {
		return errors.New("the second device went offline")
	}
	a.devs[0].mu.Lock()
	cl := a.devs[0].cl
	a.devs[0].mu.Unlock()
	if cl == nil {
		g.drop()
		return errors.New("the deleting device went offline")
	}
	from := r.rec.now()
	err := cl.DeleteAccount(cctx, a.pw)
	at := r.rec.now()
	if err != nil {
		g.drop()
		r.setOffline(a.devs[1])
		return fmt.Errorf("delete %s: %w", a.name, err)
	}
	r.fault("delete", a.name, fmt.Sprintf("deleted by %s; %s revoked", a.devs[0].id, a.devs[1].id))
	r.rec.revoke(g.cs, from, at, "account_deleted", g.rec)
	r.offline(a.devs[0], false) // its session ended with the call
	r.setOffline(a.devs[1])
	done := make(chan struct{})
	r.tasks.Go(func() { defer close(done); r.haunt(g, at) })
	talk(int(r.cfg.GhostLife / (250 * time.Millisecond)))
	<-done
	return nil
}
