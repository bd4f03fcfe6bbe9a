package node

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/roamhq/roam/hlr"
)

// The scheduler fires scheduled messages (hlr/schedule.go). It runs only
// for the partitions this node leads: on the leadership hook
// (hlr.Host.OnLeader) a partition won gets one goroutine, which reads the
// partition's action index from Pebble (so every leadership change re-arms
// from the stored state, nothing else), arms one timer for the earliest
// entry, and at its time works through the due entries:
//
//   - a pending or firing schedule is claimed (OpSchedFire, where the
//     state machine decides whether it is too late), sent through the
//     router as a normal send with the schedule id as dedup key, and
//     finished (OpSchedDone: fired, or failed with the refusal);
//   - a finished one kept long enough is forgotten.
//
// A new or edited schedule of a led partition wakes its goroutine
// (hlr.ScheduleArmEffect). A partition lost, or the node stopping, stops
// the goroutine; whatever it left half done (a claimed, unfinished fire)
// the next leader finds in the index, due, and finishes: its repeated send
// is deduplicated by the recipient's partition.

// SchedulerConfig tunes the scheduler.
type SchedulerConfig struct {
	// MaxLate is how late (after an outage) a schedule may fire; a later
	// one fails with the reason "late".
	MaxLate time.Duration
	// Retry is how soon a fire whose send or finish failed (no leader
	// reachable) is tried again.
	Retry time.Duration
	// Batch bounds the due entries one pass reads.
	Batch int
	// SendTimeout bounds one fire's send.
	SendTimeout time.Duration
}

// DefaultSchedulerConfig returns the defaults.
func DefaultSchedulerConfig() SchedulerConfig {
	return SchedulerConfig{MaxLate: 24 * time.Hour, Retry: time.Second, Batch: 128, SendTimeout: 10 * time.Second}
}

// Validate checks the configuration.
func (c SchedulerConfig) Validate() error {
	if c.MaxLate <= 0 || c.Retry <= 0 || c.Batch <= 0 || c.SendTimeout <= 0 {
		return fmt.Errorf("node: Scheduler: MaxLate, Retry, Batch and SendTimeout must be positive: %+v", c)
	}
	return nil
}

// scheduler owns one goroutine per led partition.
type scheduler struct {
	n   *Node
	cfg SchedulerConfig

	mu       sync.Mutex // leaf lock
	parts    map[uint16]*schedPart
	stopping bool
	wg       sync.WaitGroup // the partitions' goroutines
}

// schedPart is the scheduler of one led partition.
type schedPart struct {
	pid  uint16
	wake chan struct{} // buffered 1: look at the index again
	stop chan struct{} // closed when leadership ends
}

func newScheduler(n *Node, cfg SchedulerConfig) *scheduler {
	return &scheduler{n: n, cfg: cfg, parts: make(map[uint16]*schedPart)}
}

