package vlr

import (
	"sort"
	"sync"
	"time"

	"github.com/roamhq/roam/hlr"
)

// registry is the visitor register proper: who is logged in at this node,
// their cached friend lists, and the presence of every online user in the
// cluster as this node knows it. One mutex guards it; it is never held
// while doing I/O (pushes only enqueue).
//
// Lock order: registry.mu, then session.mu, then renewer.mu or
// outQueue.mu.
type registry struct {
	mu    sync.Mutex
	users map[string]*localUser
	// friendOf[f] is the set of local users whose friend list contains f:
	// the local audience of f's presence changes.
	friendOf map[string]map[*localUser]struct{}
	// remote[u][node] is u's visible status as announced by another node.
	remote map[string]map[string]string
	bus    PresenceBus
	// cancelled remembers Cancel Locations that found no session, for
	// attaches still running (tombstones.go).
	cancelled tombstones
	// snap collects, per node, the users a presence replacement in
	// several parts has named so far (presence_replace.go).
	snap map[string]map[string]struct{}
	// groups indexes the synced group streams (group_registry.go).
	groups groupIndex
	gbus   GroupBus
}

// localUser is one user with at least one session at this node.
type localUser struct {
	name     string
	sessions []*session
	friends  map[string]struct{}
	status   string // chosen status at this node
}

func newRegistry(bus PresenceBus, lc LeaseConfig) *registry {
	return &registry{
		users:     make(map[string]*localUser),
		friendOf:  make(map[string]map[*localUser]struct{}),
		remote:    make(map[string]map[string]string),
		bus:       bus,
		cancelled: newTombstones(lc.TombstoneTTL, lc.MaxTombstones),
		groups:    make(groupIndex),
		gbus:      nopGroupBus{},
	}
}

// attach adds a session, unless a Cancel Location for its (user, device,
// epoch) came first: it then returns the cancellation's reason and adds
// nothing. friends is the user's friend list as read from the home
// register.
func (r *registry) attach(s *session, friends []string, now time.Time) (cancelled string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if reason, ok := r.cancelled.find(tombKey{s.user, s.device, s.epoch}, now); ok {
		return reason
	}
	u := r.users[s.user]
	before := StatusOffline
	if u == nil {
		u = &localUser{name: s.user, friends: make(map[string]struct{}), status: StatusOnline}
		r.users[s.user] = u
		for _, f := range friends {
			r.addFriendLocked(u, f)
		}
	} else {
		before = r.visibleLocked(s.user)
	}
	u.sessions = append(u.sessions, s)
	s.u = u
	r.announceLocked(s.user, before)
	return ""
}

// cancel returns the local sessions that Cancel Location for (user, loc)
// ends; if there are none, it remembers the cancellation for an attach of
// that epoch still on its way.
func (r *registry) cancel(user string, loc hlr.Location, reason, node string, now time.Time) []*session {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.sessionsAtLocked(user, []hlr.Location{loc}, node)
	if len(out) == 0 && loc.Node == node {
		r.cancelled.add(tombKey{user, loc.Device, loc.Epoch}, reason, now)
	}
	return out
}

// detach removes a session; the last session of a user takes the user's
// presence offline.
func (r *registry) detach(s *session) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.dropSessionGroupsLocked(s)
	u := r.users[s.user]
	if u == nil {
		return
	}
	before := r.visibleLocked(s.user)
	for i, x := range u.sessions {
		if x == s {
			u.sessions = append(u.sessions[:i], u.sessions[i+1:]...)
			break
		}
	}
	if len(u.sessions) == 0 {
		for f := range u.friends {
			r.dropFriendLocked(u, f)
		}
		delete(r.users, s.user)
	}
	r.announceLocked(s.user, before)
}

// setStatus records a status chosen by one of user's devices.
func (r *registry) setStatus(user, status string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	u := r.users[user]
	if u == nil {
		return
	}
	before := r.visibleLocked(user)
	u.status = status
	r.announceLocked(user, before)
}

// localVisible is user's status as shown by this node's sessions alone.
func (r *registry) localVisibleLocked(user string) string {
	u := r.users[user]
	if u == nil || len(u.sessions) == 0 {
		return StatusOffline
	}
	return visible(u.status)
}

// visibleLocked merges this node's view with what other nodes announced:
// the most available status wins.
func (r *registry) visibleLocked(user string) string {
	best := r.localVisibleLocked(user)
	for _, st := range r.remote[user] {
		if rank(st) > rank(best) {
			best = st
		}
	}
	return best
}

func rank(s string) int {
	switch s {
	case StatusOnline:
		return 3
	case StatusBusy:
		return 2
	case StatusAway:
		return 1
	}
	return 0
}

// announceLocked publishes user's local status to the cluster and pushes a
// change of the merged status to local friends.
func (r *registry) announceLocked(user, before string) {
	r.bus.Publish(PresenceUpdate{User: user, Status: r.localVisibleLocked(user)})
	r.pushIfChangedLocked(user, before)
}

