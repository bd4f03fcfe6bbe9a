package node

import (
	"context"
	"errors"
	"math"
	"time"

	"github.com/roamhq/roam/wire"
)

// Drain (lame-duck mode, as in NATS). A draining node
//
//  1. gossips its draining flag: no node sends it clients, and no
//     leader hands it a leadership (leaderCounts, liveVoters);
//  2. turns away every session established here (placeSession: a
//     redirect with reason "drain");
//  3. hands off the leadership of every partition it leads, again each
//     round while it drains;
//  4. waits DrainWait, then moves its sessions to the other nodes, the
//     least loaded first, spread evenly over DrainSpread;
//  5. answers /readyz "not ready: draining".
//
// It stays a member and keeps its replicas: Undrain reverses all of it
// (sessions come back through the balancer), Shutdown then makes it a
// leave. Clients resume their sessions where they are sent; nothing is
// lost (vlr/redirect.go).

// ErrShutDown is returned by Drain and Undrain on a node that is shutting
// down.
var ErrShutDown = errors.New("node: shutting down")

// Drain starts draining the node and returns at once; calling it again
// does nothing. See Draining.
func (n *Node) Drain() error {
	n.drainMu.Lock()
	defer n.drainMu.Unlock()
	if n.closed.Load() {
		return ErrShutDown
	}
	if n.drainStop != nil {
		return nil
	}
	ctx, cancel := context.WithCancel(n.ctx)
	n.drainStop = cancel
	n.draining.Store(true)
	n.gossip.SetDraining(true)
	n.log.Info("draining", "wait", n.cfg.Clients.DrainWait, "spread", n.cfg.Clients.DrainSpread, "sessions", n.vlr.Sessions())
	n.goFunc(func() { n.drainLoop(ctx) })
	return nil
}

// Undrain ends a drain: the node takes clients and leaderships again.
func (n *Node) Undrain() error {
	n.drainMu.Lock()
	defer n.drainMu.Unlock()
	if n.closed.Load() {
		return ErrShutDown
	}
	if n.drainStop == nil {
		return nil
	}
	n.drainStop()
	n.drainStop = nil
	n.draining.Store(false)
	n.gossip.SetDraining(false)
	n.log.Info("undrained")
	return nil
}

// Draining reports whether the node is draining.
func (n *Node) Draining() bool { return n.draining.Load() }

// drainLoop hands off the leaderships, waits, and spreads the sessions'
// moves; it runs until Undrain or Shutdown.
func (n *Node) drainLoop(ctx context.Context) {
	tick := 100 * time.Millisecond
	waitUntil := time.Now().Add(n.cfg.Clients.DrainWait)
	var spreadStart time.Time
	total, moved := 0, 0
	for ctx.Err() == nil {
		n.handOffAll(n.LeaderPartitions())
		now := time.Now()
		if !now.Before(waitUntil) {
			if spreadStart.IsZero() {
				spreadStart, total = now, n.vlr.Staying()
				n.log.Info("drain: moving the sessions", "sessions", total)
			}
			// Move as many as the spread says by now (all at its end),
			// and anything that came back since (a client whose other
			// choices failed).
			due := total
			if spread := n.cfg.Clients.DrainSpread; spread > 0 {
				f := min(1, float64(now.Sub(spreadStart))/float64(spread))
				due = int(math.Ceil(f * float64(total)))
			}
			if now.Sub(spreadStart) >= n.cfg.Clients.DrainSpread {
				due = moved + n.vlr.Staying()
			}
			if due > moved {
				moved += n.vlr.Redirect(due-moved, func() (string, string) { return n.pickTarget(wire.RedirectDrain) })
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(tick):
		}
	}
}

// redirectAll moves every session to the other nodes, spread by load (a
// graceful shutdown); it returns how many it moved.
func (n *Node) redirectAll() int {
	return n.vlr.Redirect(math.MaxInt, func() (string, string) { return n.pickTarget(wire.RedirectDrain) })
}

// Sessions returns the number of client sessions logged in here.
func (n *Node) Sessions() int { return n.vlr.Sessions() }
