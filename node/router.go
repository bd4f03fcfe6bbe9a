package node

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/roamhq/roam/hlr"
	"github.com/roamhq/roam/ring"
)

// router sends each home-register command or query to the leader of the
// partition that is home to its partition key (Cmd.Key, Query.Key: a user,
// or a group): the local partition when this node
// leads it, else another node through the gate (remote.go picks which, and
// cuts an attempt at a silent node or a deposed leader short, attempt.go).
// A partition with no leader yet (an election is running) is retried with
// backoff until the context ends.
type router struct {
	host       *hlr.Host
	partitions int
	remote     remoteCaller // nil: local partitions only
	health     peerHealth   // which peers answer (attempt.go)
}

// newRouter makes the router over host's partitions, reaching the others
// through remote (nil for none).
func newRouter(host *hlr.Host, partitions int, remote remoteCaller) *router {
	return &router{host: host, partitions: partitions, remote: remote}
}

// sendOutcome says how far a remote attempt got.
type sendOutcome uint8

const (
	notSent    sendOutcome = iota // no node to send to
	sent                          // sent (it may have been applied)
	redirected                    // sent, and the leader is known to be elsewhere now: retry at once
)

// remoteCaller forwards a request to the leader of a partition on another
// node. Failures worth another attempt come back as hlr.ErrNotLeader.
type remoteCaller interface {
	exec(ctx context.Context, pid uint16, cmd hlr.Cmd, attempt int) (hlr.Result, sendOutcome, error)
	query(ctx context.Context, pid uint16, q hlr.Query, attempt int) (*hlr.Answer, sendOutcome, error)
}

// quickRetries bounds the retries without backoff after redirects, so
// that two nodes pointing at each other cannot spin a request.
const quickRetries = 3

// partitionOf is the home partition of a partition key (Cmd.Key,
// Query.Key).
func (r *router) partitionOf(key string) uint16 {
	return ring.PartitionOf(key, r.partitions)
}

// Exec implements hlr.Router and vlr.Home.
//
// A command may reach the state machine more than once: an attempt that
// failed (cut, connection lost, leadership lost while proposing) may still
// have been applied. Sends carry their dedup key and most commands are
// idempotent; settle corrects the answer of the few that are not.
func (r *router) Exec(ctx context.Context, cmd hlr.Cmd) (hlr.Result, error) {
	pid := r.partitionOf(cmd.Key())
	var last error
	tried := false // an earlier attempt may have applied cmd
	backoff, quick := 0, 0
	for attempt := 0; ; attempt++ {
		out := notSent
		var res hlr.Result
		var err error
		if p, ok := r.host.Partition(pid); ok && p.IsLeader() {
			res, err = p.Exec(ctx, cmd)
			out = sent
		} else if r.remote != nil {
			res, out, err = r.remote.exec(ctx, pid, cmd, attempt)
		}
		if out != notSent && !errors.Is(err, hlr.ErrNotLeader) {
			if err == nil && tried {
				return r.settle(ctx, cmd, res)
			}
			return res, err
		}
		if out != notSent {
			tried, last = true, err
		}
		if out == redirected && quick < quickRetries && ctx.Err() == nil {
			quick++
			backoff = 0
			continue
		}
		if err := wait(ctx, backoff); err != nil {
			return hlr.Result{}, unavailable(pid, last, err)
		}
		backoff++
	}
}

// settle corrects the answer of a command that succeeded on a retry after
// an attempt that may itself have been applied: for the commands a second
// application answers differently, the answer of the first is given.
//
//   - delete_account: the account is gone either way (not_found means an
//     earlier attempt deleted it; the session asking exists, so the
//     account did);
//   - friend_decline: no_request means an earlier attempt declined it;
//   - group_leave, group_kick, group_delete: refused means an earlier
//     attempt took the member out (or deleted the group);
//   - sched_cancel: not_found means an earlier attempt removed the
//     schedule (the caller's request; the scheduler's forget is left as
//     answered);
//   - role_unlink (a deletion): not_found means an earlier attempt
//     deleted the role; its claim id went with that attempt's answer, so
//     the claim stays, an orphan another account may reclaim (hlr/role.go);
//
// (A retried resume needs nothing here: the home register itself grants a
// resume whose token an earlier attempt of the same resume rotated, see
// hlr's retriedResume, which also covers the client retrying.)
//
// logout and purge answer "stale" on a second application, which callers
// ignore; login and set_creds bump the epoch or credential generation once
// more, which is harmless; every other command (send by its dedup key) is
// idempotent.
func (r *router) settle(ctx context.Context, cmd hlr.Cmd, res hlr.Result) (hlr.Result, error) {
	switch {
	case cmd.Op == hlr.OpDeleteAccount && res.Status == hlr.StatusNotFound,
		cmd.Op == hlr.OpFriendDecline && res.Status == hlr.StatusNoRequest,
		(cmd.Op == hlr.OpGroupLeave || cmd.Op == hlr.OpGroupKick || cmd.Op == hlr.OpGroupDelete) && res.Status == hlr.StatusRefused,
		cmd.Op == hlr.OpSchedCancel && cmd.Reason == "" && res.Status == hlr.StatusNotFound,
		cmd.Op == hlr.OpRoleUnlink && cmd.Reason == "" && res.Status == hlr.StatusNotFound:
		return hlr.Result{}, nil
	}
	return res, nil
}

// Query implements vlr.Home. Reads change nothing, so any attempt may be
// retried.
func (r *router) Query(ctx context.Context, q hlr.Query) (*hlr.Answer, error) {
	pid := r.partitionOf(q.Key())
	var last error
	backoff, quick := 0, 0
	for attempt := 0; ; attempt++ {
		out := notSent
		var ans *hlr.Answer
		var err error
		if p, ok := r.host.Partition(pid); ok && p.IsLeader() {
			ans, err = p.Query(ctx, q)
			out = sent
		} else if r.remote != nil {
			ans, out, err = r.remote.query(ctx, pid, q, attempt)
		}
		if out != notSent && !errors.Is(err, hlr.ErrNotLeader) {
			return ans, err
		}
		if out != notSent {
			last = err
		}
		if out == redirected && quick < quickRetries && ctx.Err() == nil {
			quick++
			backoff = 0
			continue
		}
		if err := wait(ctx, backoff); err != nil {
			return nil, unavailable(pid, last, err)
		}
		backoff++
	}
}

func unavailable(pid uint16, last, ctxErr error) error {
	if last == nil {
		last = hlr.ErrNotLeader
	}
	return fmt.Errorf("%w: partition %d has no reachable leader (%v): %v", hlr.ErrTimeout, pid, last, ctxErr)
}

// wait sleeps before the next attempt: 5ms doubling to 200ms.
func wait(ctx context.Context, attempt int) error {
	d := 5 * time.Millisecond << min(attempt, 6)
	if d > 200*time.Millisecond {
		d = 200 * time.Millisecond
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
