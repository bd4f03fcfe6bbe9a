package sim

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/roamhq/roam/client"
)

// Groups (PROTOCOL.md §16). Groups groups, each created by the group
// owner, an account of its own outside the users: its one device (not
// subject to churn) creates the groups, invites and kicks, and follows
// every group throughout; a fresh device of it reads every stream from
// seq 1 at the end (the final read CheckGroups compares with). At the
// start GroupMembers users (whose devices are spread over all nodes)
// join each group; then:
//
//   - a GroupShare of the send decisions (drive.go) are group sends: a
//     random device of a random member sends to the group;
//   - every MemberEvery (on average) a membership changes: a non-member
//     is invited by the owner and joins from one of its online devices
//     (a new member, or one coming back: it syncs from its joined entry
//     on), or a member leaves from one of its devices, or the owner kicks
//     it (a third of the removals). The group sizes stay near
//     GroupMembers. Changes run all through the run, faults included;
//     each is retried on an unknown outcome (join, leave and kick are
//     idempotent), one at a time per group and user. After a join the
//     user's other online devices are asked to pick the group up
//     (Client.SyncGroups: the server pushes nothing when another device
//     joins);
//   - every device keeps, per group, the highest seq it recorded and
//     continues from there on its next login (Client.SetGroupCursors),
//     so that each device record is one stream per group.
//
// The end phase asks every device to sync its groups again and waits
// until each has caught up with the owner's device, then marks the
// devices that were online GroupsComplete.

// groupLoad is the group workload's state.
type groupLoad struct {
	owner  *user
	od     *device // the owner's device
	groups []*simGroup
	nsent  atomic.Int64
	wg     sync.WaitGroup // membership changes in flight
}

// simGroup is one group and what the load believes of its membership.
type simGroup struct {
	name    string
	mu      sync.Mutex
	members map[string]bool // believed members, the owner apart
	busy    map[string]bool // a membership change of the user runs
	unsure  map[string]bool // a change of unknown outcome: left alone since
}

func (g *simGroup) count() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.members)
}

// sender returns a member (by belief) with no change in progress, picked
// by k; "" if none.
func (g *simGroup) sender(k int) string {
	g.mu.Lock()
	defer g.mu.Unlock()
	var ms []string
	for u := range g.members {
		if !g.busy[u] && !g.unsure[u] {
			ms = append(ms, u)
		}
	}
	if len(ms) == 0 {
		return ""
	}
	sort.Strings(ms)
	return ms[k%len(ms)]
}

// claim marks u busy in g for a change (join: u must not be a member,
// else a member); false if u is busy, unsure or not in that state.
func (g *simGroup) claim(u string, join bool) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.busy[u] || g.unsure[u] || g.members[u] == join {
		return false
	}
	g.busy[u] = true
	return true
}

// settle ends u's change in g: member is the membership now, unsure
// that the outcome is not known.
func (g *simGroup) settle(u string, member, unsure bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.busy, u)
	if unsure {
		g.unsure[u] = true
	}
	if member {
		g.members[u] = true
	} else {
		delete(g.members, u)
	}
}

// member reports whether u is a member of g by belief (and sure of it).
func (g *simGroup) member(u string) (member, sure bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.members[u], !g.unsure[u]
}

// groupName is the name of group i of the run.
func (r *runner) groupName(i int) string { return fmt.Sprintf("%sg%d", r.namePrefix(), i) }

