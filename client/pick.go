package client

import (
	"slices"
	"time"

	"github.com/roamhq/roam/wire"
)

// Where to connect (PROTOCOL.md §10.2).
//
// A node may move the session: a redirect push (the reason and the nodes'
// loads) and a goodbye 406 naming the node to resume at. The client
// follows at most maxRedirectHops redirects in a row (a connection that
// stays up HealthyAfter, or a new login, starts the count again), each
// after the reconnect backoff; past that it ignores the named node and
// picks one itself. When it picks (no redirect to follow), it tries the
// nodes from Welcome least loaded first (as the last redirect push told,
// within loadSlack of the least), and among those the one with the
// shortest measured round trip (the Hello/Welcome exchange of its last
// dial).

// maxRedirectHops is how many redirects in a row the client follows.
const maxRedirectHops = 3

// loadSlack: nodes whose load is within this fraction (or 10 sessions)
// of the least loaded count as least loaded.
const loadSlack = 0.2

// nodePick is what the client knows of the nodes. Guarded by Client.mu.
type nodePick struct {
	loads map[string]uint32        // sessions by client address, from the last redirect push
	rtt   map[string]time.Duration // last Hello/Welcome round trip by address
	hops  int                      // redirects followed in a row
}

func (p *nodePick) measured(addr string, d time.Duration) {
	if p.rtt == nil {
		p.rtt = map[string]time.Duration{}
	}
	p.rtt[addr] = d
}

// order returns addrs, the least loaded by round trip first, then the
// rest by load; unknown loads and round trips sort last, the order of
// addrs breaking ties.
func (p *nodePick) order(addrs []string) []string {
	out := slices.Clone(addrs)
	if len(p.loads) == 0 && len(p.rtt) == 0 {
		return out
	}
	least := -1
	for _, a := range out {
		if l, ok := p.loads[a]; ok && (least < 0 || int(l) < least) {
			least = int(l)
		}
	}
	group := func(a string) int { // 0: least loaded, 1: others known, 2: unknown
		l, ok := p.loads[a]
		switch {
		case !ok:
			return 2
		case float64(l) <= float64(least)*(1+loadSlack) || int(l) <= least+10:
			return 0
		}
		return 1
	}
	slices.SortStableFunc(out, func(a, b string) int {
		if ga, gb := group(a), group(b); ga != gb {
			return ga - gb
		}
		if group(a) == 1 && p.loads[a] != p.loads[b] {
			return int(p.loads[a]) - int(p.loads[b])
		}
		ra, oka := p.rtt[a]
		rb, okb := p.rtt[b]
		switch {
		case oka && okb:
			return int(ra - rb)
		case oka:
			return -1
		case okb:
			return 1
		}
		return 0
	})
	return out
}

// onRedirect records the loads a redirect push reports; the goodbye that
// follows does the move.
func (c *Client) onRedirect(cn *conn, r *wire.Redirect) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(r.Nodes) > 0 {
		c.pick.loads = make(map[string]uint32, len(r.Nodes))
		for _, n := range r.Nodes {
			c.pick.loads[n.Addr] = n.Sessions
			if !slices.Contains(c.nodes, n.Addr) {
				c.nodes = append(c.nodes, n.Addr)
			}
		}
	}
	c.log.Debug("redirect", "addr", cn.addr, "to", r.Addr, "reason", r.Reason)
}

// followRedirectLocked takes addr as the next node to try, unless the
// client has followed maxRedirectHops redirects in a row already.
func (c *Client) followRedirectLocked(addr string) {
	c.pick.hops++
	if c.pick.hops > maxRedirectHops {
		c.log.Debug("too many redirects in a row: picking a node", "hops", c.pick.hops, "ignored", addr)
		c.redirect = ""
		return
	}
	c.redirect = addr
}

// Nodes returns the client addresses of the nodes the client knows (from
// the last Welcome and redirect), in the order it would pick them. Save
// them to dial the cluster next time even if the configured addresses
// are gone.
func (c *Client) Nodes() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pick.order(c.nodes)
}
