package sim

import (
	"io"
	"net"
	"sync"
)

// Proxy is a fault-injecting TCP proxy in front of a node's internal
// (node-to-node) port: the node advertises the proxy's address, so every
// connection another node opens to it goes through here.
//
// The proxy learns which node opened each connection (owner, from the
// kernel's socket table), so it can refuse the traffic of chosen nodes:
// Block(set) drops the open connections from those nodes and refuses
// their new ones. Blocking the same pair of nodes at both proxies cuts
// every connection between them in both directions, which is how the
// partition fault isolates a node or a minority from the rest. Cut
// refuses everyone (the node's inbound traffic is gone).
type Proxy struct {
	ln     net.Listener
	target string
	// owner tells which node process (by pid) opened a connection; 0
	// means unknown.
	owner func(remote, local net.Addr) int

	mu      sync.Mutex
	cut     bool
	blocked map[int]bool
	conns   map[net.Conn]int // both ends of every open pair -> source pid
}

// NewProxy listens on a free loopback port and forwards to target. owner
// may be nil (no per-node blocking then).
func NewProxy(target string, owner func(remote, local net.Addr) int) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{ln: ln, target: target, owner: owner, conns: map[net.Conn]int{}}
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

func (p *Proxy) track(pid int, cs ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.refusedLocked(pid) {
		return false
	}
	for _, c := range cs {
		p.conns[c] = pid
	}
	return true
}

func (p *Proxy) untrack(cs ...net.Conn) {
	p.mu.Lock()
	for _, c := range cs {
		delete(p.conns, c)
	}
	p.mu.Unlock()
}

func (p *Proxy) handle(c net.Conn) {
	pid := 0
	if p.owner != nil {
		pid = p.owner(c.RemoteAddr(), c.LocalAddr())
	}
	p.mu.Lock()
	refused := p.refusedLocked(pid)
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
	if !p.track(pid, c, u) {
		c.Close()
		u.Close()
		return
	}
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
	p.untrack(c, u)
}

// Block refuses the connections opened by the node processes in pids
// (and drops their open ones); Block(nil) lets everyone through again.
func (p *Proxy) Block(pids []int) {
	p.mu.Lock()
	p.blocked = map[int]bool{}
	for _, pid := range pids {
		p.blocked[pid] = true
	}
	for c, pid := range p.conns {
		if p.refusedLocked(pid) {
			c.Close()
		}
	}
	p.mu.Unlock()
}

// Cut drops every connection and refuses new ones.
func (p *Proxy) Cut() {
	p.mu.Lock()
	p.cut = true
	for c := range p.conns {
		c.Close()
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