// setupGroups registers the owner, creates the groups and lets
// GroupMembers users join each.
func (r *runner) setupGroups() error {
	cfg := r.cfg
	if cfg.Groups <= 0 {
		return nil
	}
	owner := &user{name: r.namePrefix() + "own", pw: fmt.Sprintf("pw-%d-own", cfg.Seed)}
	od := &device{idx: -1, id: owner.name + "-d0", user: owner, state: "offline"}
	owner.devs = []*device{od}
	r.rec.mu.Lock()
	r.rec.devices = append(r.rec.devices, Device{ID: od.id, User: owner.name})
	od.rec = len(r.rec.devices) - 1
	r.rec.mu.Unlock()
	gl := &groupLoad{owner: owner, od: od}
	addrs := r.addrs()
	if err := r.registerAndLogin(owner, addrs[0]); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(r.ctx, 60*time.Second)
	defer cancel()
	for i := 0; i < cfg.Groups; i++ {
		g := &simGroup{name: r.groupName(i), members: map[string]bool{}, busy: map[string]bool{}, unsure: map[string]bool{}}
		op := MemberOp{Group: g.name, User: owner.name, Op: OpCreate, By: od.id, Start: r.rec.now()}
		err := retry(ctx, func() error {
			cl, err := od.client()
			if err != nil {
				return err
			}
			return cl.GroupCreate(ctx, g.name, client.GroupSettings{})
		})
		op.End = r.rec.now()
		if err != nil {
			return fmt.Errorf("create group %s: %w", g.name, err)
		}
		op.Outcome = Acked
		r.recordOp(op)
		gl.groups = append(gl.groups, g)
	}
	r.grp = gl
	rng := rand.New(rand.NewPCG(cfg.Seed, 0x96))
	for _, g := range gl.groups {
		for _, i := range rng.Perm(len(r.users))[:min(cfg.GroupMembers, len(r.users))] {
			u := r.users[i]
			if g.claim(u.name, true) {
				r.changeMembership(g, u, OpJoin, rng.IntN(1<<20))
			}
		}
	}
	return nil
}

// groupSend sends a group message from d's primary client, if d is
// online, in the background.
func (r *runner) groupSend(d *device, group, key string, size int) {
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
		d.sends.Done()
		return
	}
	r.sendsWG.Add(1)
	r.grp.nsent.Add(1)
	go func() {
		defer r.sendsWG.Done()
		defer d.sends.Done()
		defer func() { <-r.sem }()
		r.groupSendOn(cl, cs.key, d, group, key, size, 60*time.Second)
	}()
}

// groupSendOn makes one GroupSend on cl (session key sess) and records it.
func (r *runner) groupSendOn(cl *client.Client, sess string, d *device, group, key string, size int, limit time.Duration) {
	cmid := cl.NextCMID()
	body := makeBody(key, size)
	s := GroupSend{Group: group, Body: key, From: d.user.name, FromDevice: d.id, Session: sess, Start: r.rec.now(), Size: len(body)}
	ctx, cancel := context.WithTimeout(r.ctx, limit)
	ack, err := cl.GroupSend(ctx, group, body, client.WithCMID(cmid))
	cancel()
	s.End = r.rec.now()
	s.Outcome = sendOutcome(err)
	if err == nil {
		s.AckID, s.AckSeq = ack.ID, ack.Seq
	} else {
		s.Err = err.Error()
	}
	r.rec.mu.Lock()
	r.rec.gsends = append(r.rec.gsends, s)
	if err != nil {
		r.rec.errs["group "+errKey(err)]++
	} else if s.AckSeq > r.rec.gmaxSeq[group] {
		r.rec.gmaxSeq[group] = s.AckSeq
	}
	r.rec.mu.Unlock()
}

// runMembers changes memberships until ctx ends, then waits for the
// changes in flight.
func (r *runner) runMembers(ctx context.Context) {
	gl := r.grp
	if gl == nil || r.cfg.MemberEvery <= 0 {
		return
	}
	defer gl.wg.Wait()
	rng := rand.New(rand.NewPCG(r.cfg.Seed, 0x3e3b))
	for {
		wait := r.cfg.MemberEvery/2 + time.Duration(rng.Int64N(int64(r.cfg.MemberEvery)))
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		g := gl.groups[rng.IntN(len(gl.groups))]
		n, target := g.count(), r.cfg.GroupMembers
		join := n < target-1 || n <= target+1 && rng.IntN(2) == 0
		op := OpLeave
		switch {
		case join:
			op = OpJoin
		case rng.IntN(3) == 0:
			op = OpKick
		}
		k := rng.IntN(1 << 20)
		for try := 0; try < 8; try++ {
			u := r.users[rng.IntN(len(r.users))]
			if u.isBusy() || !g.claim(u.name, join) {
				continue
			}
			gl.wg.Add(1)
			go func() {
				defer gl.wg.Done()
				r.changeMembership(g, u, op, k)
			}()
			break
		}
	}
}

