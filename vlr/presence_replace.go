package vlr

// Presence anti-entropy: a node periodically sends every peer its whole
// presence as a replacement (the sender's node package decides when). A
// replacement may come in several parts; the announcements of the sending
// node that the whole replacement does not repeat are dropped once its
// last part is in, in one step, so friends never see a user flicker
// offline (a plain full sync drops everything of the node first). A lost
// one-way presence item is repaired by the next replacement.

// replaceLocked records one part of a replacement from node. Guarded by
// registry.mu.
func (r *registry) replaceLocked(node string, ups []PresenceUpdate, first, last bool) {
	if r.snap == nil {
		r.snap = make(map[string]map[string]struct{})
	}
	seen := r.snap[node]
	if first || seen == nil {
		seen = make(map[string]struct{}, len(ups))
		r.snap[node] = seen
	}
	for _, u := range ups {
		r.remoteUpdateLocked(node, u)
		if u.Status != StatusOffline {
			seen[u.User] = struct{}{}
		}
	}
	if !last {
		return
	}
	delete(r.snap, node)
	for user, m := range r.remote {
		if _, ok := m[node]; !ok {
			continue
		}
		if _, ok := seen[user]; ok {
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

// ReplacePresence applies one part of node's presence replacement: first
// starts it, last ends it (a replacement in one part is both).
func (s *Server) ReplacePresence(node string, ups []PresenceUpdate, first, last bool) {
	s.reg.mu.Lock()
	defer s.reg.mu.Unlock()
	s.reg.replaceLocked(node, ups, first, last)
}
