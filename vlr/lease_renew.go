package vlr

import (
	"context"
	"sync"
	"time"

	"github.com/roamhq/roam/hlr"
	"github.com/roamhq/roam/ring"
)

// The renewer validates session leases in batches: it gathers the
// sessions whose renewal is due for LeaseConfig.BatchDelay, groups them
// by home partition and sends one QueryValidate per partition (at most
// hlr.MaxValidate sessions each, maxRenewing queries at once), answered
// by the partition leader from the location records after its term's
// barrier. Each answer grants a session's lease from the query's send
// time, revokes it, or (home register unreachable, or behind) leaves it
// as it was.
//
// Goroutines: one loop per server (started by New, stops at Shutdown),
// and one per query in flight. Lock order: renewer.mu is a leaf, taken
// under session.mu when a session queues itself.
type renewer struct {
	srv  *Server
	wake chan struct{}
	sem  chan struct{}

	mu    sync.Mutex
	queue []*session
	retry []*session // to queue again after RetryAfter (later)
}

// maxRenewing bounds the renewal queries in flight.
const maxRenewing = 64

func newRenewer(s *Server) *renewer {
	return &renewer{srv: s, wake: make(chan struct{}, 1), sem: make(chan struct{}, maxRenewing)}
}

// later queues s for renewal after RetryAfter (session.retryRenewal).
func (r *renewer) later(s *session) {
	r.mu.Lock()
	r.retry = append(r.retry, s)
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// add queues s for renewal (its lease is marked pending).
func (r *renewer) add(s *session) {
	r.mu.Lock()
	r.queue = append(r.queue, s)
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

func (r *renewer) loop() {
	var t *time.Timer
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	defer retry.Stop()
	armed := false
	for {
		select {
		case <-r.wake:
		case <-retry.C:
			armed = false
			r.mu.Lock()
			again := r.retry
			r.retry = nil
			r.mu.Unlock()
			for _, s := range again {
				s.retryRenewal()
			}
		case <-r.srv.stopping:
			r.failAll()
			return
		}
		r.mu.Lock()
		if len(r.retry) > 0 && !armed {
			retry.Reset(r.srv.cfg.Lease.RetryAfter)
			armed = true
		}
		empty := len(r.queue) == 0
		r.mu.Unlock()
		if empty {
			continue
		}
		if d := r.srv.cfg.Lease.BatchDelay; d > 0 {
			if t == nil {
				t = time.NewTimer(d)
			} else {
				t.Reset(d)
			}
			select {
			case <-t.C:
			case <-r.srv.stopping:
				r.failAll()
				return
			}
		}
		r.mu.Lock()
		batch := r.queue
		r.queue = nil
		r.mu.Unlock()
		for _, group := range r.group(batch) {
			select {
			case r.sem <- struct{}{}:
			case <-r.srv.stopping:
				r.fail(group)
				continue
			}
			r.srv.goFunc(func() {
				defer func() { <-r.sem }()
				r.validate(group)
			})
		}
	}
}

// group splits a batch by home partition, in chunks of hlr.MaxValidate.
func (r *renewer) group(batch []*session) [][]*session {
	p := r.srv.cfg.Partitions
	if p <= 0 {
		out := make([][]*session, len(batch))
		for i, s := range batch {
			out[i] = []*session{s}
		}
		return out
	}
	byPID := make(map[uint16][]*session)
	for _, s := range batch {
		// The partition the group's QueryValidate is routed to (by
		// Query.Key, as every request is).
		pid := ring.PartitionOf(validateQuery(s.user).Key(), p)
		byPID[pid] = append(byPID[pid], s)
	}
	var out [][]*session
	for _, g := range byPID {
		for len(g) > 0 {
			n := min(len(g), hlr.MaxValidate)
			out = append(out, g[:n])
			g = g[n:]
		}
	}
	return out
}

// validateQuery is the QueryValidate for sessions of user's partition.
func validateQuery(user string) hlr.Query {
	return hlr.Query{Kind: hlr.QueryValidate, User: user}
}

// validate asks the leader of one partition about a group of sessions.
func (r *renewer) validate(group []*session) {
	srv := r.srv
	q := validateQuery(group[0].user)
	q.Node, q.Sessions = srv.cfg.NodeID, make([]hlr.SessionRef, len(group))
	for i, s := range group {
		q.Sessions[i] = hlr.SessionRef{User: s.user, Device: s.device, Epoch: s.epoch, CredGen: s.credGen}
	}
	ctx, cancel := context.WithTimeout(srv.ctx, srv.cfg.RequestTimeout)
	defer cancel()
	sent := srv.cfg.Now()
	ans, err := srv.home.Query(ctx, q)
	if err != nil || len(ans.Reasons) != len(group) {
		if err != nil {
			srv.log.Debug("lease renewal failed", "sessions", len(group), "err", err)
		}
		r.fail(group)
		return
	}
	for i, s := range group {
		switch reason := ans.Reasons[i]; reason {
		case hlr.NotYet:
			s.renewed(false, "", sent)
		default:
			s.renewed(true, reason, sent)
		}
	}
}

func (r *renewer) fail(group []*session) {
	for _, s := range group {
		s.renewed(false, "", time.Time{})
	}
}

// failAll ends the renewals still queued at shutdown.
func (r *renewer) failAll() {
	r.mu.Lock()
	batch := r.queue
	r.queue = nil
	r.mu.Unlock()
	r.fail(batch)
}
