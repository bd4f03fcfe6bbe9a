package sim

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/roamhq/roam/ring"
)

// runFaults executes the plan.
func (r *runner) runFaults(ctx context.Context, base time.Duration, plan []PlannedFault) {
	var wg sync.WaitGroup
	defer wg.Wait()
	for _, f := range plan {
		wait := base + f.At - r.rec.now()
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		if f.Kind == FaultDisconnect {
			d := r.devs[f.Device%len(r.devs)]
			d.mu.Lock()
			st := d.state
			d.mu.Unlock()
			if st != "online" {
				r.logf("disconnect %s skipped: %s", d.id, st)
				continue
			}
			r.fault(FaultDisconnect, d.id, fmt.Sprintf("for %v", f.Dur))
			addrs := r.addrs()
			r.away(d, false, f.Dur, addrs[f.Device%len(addrs)])
			continue
		}
		if r.cl == nil {
			continue
		}
		if f.Kind == FaultJoin {
			r.fault(FaultJoin, fmt.Sprintf("n%d", len(r.cl.Nodes)+1), "new node")
			n, err := r.cl.AddNode(r.ctx)
			if err != nil {
				r.fault("error", "join", err.Error())
			} else {
				r.logf("node %s joined: client %s", n.Name, n.Client)
			}
			continue
		}
		if f.Kind == FaultGateDrop || f.Kind == FaultGateReset {
			r.gateFault(ctx, f)
			continue
		}
		if f.Kind == FaultClientReset {
			r.clientReset(ctx, f)
			continue
		}
		r.cl.mu.Lock()
		n := r.cl.Nodes[max(f.Node, 0)%len(r.cl.Nodes)]
		r.cl.mu.Unlock()
		if n.State() != "up" {
			r.logf("%s %s skipped: %s", f.Kind, n.Name, n.State())
			continue
		}
		cut := []*Node{n}
		switch f.Kind {
		case FaultKill:
			detail := "random node"
			if ln, why := r.busyLeader(); ln != nil {
				n, detail = ln, why
				cut = []*Node{n}
			}
			r.fault(FaultKill, n.Name, fmt.Sprintf("kill -9 (%s), restart after %v", detail, f.Dur))
			n.Kill()
		case FaultPause:
			r.fault(FaultPause, n.Name, fmt.Sprintf("SIGSTOP for %v", f.Dur))
			n.Pause()
		case FaultPartition:
			if n.Proxy == nil {
				continue
			}
			cut = r.minority(n, f.Size)
			names := make([]string, len(cut))
			for i, m := range cut {
				names[i] = m.Name
			}
			r.fault(FaultPartition, strings.Join(names, "+"), fmt.Sprintf("cut off from the other nodes both ways for %v (internal port; gossip still up)", f.Dur))
			r.cl.Partition(cut)
			r.moveCutOff(cut)
		case FaultLeave:
			r.fault(FaultLeave, n.Name, fmt.Sprintf("SIGTERM, restart after %v", f.Dur))
			if err := n.Leave(); err != nil {
				r.fault("error", n.Name, err.Error())
			} else {
				r.logf("%s left", n.Name)
			}
		}
		from := r.rec.now()
		select {
		case <-ctx.Done():
		case <-time.After(f.Dur):
		}
		r.restore(n, f.Kind)
		r.cutoff(cut, f.Kind, from, r.rec.now())
		if ctx.Err() != nil {
			return
		}
	}
}

// cutoff records that the nodes were cut off from their clients' point
// of view between from and to (bounded delivery does not count it).
func (r *runner) cutoff(nodes []*Node, kind string, from, to time.Duration) {
	r.rec.mu.Lock()
	defer r.rec.mu.Unlock()
	for _, n := range nodes {
		r.rec.cutoffs = append(r.rec.cutoffs, Cutoff{Addr: n.Client, Kind: kind, From: from, To: to})
	}
}

