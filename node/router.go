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
// partition that is home to its user. A partition with no leader yet (an
// election is running) is retried with backoff until the context ends.
type router struct {
	host       *hlr.Host
	partitions int
	remote     remoteCaller // nil on a single node
}

// remoteCaller forwards a request to the leader of a partition on another
// node; ok is false when no other node is known to lead it.
type remoteCaller interface {
	exec(ctx context.Context, pid uint16, cmd hlr.Cmd, attempt int) (res hlr.Result, ok bool, err error)
	query(ctx context.Context, pid uint16, q hlr.Query, attempt int) (ans *hlr.Answer, ok bool, err error)
}

func (r *router) partitionOf(user string) uint16 {
	return ring.PartitionOf(user, r.partitions)
}

// Exec implements hlr.Router and vlr.Home.
func (r *router) Exec(ctx context.Context, cmd hlr.Cmd) (hlr.Result, error) {
	pid := r.partitionOf(cmd.User)
	var last error
	for attempt := 0; ; attempt++ {
		if p, ok := r.host.Partition(pid); ok && p.IsLeader() {
			res, err := p.Exec(ctx, cmd)
			if !errors.Is(err, hlr.ErrNotLeader) {
				return res, err
			}
			last = err
		} else if r.remote != nil {
			res, ok, err := r.remote.exec(ctx, pid, cmd, attempt)
			if ok && !errors.Is(err, hlr.ErrNotLeader) {
				return res, err
			}
			last = err
		}
		if err := wait(ctx, attempt); err != nil {
			return hlr.Result{}, unavailable(pid, last, err)
		}
	}
}

// Query implements vlr.Home.
func (r *router) Query(ctx context.Context, q hlr.Query) (*hlr.Answer, error) {
	pid := r.partitionOf(q.User)
	var last error
	for attempt := 0; ; attempt++ {
		if p, ok := r.host.Partition(pid); ok && p.IsLeader() {
			ans, err := p.Query(ctx, q)
			if !errors.Is(err, hlr.ErrNotLeader) {
				return ans, err
			}
			last = err
		} else if r.remote != nil {
			ans, ok, err := r.remote.query(ctx, pid, q, attempt)
			if ok && !errors.Is(err, hlr.ErrNotLeader) {
				return ans, err
			}
			last = err
		}
		if err := wait(ctx, attempt); err != nil {
			return nil, unavailable(pid, last, err)
		}
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