func (r *registry) pushIfChangedLocked(user, before string) {
	after := r.visibleLocked(user)
	if after == before {
		return
	}
	for fu := range r.friendOf[user] {
		for _, s := range fu.sessions {
			s.pushPresence(user, after)
		}
	}
}

// remoteUpdate applies a presence announcement from another node.
func (r *registry) remoteUpdate(node string, u PresenceUpdate) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.remoteUpdateLocked(node, u)
}

func (r *registry) remoteUpdateLocked(node string, u PresenceUpdate) {
	before := r.visibleLocked(u.User)
	m := r.remote[u.User]
	if u.Status == StatusOffline {
		delete(m, node)
		if len(m) == 0 {
			delete(r.remote, u.User)
		}
	} else {
		if m == nil {
			m = make(map[string]string, 1)
			r.remote[u.User] = m
		}
		m[node] = u.Status
	}
	r.pushIfChangedLocked(u.User, before)
}

// dropNode forgets every announcement of a node that left or died.
func (r *registry) dropNode(node string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.snap, node)
	for user, m := range r.remote {
		if _, ok := m[node]; !ok {
			continue
		}
		before := r.visibleLocked(user)
		delete(m, node)
		if len(m) == 0 {
			delete(r.remote, user)
		}
		r.pushIfChangedLocked(user, before)
	}
}

// localPresence lists this node's users with their visible status, for a
// peer that needs the full picture (anti-entropy).
func (r *registry) localPresence() []PresenceUpdate {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]PresenceUpdate, 0, len(r.users))
	for name := range r.users {
		if st := r.localVisibleLocked(name); st != StatusOffline {
			out = append(out, PresenceUpdate{User: name, Status: st})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].User < out[j].User })
	return out
}

func (r *registry) addFriendLocked(u *localUser, f string) {
	u.friends[f] = struct{}{}
	set := r.friendOf[f]
	if set == nil {
		set = make(map[*localUser]struct{}, 1)
		r.friendOf[f] = set
	}
	set[u] = struct{}{}
}

func (r *registry) dropFriendLocked(u *localUser, f string) {
	delete(u.friends, f)
	if set := r.friendOf[f]; set != nil {
		delete(set, u)
		if len(set) == 0 {
			delete(r.friendOf, f)
		}
	}
}

// friendAdded records a new friendship of user and pushes the friend's
// current presence to user's sessions.
func (r *registry) friendAdded(user, friend string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	u := r.users[user]
	if u == nil {
		return
	}
	if _, ok := u.friends[friend]; ok {
		return
	}
	r.addFriendLocked(u, friend)
	st := r.visibleLocked(friend)
	for _, s := range u.sessions {
		s.pushPresence(friend, st)
	}
}

// friendRemoved forgets a friendship of user.
func (r *registry) friendRemoved(user, friend string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if u := r.users[user]; u != nil {
		r.dropFriendLocked(u, friend)
	}
}

// isFriend reports whether friend is in user's cached friend list.
func (r *registry) isFriend(user, friend string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	u := r.users[user]
	if u == nil {
		return false
	}
	_, ok := u.friends[friend]
	return ok
}

// friendPresence returns user's friends with their visible status, sorted.
func (r *registry) friendPresence(user string) []friendStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	u := r.users[user]
	if u == nil {
		return nil
	}
	out := make([]friendStatus, 0, len(u.friends))
	for f := range u.friends {
		out = append(out, friendStatus{f, r.visibleLocked(f)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].user < out[j].user })
	return out
}

type friendStatus struct{ user, status string }

// statusOf returns user's visible status.
func (r *registry) statusOf(user string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.visibleLocked(user)
}

// sessionsAt returns the local sessions of user that match a location
// (device and epoch) at node.
func (r *registry) sessionsAt(user string, locs []hlr.Location, node string) []*session {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.sessionsAtLocked(user, locs, node)
}

func (r *registry) sessionsAtLocked(user string, locs []hlr.Location, node string) []*session {
	u := r.users[user]
	if u == nil {
		return nil
	}
	var out []*session
	for _, l := range locs {
		if l.Node != node {
			continue
		}
		for _, s := range u.sessions {
			if s.device == l.Device && s.epoch == l.Epoch {
				out = append(out, s)
			}
		}
	}
	return out
}

// session returns the local session of (user, device), if any.
func (r *registry) session(user, device string) *session {
	r.mu.Lock()
	defer r.mu.Unlock()
	u := r.users[user]
	if u == nil {
		return nil
	}
	for _, s := range u.sessions {
		if s.device == device {
			return s
		}
	}
	return nil
}

// all returns every local session.
func (r *registry) all() []*session {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*session
	for _, u := range r.users {
		out = append(out, u.sessions...)
	}
	return out
}

// count returns the number of local sessions.
func (r *registry) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, u := range r.users {
		n += len(u.sessions)
	}
	return n
}
