package hlr

import (
	"time"

	"github.com/hashicorp/raft"
)

// The leadership hook. Config.OnLeader(pid, true) is called when this node
// starts leading partition pid, and OnLeader(pid, false) when it stops
// (stepped down, partition closed, host shut down). Work that only a
// leader does and that lives in memory — the node's delivery repair, armed
// timers — starts and stops on it.
//
// One goroutine per host (leaderLoop, only if OnLeader is set) makes all
// the calls, so they are serialised and, per partition, alternate: true,
// false, true... It learns of changes from a Raft observer that every
// partition shares (state and leader changes; non-blocking, so a full
// channel drops observations) and re-checks every partition each
// leaderRecheck in case one was dropped. A change is therefore reported
// within one observation, or at worst leaderRecheck, after Raft's state
// changed. A partition that leads only briefly may be missed entirely;
// a caller must not need every term, only the current state.

// leaderRecheck bounds how late a leadership change is reported when its
// observation was dropped.
const leaderRecheck = time.Second

func (h *Host) startLeaderLoop() {
	if h.cfg.OnLeader == nil {
		return
	}
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
	if h.obs != nil {
		r.RegisterObserver(h.obs)
	}
}

// kickLeaders makes the loop re-check every partition now (a partition
// was opened or closed).
func (h *Host) kickLeaders() {
	if h.leaderKick == nil {
		return
	}
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
	for {
		select {
		case <-h.ctx.Done():
			for pid := range leading {
				h.cfg.OnLeader(pid, false)
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
		h.reportLeaders(leading)
	}
}

// reportLeaders compares every partition's leadership with what was last
// reported and reports the differences.
func (h *Host) reportLeaders(leading map[uint16]bool) {
	now := make(map[uint16]bool)
	h.Each(func(p *Partition) {
		if p.IsLeader() {
			now[p.id] = true
		}
	})
	for pid := range leading {
		if !now[pid] {
			delete(leading, pid)
			h.cfg.OnLeader(pid, false)
		}
	}
	for pid := range now {
		if !leading[pid] {
			leading[pid] = true
			h.cfg.OnLeader(pid, true)
		}
	}
}
