package hlr

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// Partition is one home-register partition: a Raft group whose log, stable
// store and state live in the node's Pebble DB.
type Partition struct {
	id      uint16
	raft    *raft.Raft
	fsm     *FSM
	drop    func() error // deletes the Raft log and stable store
	snapDir string
	snaps   raft.SnapshotStore
	trans   raft.Transport
	prop    *proposer
	ver     verifier
	effects Effects
	kick    func() // wakes the host's maintenance loop
	// restored tells the host's leadership loop that the state was
	// replaced by a restore (backup.go).
	restored func()
	held     func() Hold // the host's hold on the outbox (hold.go)
	log      *slog.Logger
	now      func() time.Time

	barrierMu   sync.Mutex
	barrierTerm uint64

	wg       sync.WaitGroup
	stopOnce sync.Once
	stopErr  error
}

// ID returns the partition number.
func (p *Partition) ID() uint16 { return p.id }

// Raft exposes the underlying group for membership changes and inspection.
func (p *Partition) Raft() *raft.Raft { return p.raft }

// IsLeader reports whether this node currently leads the partition.
func (p *Partition) IsLeader() bool { return p.raft.State() == raft.Leader }

// Leader returns the current leader's server id and address, if known.
func (p *Partition) Leader() (id string, addr string) {
	a, i := p.raft.LeaderWithID()
	return string(i), string(a)
}

// AppliedIndex returns the last Raft index the state machine has applied.
func (p *Partition) AppliedIndex() uint64 { return p.fsm.AppliedIndex() }

// Exec commits cmd through Raft at this node, which must be the leader, and
// then hands the command's effects (Result.Effects) to the host's Effects.
func (p *Partition) Exec(ctx context.Context, cmd Cmd) (Result, error) {
	if !p.IsLeader() {
		return Result{}, ErrNotLeader
	}
	res, err := p.prop.propose(ctx, cmd)
	if err != nil {
		return Result{}, err
	}
	if res.Status == StatusOK && (cmd.Op == OpLogin || cmd.Op == OpResume) {
		res.Login = p.loginView(cmd, res)
	}
	if len(res.Effects) > 0 {
		p.effects.Run(p.id, res.Effects)
	}
	if res.Outbox {
		p.kick() // deliver the new outbox items now, not at the next tick
	}
	return res, nil
}

// View returns a read view of the partition's state at this node, which
// must be the leader. With linearizable set the view reflects every write
// acknowledged before the call:
//
//   - after winning an election the leader commits a Barrier once per term;
//     when it returns the state machine holds every entry of earlier terms;
//   - every write acknowledged in the current term was applied to this
//     node's state machine before its Exec returned;
//   - each read then confirms that this node still leads in that same term
//     (VerifyLeader, one round shared by concurrent readers), so no other
//     leader can have acknowledged a write the view would miss.
//
// Waiting for the commit index instead would not work: barriers and the
// no-op entry of a new term are never handed to a BatchingFSM, so the state
// machine's applied index can stay below the commit index indefinitely.
func (p *Partition) View(ctx context.Context, linearizable bool) (*View, error) {
	if !p.IsLeader() {
		return nil, ErrNotLeader
	}
	if linearizable {
		for {
			term, err := p.barrier(ctx)
			if err != nil {
				return nil, err
			}
			if err := p.ver.verify(ctx, p.raft, p.prop.done); err != nil {
				return nil, mapRaftErr(err)
			}
			if p.raft.CurrentTerm() == term {
				break
			}
			// Leadership was lost and won again meanwhile: the new term
			// needs its own barrier.
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("%w: %v", ErrTimeout, err)
			}
		}
	}
	return p.fsm.Reader(), nil
}

// barrier makes sure a Barrier has been committed in the current term, so
// that the state machine holds every entry of earlier terms. It returns the
// term it holds for.
func (p *Partition) barrier(ctx context.Context) (uint64, error) {
	p.barrierMu.Lock()
	defer p.barrierMu.Unlock()
	term := p.raft.CurrentTerm()
	if p.barrierTerm == term {
		return term, nil
	}
	timeout := 5 * time.Second
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
		if timeout <= 0 {
			return 0, fmt.Errorf("%w: %v", ErrTimeout, context.DeadlineExceeded)
		}
	}
	if err := futureError(p.raft.Barrier(timeout), p.prop.done); err != nil {
		return 0, mapRaftErr(err)
	}
	// The barrier was committed by a leader of term; if the term moved on
	// meanwhile, the caller notices and asks again.
	p.barrierTerm = term
	return term, nil
}

// maintain runs the leader's background duties once: deliver pending outbox
// items through the router and collect expired data.
func (p *Partition) maintain(ctx context.Context, router Router) {
	if !p.IsLeader() {
		return
	}
	if _, err := p.barrier(ctx); err != nil {
		return
	}
	v := p.fsm.Reader()
	items, err := v.Outbox(64)
	due, err2 := v.HasExpired(p.now().UnixMilli())
	v.Close()
	if err != nil || err2 != nil {
		p.log.Warn("maintenance read failed", "err", errors.Join(err, err2))
		return
	}
	held := p.held()
	if router != nil && held != HoldAll {
		for _, it := range items {
			if _, err := router.Exec(ctx, it.Cmd); err != nil {
				p.log.Debug("outbox delivery failed; will retry", "op", it.Cmd.Op, "to", it.Cmd.User, "err", err)
				break
			}
			if held == HoldDone {
				continue // delivered, kept: a backup is being taken (hold.go)
			}
			if _, err := p.Exec(ctx, Cmd{Op: OpOutboxDone, ID: it.ID}); err != nil {
				break
			}
		}
	}
	for due && ctx.Err() == nil {
		res, err := p.Exec(ctx, Cmd{Op: OpExpire, Limit: defaultExpireLimit})
		if err != nil {
			return
		}
		due = res.More
	}
}

// hasOutbox reports whether undelivered outbox items exist.
func (p *Partition) hasOutbox() bool {
	v := p.fsm.Reader()
	defer v.Close()
	items, err := v.Outbox(1)
	return err == nil && len(items) > 0
}

// shutdown stops the Raft group and its goroutines. It is safe to call
// more than once.
func (p *Partition) shutdown() error {
	p.stopOnce.Do(func() {
		err := p.raft.Shutdown().Error()
		close(p.prop.done)
		p.wg.Wait()
		close(p.prop.stopped)
		if c, ok := p.trans.(io.Closer); ok {
			err = errors.Join(err, c.Close())
		}
		p.stopErr = err
	})
	return p.stopErr
}
