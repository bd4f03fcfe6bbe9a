package node

import (
	"context"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/roamhq/roam/hlr"
	"github.com/roamhq/roam/ring"
)

// groupRegistrar keeps the leaders of the groups' partitions informed of
// which local users have a synced session in which group (the vlr tells
// it, vlr.GroupBus), so that each leader forwards every entry once to this
// node. A registration states the whole local set for a group (it
// replaces the last one, so a repeat or a late one is harmless), and is
// sent:
//
//   - at once (within a tick) when the set of a group changes;
//   - for every group of a partition, when that partition's leader asks
//     (a new leader starts with no interest: regroup);
//   - for every group, every refresh interval, so that a lost request or
//     a leader change nobody announced is repaired, and so that a leader
//     forgets a node that stopped refreshing.
//
// The leader answers each registration with the group's head; the
// registrar passes it on to the local sessions (vlr.GroupNotice), which
// catch up what a new leader could not forward to them.
type groupRegistrar struct {
	mu    sync.Mutex
	local map[string]map[string]struct{} // group name → local users
	dirty map[string]struct{}            // groups to register
	kick  chan struct{}

	partitions int
	refresh    time.Duration
	// register sends regs (all of partition pid) to pid's leader and
	// returns each group's head, in order.
	register func(ctx context.Context, pid uint16, regs []groupReg) ([]uint64, error)
	// notice hands a group's head to the local sessions.
	notice func(group string, head uint64)
	// registered counts registrations sent (tests, status).
	registered atomic.Int64
}

// groupReg is one registration: the local users of a group (none: drop
// this node's interest).
type groupReg struct {
	Group string   `msgpack:"g"`
	Users []string `msgpack:"u,omitempty"`
}

func newGroupRegistrar(partitions int, refresh time.Duration,
	register func(context.Context, uint16, []groupReg) ([]uint64, error),
	notice func(string, uint64)) *groupRegistrar {
	return &groupRegistrar{
		local: make(map[string]map[string]struct{}), dirty: make(map[string]struct{}),
		kick: make(chan struct{}, 1), partitions: partitions, refresh: refresh,
		register: register, notice: notice,
	}
}

// GroupInterest implements vlr.GroupBus. It does not block.
func (r *groupRegistrar) GroupInterest(group, user string, on bool) {
	r.mu.Lock()
	users := r.local[group]
	switch {
	case on:
		if users == nil {
			users = make(map[string]struct{})
			r.local[group] = users
		}
		users[user] = struct{}{}
	case users != nil:
		delete(users, user)
		// An empty set stays until it has been sent: it is the message
		// that drops the interest.
	}
	r.dirty[group] = struct{}{}
	r.mu.Unlock()
	r.poke()
}

func (r *groupRegistrar) poke() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// regroup marks every group of partition pid for registration (its new
// leader asked).
func (r *groupRegistrar) regroup(pid uint16) {
	r.mu.Lock()
	for g := range r.local {
		if r.pidOf(g) == pid {
			r.dirty[g] = struct{}{}
		}
	}
	r.mu.Unlock()
	r.poke()
}

func (r *groupRegistrar) pidOf(group string) uint16 {
	return ring.PartitionOf(hlr.GroupKey(group), r.partitions)
}

// localUsers returns the local users of group g (tests, status).
func (r *groupRegistrar) localUsers(g string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.local[g])
}

// loop sends registrations until ctx ends.
func (r *groupRegistrar) loop(ctx context.Context) {
	refresh := time.NewTicker(r.refresh)
	defer refresh.Stop()
	retry := time.NewTimer(time.Hour)
	defer retry.Stop()
	failures := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.kick:
		case <-retry.C:
		case <-refresh.C:
			r.mu.Lock()
			for g := range r.local {
				r.dirty[g] = struct{}{}
			}
			r.mu.Unlock()
		}
		if r.flush(ctx) {
			failures = 0
			continue
		}
		failures++
		retry.Reset(backoffDelay(failures))
	}
}

func backoffDelay(failures int) time.Duration {
	return min(50*time.Millisecond<<min(failures, 5), time.Second)
}

// flush sends every pending registration, batched per partition; it
// reports whether all of them went through (what failed stays pending).
func (r *groupRegistrar) flush(ctx context.Context) bool {
	r.mu.Lock()
	byPid := make(map[uint16][]groupReg)
	for g := range r.dirty {
		var users []string
		for u := range r.local[g] {
			users = append(users, u)
		}
		sort.Strings(users)
		byPid[r.pidOf(g)] = append(byPid[r.pidOf(g)], groupReg{Group: g, Users: users})
		if len(users) == 0 {
			delete(r.local, g)
		}
	}
	r.dirty = make(map[string]struct{})
	r.mu.Unlock()
	if len(byPid) == 0 {
		return true
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := true
	for pid, regs := range byPid {
		wg.Add(1)
		go func(pid uint16, regs []groupReg) {
			defer wg.Done()
			cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			heads, err := r.register(cctx, pid, regs)
			cancel()
			r.registered.Add(int64(len(regs)))
			if err != nil || len(heads) != len(regs) {
				r.mu.Lock()
				for _, reg := range regs {
					r.dirty[reg.Group] = struct{}{}
					if len(reg.Users) == 0 && r.local[reg.Group] == nil {
						// Keep the drop pending: an empty set.
						r.local[reg.Group] = make(map[string]struct{})
					}
				}
				r.mu.Unlock()
				mu.Lock()
				ok = false
				mu.Unlock()
				return
			}
			for i, reg := range regs {
				if len(reg.Users) > 0 {
					r.notice(reg.Group, heads[i])
				}
			}
		}(pid, regs)
	}
	wg.Wait()
	return ok
}