// changeMembership makes one membership change of u in g (claimed for
// it) and records it. A join is preceded by the owner's invite. Attempts
// whose outcome is unknown are repeated (at most 4), with a device of u
// online then (join, leave) or the owner's (kick).
func (r *runner) changeMembership(g *simGroup, u *user, op string, k int) {
	ctx, cancel := context.WithTimeout(r.ctx, 40*time.Second)
	defer cancel()
	was, _ := g.member(u.name)
	rec := MemberOp{Group: g.name, User: u.name, Op: op, Start: r.rec.now()}
	uncertain := false // an attempt may have been applied
	var err error
	for attempt := 0; attempt < 4; attempt++ {
		if attempt > 0 {
			time.Sleep(time.Second)
		}
		var dev *device
		if op == OpKick {
			dev = r.grp.od
		} else {
			dev = u.onlineDevice(k + attempt)
		}
		var cl *client.Client
		if dev != nil {
			cl, err = dev.client()
		} else {
			err = errOffline
		}
		if err != nil {
			continue // nothing sent
		}
		rec.By = dev.id
		switch op {
		case OpJoin:
			if err = r.invite(ctx, g.name, u.name); err == nil {
				err = cl.GroupJoin(ctx, g.name)
			}
		case OpLeave:
			err = cl.GroupLeave(ctx, g.name)
		case OpKick:
			err = cl.GroupKick(ctx, g.name, u.name)
		}
		if err == nil || ctx.Err() != nil || notApplied(err) == definitely {
			break
		}
		if notApplied(err) == unknown {
			uncertain = true
		}
	}
	rec.End = r.rec.now()
	member, unsure := was, false
	switch {
	case err == nil:
		rec.Outcome, member = Acked, op == OpJoin
	case op == OpLeave && uncertain && errors.Is(err, client.ErrRefused):
		// Not a member any more: an earlier attempt was applied.
		rec.Outcome, member = Acked, false
	case !uncertain && notApplied(err) != unknown:
		rec.Outcome, rec.Err = Refused, err.Error()
		// A refused leave or kick says the belief was wrong.
		unsure = op != OpJoin && errors.Is(err, client.ErrRefused)
	default:
		rec.Outcome, rec.Err, unsure = Unknown, err.Error(), true
	}
	r.recordOp(rec)
	g.settle(u.name, member, unsure)
	if rec.Outcome != Acked {
		r.logf("group %s: %s of %s by %s: %s (%s)", g.name, op, u.name, rec.By, rec.Outcome, rec.Err)
	}
	if rec.Outcome == Acked && op == OpJoin {
		r.pickUp(u)
	}
}

// invite has the owner invite u into group (retried on unknown outcomes:
// inviting someone invited already succeeds).
func (r *runner) invite(ctx context.Context, group, u string) error {
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		var cl *client.Client
		if cl, err = r.grp.od.client(); err == nil {
			if err = cl.GroupInvite(ctx, group, u); err == nil || notApplied(err) == definitely {
				return err
			}
		}
		if ctx.Err() != nil {
			return err
		}
		time.Sleep(500 * time.Millisecond)
	}
	return err
}

// Whether a failed request was applied: definitely not (refused, or
// never sent), or unknown.
const (
	definitely = iota + 1
	unknown
	notSent
)

func notApplied(err error) int {
	switch {
	case errors.Is(err, errOffline), errors.Is(err, client.ErrNotLoggedIn), errors.Is(err, client.ErrRateLimited):
		return notSent
	case errors.Is(err, client.ErrRefused), errors.Is(err, client.ErrBadRequest), errors.Is(err, client.ErrGroupFull):
		return definitely
	}
	return unknown
}

// pickUp asks u's online devices to pick up the groups joined on
// another device, now and once more a second later (a group just joined
// can take a moment to be listed).
func (r *runner) pickUp(u *user) {
	sync := func() {
		for _, d := range u.devs {
			if cl, err := d.client(); err == nil {
				cl.SyncGroups()
			}
		}
	}
	sync()
	r.tasks.Go(func() {
		time.Sleep(time.Second)
		sync()
	})
}

