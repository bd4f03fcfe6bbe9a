package sim

import (
	"io"
	"net"
	"sync"
	"time"
)

// Proxy is a fault-injecting TCP proxy in front of a node's internal
// (node-to-node) port: the node advertises the proxy's address, so every
// connection another node opens to it goes through here.
//
// The proxy can learn which node opened each connection (owners, from the
// kernel's socket table), so it can refuse the traffic of chosen nodes:
// Block(set) drops the open connections from those nodes and refuses
// their new ones. Blocking the same pair of nodes at both proxies cuts
// every connection between them in both directions, which is how the
// partition fault isolates a node or a minority from the rest. Cut
// refuses everyone (the node's inbound traffic is gone).
//
// Owners are looked up only when they matter: for the open connections
// when Block is called (one scan of the socket table for all of them),
// and for new connections while a block is in force, in batches (one scan
// per batch, at most one batch every resolveEvery). A lookup per
// connection at all times cost a scan of the whole table each, which
// under thousands of sockets starved the proxy, timed the nodes' Raft
// connections out and made them redial, each redial another scan.
type Proxy struct {
	ln     net.Listener
	target string
	// owners tells which node process (by pid) opened each connection,
	// given as (remote, local) address pairs seen from the proxy; 0 means
	// unknown. Nil: no per-node blocking.
	owners func(pairs [][2]net.Addr) []int

	mu      sync.Mutex
	cut     bool
	blocked map[int]bool
	conns   map[*proxied]struct{}
	// pending are new connections waiting for their owner while a block
	// is in force; resolving says a batch is being looked up.
	pending   []*proxied
	resolving bool
}

// proxied is one connection through the proxy: c from the dialer, u to
// the target, pid the dialer's process (0 until known).
type proxied struct {
	c, u     net.Conn
	pid      int
	resolved chan struct{}
}

// resolveEvery spaces the owner lookups of new connections during a
// block.
const resolveEvery = 20 * time.Millisecond

// NewProxy listens on a free loopback port and forwards to target. owners
// may be nil (no per-node blocking then).
func NewProxy(target string, owners func(pairs [][2]net.Addr) []int) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{ln: ln, target: target, owners: owners, conns: map[*proxied]struct{}{}}
	go p.serve()
	return p, nil
}

// Addr is the proxy's listening address.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

func (p *Proxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		go p.handle(c)
	}
}

func (p *Proxy) refusedLocked(pid int) bool {
	return p.cut || pid != 0 && p.blocked[pid]
}

// blockingLocked says whether owners matter now.
func (p *Proxy) blockingLocked() bool { return len(p.blocked) > 0 && p.owners != nil }

func (p *Proxy) handle(c net.Conn) {
	pr := &proxied{c: c}
	p.mu.Lock()
	if p.cut {
		p.mu.Unlock()
		c.Close()
		return
	}
	if p.blockingLocked() {
		pr.resolved = make(chan struct{})
		p.pending = append(p.pending, pr)
		if !p.resolving {
			p.resolving = true
			go p.resolveLoop()
		}
		p.mu.Unlock()
		<-pr.resolved
		p.mu.Lock()
	}
	refused := p.refusedLocked(pr.pid)
	p.mu.Unlock()
	if refused {
		c.Close()
		return
	}
	u, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	pr.u = u
	p.mu.Lock()
	if p.refusedLocked(pr.pid) {
		p.mu.Unlock()
		c.Close()
		u.Close()
		return
	}
	p.conns[pr] = struct{}{}
	p.mu.Unlock()
	var wg sync.WaitGroup
	wg.Add(2)
	pipe := func(dst, src net.Conn) {
		defer wg.Done()
		io.Copy(dst, src)
		dst.Close()
		src.Close()
	}
	go pipe(u, c)
	go pipe(c, u)
	wg.Wait()
	p.mu.Lock()
	delete(p.conns, pr)
	p.mu.Unlock()
}

// resolveLoop looks up the owners of the pending connections in batches
// until none is left.
func (p *Proxy) resolveLoop() {
	for {
		p.mu.Lock()
		batch := p.pending
		p.pending = nil
		if len(batch) == 0 {
			p.resolving = false
			p.mu.Unlock()
			return
		}
		p.mu.Unlock()
		p.resolve(batch)
		for _, pr := range batch {
			close(pr.resolved)
		}
		time.Sleep(resolveEvery)
	}
}

// resolve fills in the pid of every connection in prs (one lookup).
func (p *Proxy) resolve(prs []*proxied) {
	if p.owners == nil || len(prs) == 0 {
		return
	}
	pairs := make([][2]net.Addr, len(prs))
	for i, pr := range prs {
		pairs[i] = [2]net.Addr{pr.c.RemoteAddr(), pr.c.LocalAddr()}
	}
	pids := p.owners(pairs)
	p.mu.Lock()
	for i, pr := range prs {
		pr.pid = pids[i]
	}
	p.mu.Unlock()
}

// Block refuses the connections opened by the node processes in pids
// (and drops their open ones); Block(nil) lets everyone through again.
func (p *Proxy) Block(pids []int) {
	p.mu.Lock()
	p.blocked = map[int]bool{}
	for _, pid := range pids {
		p.blocked[pid] = true
	}
	var unknown []*proxied
	for pr := range p.conns {
		if pr.pid == 0 {
			unknown = append(unknown, pr)
		}
	}
	p.mu.Unlock()
	p.resolve(unknown)
	p.mu.Lock()
	for pr := range p.conns {
		if p.refusedLocked(pr.pid) {
			pr.c.Close()
			pr.u.Close()
		}
	}
	p.mu.Unlock()
}

// Cut drops every connection and refuses new ones.
func (p *Proxy) Cut() {
	p.mu.Lock()
	p.cut = true
	for pr := range p.conns {
		pr.c.Close()
		pr.u.Close()
	}
	p.mu.Unlock()
}

// Heal lets every connection through again.
func (p *Proxy) Heal() {
	p.mu.Lock()
	p.cut = false
	p.blocked = nil
	p.mu.Unlock()
}

// Close stops the proxy.
func (p *Proxy) Close() {
	p.Cut()
	p.ln.Close()
}
