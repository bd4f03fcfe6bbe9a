package hlr

import (
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// The leadership hook. Work that only a partition's leader does and that
// lives in memory — the node's delivery repair, armed timers, hosted
// scenes — starts and stops on it. Subscribe with Host.OnLeader; any
// number of subscribers may, at any time:
//
//   - fn(pid, true) is called when this node starts leading partition pid,
//     fn(pid, false) when it stops (stepped down, partition closed, host
//     shut down);
//   - a subscriber added while the node already leads partitions is first
//     told fn(pid, true) for each of them, so it needs no separate scan;
//   - per subscriber and partition the calls alternate: true, false,
//     true...; across subscribers they come in the same order.
//
// One goroutine per host (leaderLoop) makes every call, so calls are
// serialised and a subscriber must not block (it may queue work or start
// a goroutine; it may call OnLeader itself). The loop learns of changes
// from a Raft observer that every partition shares (state and leader
// changes; non-blocking, so a full channel drops observations) and
// re-checks every partition each leaderRecheck in case one was dropped. A
// change is therefore reported within one observation, or at worst
// leaderRecheck, after Raft's state changed. A partition that leads only
// briefly may be missed entirely; a subscriber must not need every term,
// only the current state.

// leaderRecheck bounds how late a leadership change is reported when its
// observation was dropped.
const leaderRecheck = time.Second

// leaderHooks holds the subscribers of the leadership hook.
type leaderHooks struct {
	mu    sync.Mutex // leaf lock
	added []func(pid uint16, leader bool)
	// restored lists partitions whose state a restore replaced: their
	// subscribers hear (pid, false) and, if still led, (pid, true) again.
	restored []uint16
}

// markRestored makes the loop report partition pid as lost and led again.
func (h *Host) markRestored(pid uint16) {
	h.hooks.mu.Lock()
	h.hooks.restored = append(h.hooks.restored, pid)
	h.hooks.mu.Unlock()
	h.kickLeaders()
}

// OnLeader subscribes fn to the leadership hook (see above). It returns at
// once; fn hears of current leaderships from the host's leader goroutine.
// After Shutdown it does nothing.
func (h *Host) OnLeader(fn func(pid uint16, leader bool)) {
	h.hooks.mu.Lock()
	h.hooks.added = append(h.hooks.added, fn)
	h.hooks.mu.Unlock()
	h.kickLeaders()
}

func (h *Host) startLeaderLoop() {
	h.obsCh = make(chan raft.Observation, 256)
	h.obs = raft.NewObserver(h.obsCh, false, func(o *raft.Observation) bool {
		switch o.Data.(type) {
		case raft.RaftState, raft.LeaderObservation:
			return true
		}
		return false
	})
	h.leaderKick = make(chan struct{}, 1)
	h.wg.Add(1)
	go h.leaderLoop()
}

// observe registers the host's observer on a new partition's Raft.
func (h *Host) observe(r *raft.Raft) {
	r.RegisterObserver(h.obs)
}

// kickLeaders makes the loop re-check every partition now (a partition
// was opened or closed, or a subscriber added).
func (h *Host) kickLeaders() {
	select {
	case h.leaderKick <- struct{}{}:
	default:
	}
}

func (h *Host) leaderLoop() {
	defer h.wg.Done()
	t := time.NewTicker(leaderRecheck)
	defer t.Stop()
	leading := make(map[uint16]bool)
	var subs []func(uint16, bool)
	tell := func(pid uint16, leader bool) {
		for _, fn := range subs {
			fn(pid, leader)
		}
	}
	for {
		select {
		case <-h.ctx.Done():
			for pid := range leading {
				tell(pid, false)
			}
			return
		case <-h.obsCh:
		drain:
			for {
				select {
				case <-h.obsCh:
				default:
					break drain
				}
			}
		case <-h.leaderKick:
		case <-t.C:
		}
		// New subscribers first hear what is led now, then every change
		// with the others.
		h.hooks.mu.Lock()
		added, restored := h.hooks.added, h.hooks.restored
		h.hooks.added, h.hooks.restored = nil, nil
		h.hooks.mu.Unlock()
		for _, pid := range restored {
			if leading[pid] {
				delete(leading, pid)
				tell(pid, false)
			}
		}
		for _, fn := range added {
			for pid := range leading {
				fn(pid, true)
			}
		}
		subs = append(subs, added...)
		h.reportLeaders(leading, tell)
	}
}

// reportLeaders compares every partition's leadership with what was last
// reported and reports the differences.
func (h *Host) reportLeaders(leading map[uint16]bool, tell func(uint16, bool)) {
	now := make(map[uint16]bool)
	h.Each(func(p *Partition) {
		if p.IsLeader() {
			now[p.id] = true
		}
	})
	for pid := range leading {
		if !now[pid] {
			delete(leading, pid)
			tell(pid, false)
		}
	}
	for pid := range now {
		if !leading[pid] {
			leading[pid] = true
			tell(pid, true)
		}
	}
}