// gateFault runs a gatedrop or gatereset on one node or all, for f.Dur.
func (r *runner) gateFault(ctx context.Context, f PlannedFault) {
	r.cl.mu.Lock()
	nodes := append([]*Node(nil), r.cl.Nodes...)
	r.cl.mu.Unlock()
	var targets []*Node
	for i, n := range nodes {
		if (f.Node == AllNodes || i == f.Node%len(nodes)) && n.State() == "up" {
			targets = append(targets, n)
		}
	}
	if len(targets) == 0 {
		r.logf("%s skipped: no node up", f.Kind)
		return
	}
	names := make([]string, len(targets))
	for i, n := range targets {
		names[i] = n.Name
	}
	target := strings.Join(names, "+")
	if f.Node == AllNodes {
		target = "all"
	}
	if f.Kind == FaultGateDrop {
		r.fault(FaultGateDrop, target, fmt.Sprintf("drop %s one-way gate items received with p=%.2f for %v", kindsString(f.Kinds), f.P, f.Dur))
	} else {
		r.fault(FaultGateReset, target, fmt.Sprintf("close every gate connection every %v for %v", f.Every, f.Dur))
	}
	for i, n := range targets {
		cctx, cancel := context.WithTimeout(r.ctx, 5*time.Second)
		var err error
		if f.Kind == FaultGateDrop {
			err = n.GateDrop(cctx, f.P, f.Kinds, f.Dur, r.cfg.Seed+uint64(i))
		} else {
			err = n.GateReset(cctx, f.Dur, f.Every)
		}
		cancel()
		if err != nil {
			r.fault("error", n.Name, err.Error())
		}
	}
	if f.Kind == FaultGateDrop {
		// Give the drops something to hit that nothing else repairs soon.
		if dropsKind(f.Kinds, "deliver") {
			r.tasks.Go(func() { r.probeQuiet(ctx) })
		}
		if dropsKind(f.Kinds, "cancel") {
			r.tasks.Go(func() { r.revokeDuring(ctx) })
		}
	}
	select {
	case <-ctx.Done():
	case <-time.After(f.Dur):
	}
	for _, n := range targets {
		cctx, cancel := context.WithTimeout(r.ctx, 5*time.Second)
		c, err := n.ClearFaults(cctx)
		cancel()
		if err != nil {
			r.fault("error", n.Name, err.Error())
			continue
		}
		r.fault("heal", n.Name, "gate faults over: "+c.String())
	}
}

// dropsKind says whether a gatedrop of kinds (nil: all) drops kind.
func dropsKind(kinds []string, kind string) bool {
	for _, k := range kinds {
		if k == kind {
			return true
		}
	}
	return len(kinds) == 0
}

// probeQuiet sends one message to every quiet user, from a friend, a
// second into a gatedrop that drops Deliver items: a quiet user gets the
// next message only seconds later, so a lost Deliver that nothing
// repairs shows as a late (or missing) delivery.
func (r *runner) probeQuiet(ctx context.Context) {
	select {
	case <-ctx.Done():
		return
	case <-time.After(time.Second):
	}
	for _, u := range r.users {
		if !u.quiet || len(u.friends) == 0 {
			continue
		}
		f := r.byName[u.friends[int(r.nghost.Load())%len(u.friends)]]
		for _, d := range f.devs {
			d.mu.Lock()
			on := d.state == "online"
			d.mu.Unlock()
			if on {
				r.send(d, u.name, fmt.Sprintf("sim:%d:p%d:%s>%s", r.cfg.Seed, r.nghost.Add(1), d.id, u.name), 200)
				break
			}
		}
	}
}

// revokeDuring revokes sessions while a gatedrop drops Cancel items: a
// password change of a user with several devices online, and a device
// that logs in on another node, each revoking a session elsewhere whose
// Cancel Location may be lost.
func (r *runner) revokeDuring(ctx context.Context) {
	select {
	case <-ctx.Done():
		return
	case <-time.After(500 * time.Millisecond):
	}
	k := int(r.nghost.Add(1))
	for i := range r.users {
		u := r.users[(k+i)%len(r.users)]
		if len(u.devs) >= 2 && u.claim() {
			r.changePassword(ctx, u, 1000+k)
			u.release()
			break
		}
	}
	addrs := r.addrs()
	for i := range r.devs {
		d := r.devs[(k+7*i)%len(r.devs)]
		d.mu.Lock()
		on, at := d.state == "online", ""
		if on {
			at = d.cl.Addr()
		}
		d.mu.Unlock()
		if !on || at == "" || !d.user.claim() {
			continue
		}
		to := addrs[0]
		for j, a := range addrs {
			if a == at {
				to = addrs[(j+1)%len(addrs)]
			}
		}
		r.moveDevice(d, to, "login_elsewhere")
		d.user.release()
		return
	}
}

