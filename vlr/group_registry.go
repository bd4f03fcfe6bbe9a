package vlr

import (
	"github.com/roamhq/roam/hlr"
)

// GroupBus is told which users have a synced session in which group at
// this node (the node keeps the group's leader informed, so that the
// leader sends each entry once per node that has members online, not once
// per member). The first synced session of (group, user) turns interest
// on, the last one to go turns it off. Calls are made under the
// registry's lock: implementations must not block.
type GroupBus interface {
	GroupInterest(group, user string, on bool)
}

type nopGroupBus struct{}

func (nopGroupBus) GroupInterest(string, string, bool) {}

// groupIndex is the registry's view of group streams: for each group, the
// local members with a synced stream and those streams. Guarded by
// registry.mu.
type groupIndex map[string]map[string]map[*session]*groupStream

// groupSynced records that st, the stream of group st.name on s, is
// synced (pushes flow).
func (r *registry) groupSynced(s *session, st *groupStream) {
	r.mu.Lock()
	defer r.mu.Unlock()
	users := r.groups[st.name]
	if users == nil {
		users = make(map[string]map[*session]*groupStream)
		r.groups[st.name] = users
	}
	ss := users[s.user]
	if ss == nil {
		ss = make(map[*session]*groupStream)
		users[s.user] = ss
		r.gbus.GroupInterest(st.name, s.user, true)
	}
	ss[s] = st
}

// groupGone forgets st (if it is still s's stream of its group).
func (r *registry) groupGone(s *session, st *groupStream) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.groupGoneLocked(s, st)
}

func (r *registry) groupGoneLocked(s *session, st *groupStream) {
	users := r.groups[st.name]
	ss := users[s.user]
	if ss[s] != st {
		return
	}
	delete(ss, s)
	if len(ss) == 0 {
		delete(users, s.user)
		r.gbus.GroupInterest(st.name, s.user, false)
	}
	if len(users) == 0 {
		delete(r.groups, st.name)
	}
}

// dropSessionGroupsLocked forgets every group stream of s (it detached).
func (r *registry) dropSessionGroupsLocked(s *session) {
	s.mu.Lock()
	sts := make([]*groupStream, 0, len(s.groups))
	for _, st := range s.groups {
		sts = append(sts, st)
	}
	s.mu.Unlock()
	for _, st := range sts {
		r.groupGoneLocked(s, st)
	}
}

// groupSessions returns the sessions of the given users that have a
// stream of group g.
func (r *registry) groupSessions(g string, users []string) []*session {
	r.mu.Lock()
	defer r.mu.Unlock()
	byUser := r.groups[g]
	var out []*session
	for _, u := range users {
		for s := range byUser[u] {
			out = append(out, s)
		}
	}
	return out
}

// allGroupSessions returns every session with a stream of group g.
func (r *registry) allGroupSessions(g string) []*session {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*session
	for _, ss := range r.groups[g] {
		for s := range ss {
			out = append(out, s)
		}
	}
	return out
}

// GroupDeliver hands a committed entry of group g (a name, not a key) to
// the synced sessions of the given members at this node. It returns how
// many sessions took it or will catch up to it.
func (s *Server) GroupDeliver(g string, users []string, m *hlr.Message) int {
	n := 0
	for _, sess := range s.reg.groupSessions(g, users) {
		if sess.groupOffer(g, m) {
			n++
		}
	}
	return n
}

// GroupNotice tells every local session of group g that its stream
// reaches head; a session behind it catches up.
func (s *Server) GroupNotice(g string, head uint64) {
	for _, sess := range s.reg.allGroupSessions(g) {
		sess.groupNotice(g, head)
	}
}

// GroupInterest lists, for every group with a synced session here, the
// local users with one (what the node registers with the groups'
// leaders).
func (s *Server) GroupInterest() map[string][]string {
	s.reg.mu.Lock()
	defer s.reg.mu.Unlock()
	out := make(map[string][]string, len(s.reg.groups))
	for g, users := range s.reg.groups {
		for u := range users {
			out[g] = append(out[g], u)
		}
	}
	return out
}
