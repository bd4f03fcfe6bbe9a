package node

import (
	"context"
	"sync"
	"time"

	"github.com/roamhq/roam/node/gossip"
)

// Remote attempts. The router sends a request for a partition led
// elsewhere to the node it believes leads it (leaderAddr). The attempt
// keeps the request's whole deadline — a busy leader is not abandoned for
// being slow — but it is cut short, and the request tried elsewhere, when
//
//   - the node has been silent: it has answered neither this request nor
//     any other one from this node for attemptSilence. That is a process
//     stopped by SIGSTOP, or a host that vanished without a reset: TCP
//     still accepts, nothing comes back. A live leader, however loaded,
//     answers something within that time whenever this node talks to it;
//   - the partition's leader is learned to be another node meanwhile: the
//     local Raft group (when this node holds a replica) names a new
//     leader, or another request brought back a "not leader" hint.
//
// A node cut off for silence is suspect for suspectFor, and so is one cut
// off because the leader moved if it had not answered anything during the
// attempt either: leaderAddr passes a suspect node over while any other
// candidate is left, so the requests that follow do not wait on it again;
// the first reply from it clears the suspicion.
// A cut attempt may have reached the leader and may still commit: the
// router retries with the same command, whose dedup key (sends) or
// idempotence makes that safe, and settles the few operations whose
// answer a duplicate would change (router.go).

const (
	// attemptSilence is how long a node may leave every request from
	// this node unanswered before an attempt to it is cut.
	attemptSilence = time.Second
	// attemptCheck is how often an attempt in flight checks for silence
	// and for a new leader.
	attemptCheck = 100 * time.Millisecond
	// suspectFor is how long a silent node is passed over.
	suspectFor = 2 * time.Second
)

// cutReason says why an attempt was cut short.
type cutReason uint8

const (
	cutNone   cutReason = iota
	cutSilent           // the node answered nothing for attemptSilence
	cutMoved            // the partition's leader is known to be elsewhere
)

// peerHealth remembers, per internal address, when the node last answered
// a request from this one and whether it is suspect. mu is a leaf lock.
type peerHealth struct {
	mu sync.Mutex
	m  map[string]*peerState
}

type peerState struct {
	lastReply    time.Time
	suspectUntil time.Time
}

func (h *peerHealth) state(addr string) *peerState {
	if h.m == nil {
		h.m = make(map[string]*peerState)
	}
	s, ok := h.m[addr]
	if !ok {
		s = &peerState{}
		h.m[addr] = s
	}
	return s
}

// replied records an answer from addr: it is not silent, not suspect.
func (h *peerHealth) replied(addr string, now time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := h.state(addr)
	s.lastReply, s.suspectUntil = now, time.Time{}
}

// silentSince reports whether addr has answered nothing after t.
func (h *peerHealth) silentSince(addr string, t time.Time) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	s, ok := h.m[addr]
	return !ok || s.lastReply.Before(t)
}

func (h *peerHealth) markSuspect(addr string, now time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.state(addr).suspectUntil = now.Add(suspectFor)
}

func (h *peerHealth) suspect(addr string, now time.Time) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	s, ok := h.m[addr]
	return ok && now.Before(s.suspectUntil)
}

// avoid reports whether leaderAddr should pass addr over while another
// candidate is left: it is suspect, or gossip reports its node dead or
// gone.
func (n *Node) avoid(addr string, now time.Time) bool {
	if n.rt.health.suspect(addr, now) {
		return true
	}
	n.view.mu.Lock()
	defer n.view.mu.Unlock()
	for _, m := range n.view.members {
		if m.Meta.InternalAddr == addr {
			return m.State == gossip.StateDead || m.State == gossip.StateLeft
		}
	}
	return false
}

// attemptWatch checks one remote attempt in flight (from a timer, every
// attemptCheck) and cancels it when it should be cut. mu orders the timer
// callback against stop; it is taken before the leaf locks of hints,
// health and view, never after.
type attemptWatch struct {
	n      *Node
	pid    uint16
	addr   string
	start  time.Time
	local  string // the local Raft group's leader address at the start
	cancel context.CancelFunc

	mu      sync.Mutex
	timer   *time.Timer
	reason  cutReason
	stopped bool
}

// watchAttempt arms the checks of an attempt to addr for pid; cancel
// cuts it. Call stop when the attempt returns.
func (n *Node) watchAttempt(pid uint16, addr string, cancel context.CancelFunc) *attemptWatch {
	w := &attemptWatch{n: n, pid: pid, addr: addr, start: time.Now(), local: n.localLeaderAddr(pid), cancel: cancel}
	w.mu.Lock()
	w.timer = time.AfterFunc(attemptCheck, w.check)
	w.mu.Unlock()
	return w
}

func (w *attemptWatch) check() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.stopped {
		return
	}
	now := time.Now()
	switch {
	case w.moved():
		w.reason = cutMoved
		if now.Sub(w.start) >= 2*attemptCheck && w.n.rt.health.silentSince(w.addr, w.start) {
			// Deposed and silent too: likely stopped, not just deposed
			// (a deposed leader that runs answers "not leader" at once).
			w.n.rt.health.markSuspect(w.addr, now)
		}
	case now.Sub(w.start) >= attemptSilence && w.n.rt.health.silentSince(w.addr, now.Add(-attemptSilence)):
		w.reason = cutSilent
		w.n.rt.health.markSuspect(w.addr, now)
		w.n.log.Debug("request cut: the node is silent", "partition", w.pid, "peer", w.addr)
	default:
		w.timer.Reset(attemptCheck)
		return
	}
	w.cancel()
}

// moved reports whether pid's leader is known, since the attempt began, to
// be a node other than the one the attempt went to.
func (w *attemptWatch) moved() bool {
	if a := w.n.localLeaderAddr(w.pid); a != "" && a != w.local && a != w.addr {
		return true
	}
	a, at := w.n.hints.getAt(w.pid)
	return a != "" && a != w.addr && at.After(w.start)
}

// stop disarms the checks and says whether, and why, the attempt was cut.
func (w *attemptWatch) stop() cutReason {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.stopped = true
	w.timer.Stop()
	return w.reason
}

// localLeaderAddr is the leader address of pid as the local Raft group
// sees it ("" when this node holds no replica or knows no leader).
func (n *Node) localLeaderAddr(pid uint16) string {
	if p, ok := n.host.Partition(pid); ok {
		if id, addr := p.Leader(); id != "" {
			return addr
		}
	}
	return ""
}

func (r cutReason) String() string {
	switch r {
	case cutSilent:
		return "silent"
	case cutMoved:
		return "leader moved"
	}
	return "none"
}