// onlineDevice returns an online device of u (the k-th, counting from a
// place k picks), nil if none.
func (u *user) onlineDevice(k int) *device {
	for i := range u.devs {
		d := u.devs[(k+i)%len(u.devs)]
		d.mu.Lock()
		ok := d.state == "online"
		d.mu.Unlock()
		if ok {
			return d
		}
	}
	return nil
}

func (r *runner) recordOp(op MemberOp) {
	r.rec.mu.Lock()
	r.rec.memberOps = append(r.rec.memberOps, op)
	r.rec.mu.Unlock()
}

// readGroup records a group event of client cl (session cs of device d):
// entries into the session's record (advancing d's group cursors for a
// primary session), group stretches from group_synced to group_gone or
// the end of the device's stretch, and the end of each groups flow.
func (r *runner) readGroup(d *device, cl *client.Client, cs *clientSession, ev client.Event) {
	rc := r.rec
	switch ev.Kind {
	case client.EventGroupMessage:
		m := ev.GroupMessage
		e := GroupEntry{Group: m.Group, Seq: m.Seq, ID: m.ID, Kind: m.Kind, From: m.From, Subject: m.Subject,
			Sched: m.FromDevice == SchedDevice, SentMS: m.Sent.UnixMilli()}
		if m.Kind == "" {
			var ok bool
			e.Body, ok = parseBody(m.Body)
			e.Corrupt = !ok
		}
		rc.mu.Lock()
		e.At = rc.at(ev.At)
		rc.devices[cs.rec].Groups = append(rc.devices[cs.rec].Groups, e)
		if cs.primary {
			d.mu.Lock()
			if d.gcursor == nil {
				d.gcursor = map[string]uint64{}
			}
			d.gcursor[m.Group] = max(d.gcursor[m.Group], m.Seq)
			d.mu.Unlock()
		}
		rc.mu.Unlock()
	case client.EventGroupSynced:
		addr := cl.Addr()
		rc.mu.Lock()
		rc.openGroupStretchLocked(cs, ev.Group, rc.now(), addr)
		rc.mu.Unlock()
	case client.EventGroupGone:
		rc.mu.Lock()
		rc.closeGroupStretchesLocked(cs, rc.now(), ev.Group)
		rc.mu.Unlock()
	case client.EventGroupsSynced:
		d.gflows.Add(1)
	}
}

// openGroupStretchLocked starts a stretch of cs following group, unless
// one is open or the device's stretch is not (it follows nothing then).
func (rc *recorder) openGroupStretchLocked(cs *clientSession, group string, at time.Duration, addr string) {
	if cs.stretch < 0 || addr == "" {
		return
	}
	if _, ok := cs.gstretch[group]; ok {
		return
	}
	if cs.gstretch == nil {
		cs.gstretch = map[string]int{}
	}
	d := &rc.devices[cs.rec]
	d.GroupOnline = append(d.GroupOnline, GroupStretch{Group: group, From: at, To: -1, Addr: addr})
	cs.gstretch[group] = len(d.GroupOnline) - 1
}

// closeGroupStretchesLocked ends cs's open stretch of group ("" every
// group's).
func (rc *recorder) closeGroupStretchesLocked(cs *clientSession, at time.Duration, group string) {
	for g, i := range cs.gstretch {
		if group == "" || g == group {
			rc.devices[cs.rec].GroupOnline[i].To = at
			delete(cs.gstretch, g)
		}
	}
}

// groupFloors returns d's group cursors, for the next login.
func (d *device) groupFloors() map[string]uint64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make(map[string]uint64, len(d.gcursor))
	for g, q := range d.gcursor {
		out[g] = q
	}
	return out
}

// groupHeads returns, per group, the highest seq known to exist: the
// owner's device's cursor or the highest acked send.
func (r *runner) groupHeads() map[string]uint64 {
	heads := r.grp.od.groupFloors()
	r.rec.mu.Lock()
	for g, q := range r.rec.gmaxSeq {
		heads[g] = max(heads[g], q)
	}
	r.rec.mu.Unlock()
	return heads
}

