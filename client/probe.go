package client

import "time"

// The liveness probe (Config.ProbeAfter, Config.ProbeTimeout).
//
// A node that is frozen (SIGSTOP), cut off or wedged keeps the TCP
// connection open and says nothing; only silence shows it. Heartbeats
// find it after an interval or two (30 s each), and a request after
// RequestTimeout (10 s). The probe finds it within about 1.3 s of a
// request (ProbeAfter 0.5 s, a look every 125 ms, ProbeTimeout 0.75 s),
// without costing idle sessions anything:
//
//  1. while a request waits, the keeper looks every ProbeAfter/4;
//  2. once the oldest waiting request is ProbeAfter old and nothing at all
//     (reply, push, pong) has arrived for ProbeAfter, it sends a ping;
//  3. anything arriving after the ping shows the node alive; if nothing
//     arrives within ProbeTimeout, the node is silent: the connection is
//     closed, its address avoided, and the session resumed elsewhere,
//     where waiting sends are retried with their cmids.
//
// A live server whose reader is held by a slow in-order request (the
// ping queued behind it) pushes a pong with request id 0 every 400 ms of
// the hold (PROTOCOL §6), so a held node is never taken for a silent one.

// serverHold is how long the server may hold an in-order request (its
// storage timeout, PROTOCOL.md §3.2); the idle heartbeat's allowance.
const serverHold = 5 * time.Second

// probeAction is what the probe does at one look.
type probeAction uint8

const (
	probeIdle   probeAction = iota // nothing waits: stop looking
	probeWait                      // look again later
	probePing                      // send a probe ping now
	probeSilent                    // the node is silent: leave it
)

// probe is the keeper's probe state for one connection.
type probe struct {
	pingAt int64 // unix nanoseconds of the probe ping in flight, 0 if none
}

// step decides what to do at now, given n waiting requests (the oldest
// sent at oldest) and when a frame last arrived. Times are unix
// nanoseconds.
func (p *probe) step(now int64, n int, oldest int64, lastRecv int64, after, timeout time.Duration) probeAction {
	if n == 0 {
		p.pingAt = 0
		return probeIdle
	}
	if p.pingAt != 0 {
		if lastRecv < p.pingAt {
			if time.Duration(now-p.pingAt) >= timeout {
				return probeSilent
			}
			return probeWait
		}
		p.pingAt = 0 // the node spoke after the ping: alive
	}
	if time.Duration(now-oldest) >= after && time.Duration(now-lastRecv) >= after {
		p.pingAt = now
		return probePing
	}
	return probeWait
}

// pongWait is how long the keeper waits for anything after a heartbeat
// ping before it leaves the node: the server's hold on a request ahead of
// the ping (a server older than its busy pongs), plus the probe's
// timeout. With the default 30 s
// heartbeat an idle session finds a silent node within 36 s (it was
// three intervals, 90 s); a healthy server answers well within it.
func pongWait(probeTimeout time.Duration) time.Duration {
	return probeTimeout + serverHold
}