func (r *runner) restore(n *Node, kind string) {
	switch kind {
	case FaultPause:
		r.fault("resume", n.Name, "SIGCONT")
		n.Resume()
	case FaultPartition:
		r.fault("heal", n.Name, "internal connections allowed again")
		r.cl.HealPartition()
	default:
		if n.State() == "down" {
			r.fault("restart", n.Name, "same data dir and addresses")
			if err := r.cl.Start(r.ctx, n); err != nil {
				r.fault("error", n.Name, "restart: "+err.Error())
			}
		}
	}
}

// minority is the side of a partition fault: n and, when size asks for
// more, the nodes after it that are up, never half of the nodes or more.
func (r *runner) minority(n *Node, size int) []*Node {
	r.cl.mu.Lock()
	nodes := append([]*Node(nil), r.cl.Nodes...)
	r.cl.mu.Unlock()
	limit := (len(nodes) - 1) / 2
	if size > limit {
		size = limit
	}
	side := []*Node{n}
	start := 0
	for i, m := range nodes {
		if m == n {
			start = i
		}
	}
	for k := 1; k < len(nodes) && len(side) < size; k++ {
		if m := nodes[(start+k)%len(nodes)]; m.State() == "up" {
			side = append(side, m)
		}
	}
	return side
}

// busyLeader finds the node that leads the partition of the user who
// received the most acked messages: the preferred leader of that
// partition by the same placement the nodes compute (ring.Place over the
// live members). Leadership moves to the preferred replica within a
// reconcile interval, so this is the actual leader except right after a
// membership change.
func (r *runner) busyLeader() (*Node, string) {
	r.rec.mu.Lock()
	busiest, most := "", uint64(0)
	for u, seq := range r.rec.maxSeq {
		if seq > most || seq == most && u < busiest {
			busiest, most = u, seq
		}
	}
	r.rec.mu.Unlock()
	if busiest == "" {
		return nil, ""
	}
	r.cl.mu.Lock()
	nodes := append([]*Node(nil), r.cl.Nodes...)
	r.cl.mu.Unlock()
	var members []ring.Member
	byName := map[string]*Node{}
	for _, n := range nodes {
		if n.State() != "down" {
			members = append(members, ring.Member{ID: n.Name})
			byName[n.Name] = n
		}
	}
	pid := ring.PartitionOf(busiest, Partitions)
	pl, err := ring.Place(Partitions, 3, members)
	if err != nil {
		return nil, ""
	}
	n := byName[pl.Leader(pid)]
	if n == nil || n.State() != "up" {
		return nil, ""
	}
	return n, fmt.Sprintf("preferred leader of partition %d, home of busiest recipient %s", pid, busiest)
}

// lastFaultEnd is when the last node fault ended (its heal, resume or
// restart, or the fault itself for a join), 0 when there was none.
func (r *runner) lastFaultEnd() time.Duration {
	r.fmu.Lock()
	defer r.fmu.Unlock()
	var last time.Duration
	for _, f := range r.faults {
		switch f.Kind {
		case FaultDisconnect, "password", "delete", "backlog", "relogin", "error":
			continue // client-side and workload events
		}
		if f.At > last {
			last = f.At
		}
	}
	return last
}

// heal resumes paused nodes and restarts dead ones.
func (r *runner) heal() {
	if r.cl == nil {
		return
	}
	r.cl.mu.Lock()
	nodes := append([]*Node(nil), r.cl.Nodes...)
	r.cl.mu.Unlock()
	r.cl.HealPartition()
	for _, n := range nodes {
		switch n.State() {
		case "paused":
			r.restore(n, FaultPause)
		case "down":
			r.restore(n, FaultKill)
		}
	}
}