// run waits for the node to stop, then for the partitions' goroutines.
func (s *scheduler) run() {
	<-s.n.ctx.Done()
	s.mu.Lock()
	s.stopping = true
	for pid, p := range s.parts {
		close(p.stop)
		delete(s.parts, pid)
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// onLeader subscribes to the leadership hook.
func (s *scheduler) onLeader(pid uint16, leader bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if p, ok := s.parts[pid]; ok {
		close(p.stop)
		delete(s.parts, pid)
	}
	if !leader || s.stopping || s.n.ctx.Err() != nil {
		return
	}
	p := &schedPart{pid: pid, wake: make(chan struct{}, 1), stop: make(chan struct{})}
	s.parts[pid] = p
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		s.loop(p)
	}()
}

// routeArm routes hlr.ScheduleArmEffect: the partition's goroutine looks
// at its index again.
func (s *scheduler) routeArm(pid uint16, _ hlr.ScheduleArmEffect) {
	s.mu.Lock()
	p := s.parts[pid]
	s.mu.Unlock()
	if p == nil {
		return
	}
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// loop is one led partition's goroutine.
func (s *scheduler) loop(p *schedPart) {
	ctx, cancel := context.WithCancel(s.n.ctx)
	defer cancel()
	go func() {
		select {
		case <-p.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	log := s.n.log.With("partition", p.pid)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	linear := true // the first read follows the new term's barrier
	for {
		next, err := s.pass(ctx, p.pid, linear)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			log.Debug("scheduler pass failed", "err", err)
			next = time.Now().Add(s.cfg.Retry)
		} else {
			linear = false
		}
		wait := time.Hour
		if !next.IsZero() {
			wait = max(time.Until(next), 0)
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-p.wake:
		case <-timer.C:
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
	}
}

// pass handles the partition's due entries and returns when the next one
// is due (zero: none).
func (s *scheduler) pass(ctx context.Context, pid uint16, linear bool) (time.Time, error) {
	part, ok := s.n.host.Partition(pid)
	if !ok {
		return time.Time{}, hlr.ErrNotLeader
	}
	for {
		v, err := part.View(ctx, linear)
		if err != nil {
			return time.Time{}, err
		}
		now := time.Now().UnixMilli()
		var due []hlr.SchedAction
		var next int64
		err = v.SchedActions(func(a hlr.SchedAction) bool {
			if a.AtMS > now {
				next = a.AtMS
				return false
			}
			due = append(due, a)
			return len(due) < s.cfg.Batch
		})
		var scheds []*hlr.Schedule
		for _, a := range due {
			if err != nil {
				break
			}
			var sc *hlr.Schedule
			if sc, err = v.Schedule(a.User, a.ID); sc != nil {
				scheds = append(scheds, sc)
			}
		}
		v.Close()
		if err != nil {
			return time.Time{}, err
		}
		if len(due) == 0 {
			if next == 0 {
				return time.Time{}, nil
			}
			return time.UnixMilli(next), nil
		}
		if len(scheds) == 0 {
			// Index entries without their records (never written so):
			// do not spin on them.
			s.n.log.Error("scheduler: due entries without schedules", "partition", pid, "entries", len(due))
			return time.Now().Add(s.cfg.Retry), nil
		}
		failed := false
		for _, sc := range scheds {
			if err := s.act(ctx, part, sc); err != nil {
				if errors.Is(err, hlr.ErrNotLeader) || ctx.Err() != nil {
					return time.Time{}, err
				}
				s.n.log.Warn("scheduled message not finished; retrying", "partition", pid, "schedule", sc.ID, "err", err)
				failed = true
			}
		}
		if failed {
			return time.Now().Add(s.cfg.Retry), nil
		}
		linear = false
	}
}

// errSchedStalled says a due entry could not be handled yet; it is tried
// again after Retry rather than at once.
var errSchedStalled = errors.New("node: scheduled entry not due by the state machine's clock yet")

// act does what a due schedule needs: fire it, or forget it.
func (s *scheduler) act(ctx context.Context, part *hlr.Partition, sc *hlr.Schedule) error {
	if s.n.host.Held() == hlr.HoldAll {
		return errSchedStalled // a restore is installing the partitions (hlr/hold.go)
	}
	if sc.Done() {
		res, err := part.Exec(ctx, hlr.Cmd{Op: hlr.OpSchedCancel, User: sc.User, ID: sc.ID, Reason: "forget"})
		if err == nil && res.Status != hlr.StatusOK && res.Status != hlr.StatusNotFound {
			err = errSchedStalled // the state machine's clock is behind this one
		}
		return err
	}
	claim, err := part.Exec(ctx, hlr.Cmd{Op: hlr.OpSchedFire, User: sc.User, ID: sc.ID,
		Sched: &hlr.SchedLimits{MaxLateMS: s.cfg.MaxLate.Milliseconds()}})
	if err != nil {
		return err
	}
	if claim.Status == hlr.StatusTooSoon && claim.Sched != nil && claim.Sched.FireMS <= time.Now().UnixMilli() {
		return errSchedStalled // the state machine's clock is behind this one
	}
	if claim.Status != hlr.StatusOK || claim.Sched == nil {
		return nil // too late (failed and reported), edited to later, or gone
	}
	sctx, cancel := context.WithTimeout(ctx, s.cfg.SendTimeout)
	sent, err := s.n.rt.Exec(sctx, claim.Sched.SendCmd())
	cancel()
	if err != nil {
		return err // still firing: the next pass, or the next leader, sends again
	}
	done := hlr.Cmd{Op: hlr.OpSchedDone, User: sc.User, ID: sc.ID}
	switch sent.Status {
	case hlr.StatusOK:
		done.CMID, done.Seq = sent.MsgID, sent.Seq
	case hlr.StatusRefused:
		done.Reason = hlr.ReasonRefused
	default:
		done.Reason = sent.Status.String()
	}
	_, err = part.Exec(ctx, done)
	if err == nil {
		s.n.log.Debug("scheduled message fired", "schedule", sc.ID, "status", sent.Status, "late", time.Since(time.UnixMilli(sc.FireMS)))
	}
	return err
}