// groupDevices are the devices the end phase waits for: every user's
// and the owner's.
func (r *runner) groupDevices() []*device {
	return append(append([]*device(nil), r.devs...), r.grp.od)
}

// waitGroupsCaughtUp asks every online device to sync its groups and
// waits (at most limit) until each has finished and holds every group
// its user belongs to up to its head; then it marks the devices online
// GroupsComplete.
func (r *runner) waitGroupsCaughtUp(limit time.Duration) {
	if r.grp == nil {
		return
	}
	if err := r.online(r.grp.od, r.addrs()[0]); err != nil {
		r.logf("the group owner's device could not come back: %v", err)
	}
	devs := r.groupDevices()
	before := make([]int64, len(devs))
	for i, d := range devs {
		before[i] = d.gflows.Load()
		if cl, err := d.client(); err == nil {
			cl.SyncGroups()
		}
	}
	deadline := time.Now().Add(limit)
	for {
		lag := r.groupsLagging(devs, before)
		if len(lag) == 0 {
			break
		}
		if time.Now().After(deadline) {
			r.logf("devices still behind in their groups: %v", lag)
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	r.rec.mu.Lock()
	defer r.rec.mu.Unlock()
	for _, d := range devs {
		d.mu.Lock()
		if d.state == "online" {
			r.rec.devices[d.rec].GroupsComplete = true
		}
		d.mu.Unlock()
	}
}

func (r *runner) groupsLagging(devs []*device, before []int64) []string {
	heads := r.groupHeads()
	var lag []string
	for i, d := range devs {
		d.mu.Lock()
		online := d.state == "online"
		d.mu.Unlock()
		if !online {
			continue
		}
		if d.gflows.Load() <= before[i] {
			lag = append(lag, d.id+" (groups flow)")
			continue
		}
		cur := d.groupFloors()
		for _, g := range r.grp.groups {
			m, sure := g.member(d.user.name)
			if (m && sure || d == r.grp.od) && cur[g.name] < heads[g.name] {
				lag = append(lag, fmt.Sprintf("%s (%s at %d of %d)", d.id, g.name, cur[g.name], heads[g.name]))
			}
		}
	}
	return lag
}

// finalGroupRead logs a fresh device of the owner in and reads every
// group from seq 1 (the owner never leaves); the result is the groups'
// final reads.
func (r *runner) finalGroupRead() []GroupFinal {
	if r.grp == nil {
		return nil
	}
	owner := r.grp.owner
	d := &device{idx: -1, id: owner.name + "-final", user: owner, state: "offline"}
	r.rec.mu.Lock()
	r.rec.devices = append(r.rec.devices, Device{ID: d.id, User: owner.name})
	d.rec = len(r.rec.devices) - 1
	r.rec.mu.Unlock()
	heads := r.groupHeads()
	read := false
	if err := r.online(d, r.addrs()[0]); err != nil {
		r.logf("final read of the groups: %v", err)
	} else {
		for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline) && !read; time.Sleep(100 * time.Millisecond) {
			cur := d.groupFloors()
			read = d.gflows.Load() > 0
			for g, q := range heads {
				read = read && cur[g] >= q
			}
		}
		time.Sleep(300 * time.Millisecond) // anything beyond the heads known
		r.offline(d, false)
	}
	if !read {
		r.logf("final read of the groups incomplete: flows %d, read %v of %v", d.gflows.Load(), d.groupFloors(), heads)
	}
	r.rec.mu.Lock()
	defer r.rec.mu.Unlock()
	by := map[string][]GroupEntry{}
	for _, e := range r.rec.devices[d.rec].Groups {
		by[e.Group] = append(by[e.Group], e)
	}
	var out []GroupFinal
	for _, g := range r.grp.groups {
		es := by[g.name]
		sort.SliceStable(es, func(i, j int) bool { return es[i].Seq < es[j].Seq })
		out = append(out, GroupFinal{Group: g.name, Read: read, Entries: es})
	}
	return out
}
