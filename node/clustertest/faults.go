package clustertest

import (
	"context"
	"errors"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// faults cuts nodes off from each other's internal traffic, or freezes
// them. Every node of a test cluster dials other nodes through its own
// dialer, which knows the dialling node, so both directions of every
// node-to-node connection pass through here:
//
//   - an isolated node can neither reach nor be reached: dials fail at
//     once and its established connections are closed (a refused or reset
//     peer);
//   - a frozen node looks like a process stopped with SIGSTOP: dials to or
//     from it succeed but land on a sink that never answers, and on its
//     established connections nothing it writes arrives and nothing it is
//     sent is read (writes succeed, reads wait until their deadline).
//     Thawing closes those connections, so the next dial reaches the node
//     again. Gossip is not frozen;
//   - a muted node gets what others send it, and acts on it, but its
//     answers on the connections others opened never arrive (its own
//     connections work): requests are carried out and their replies lost.
//     Unmuting closes those connections.
type faults struct {
	mu       sync.Mutex
	isolated map[string]bool         // node name → cut off
	frozen   map[string]bool         // node name → frozen
	muted    map[string]bool         // node name → replies lost
	addrs    map[string]string       // internal address → node name
	conns    map[*faultConn]struct{} // live connections

	sink     net.Listener // lazily: accepts and never answers
	sinkHeld []net.Conn   // connections the sink holds
	sinkWG   sync.WaitGroup
	cleanup  sync.Once // registers close with the test

	gossipCut   map[string]bool   // links (gossipPair) whose gossip is cut, both ways
	gossipAddrs map[string]string // gossip address → node name
}

func newFaults() *faults {
	return &faults{isolated: map[string]bool{}, frozen: map[string]bool{}, muted: map[string]bool{}, addrs: map[string]string{}, conns: map[*faultConn]struct{}{},
		gossipCut: map[string]bool{}, gossipAddrs: map[string]string{}}
}

// registerGossip records the gossip address of node name.
func (f *faults) registerGossip(name, gossipAddr string) {
	f.mu.Lock()
	f.gossipAddrs[gossipAddr] = name
	f.mu.Unlock()
}

// gossipCutter returns the gossip fault hook of node name: gossip to a
// node it is cut from vanishes.
func (f *faults) gossipCutter(name string) func(addr string) bool {
	return func(addr string) bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.gossipCut[gossipPair(name, f.gossipAddrs[addr])]
	}
}

// gossipPair names the link between two nodes, whichever way round.
func gossipPair(a, b string) string {
	if a > b {
		a, b = b, a
	}
	return a + "|" + b
}

var errIsolated = errors.New("clustertest: node isolated")

func (f *faults) register(name, internalAddr string) {
	f.mu.Lock()
	f.addrs[internalAddr] = name
	f.mu.Unlock()
}

// dialer returns the dial function of node name.
func (f *faults) dialer(name string) func(ctx context.Context, addr string) (net.Conn, error) {
	return func(ctx context.Context, addr string) (net.Conn, error) {
		f.mu.Lock()
		dst := f.addrs[addr]
		cut := f.isolated[name] || f.isolated[dst]
		frozen := f.frozen[name] || f.frozen[dst]
		sink := f.sink
		f.mu.Unlock()
		if cut {
			return nil, errIsolated
		}
		target := addr
		if frozen && sink != nil {
			target = sink.Addr().String()
		}
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", target)
		if err != nil {
			return nil, err
		}
		fc := &faultConn{Conn: c, f: f, src: name, dst: dst, closed: make(chan struct{})}
		f.mu.Lock()
		f.conns[fc] = struct{}{}
		fc.deaf.Store(f.muted[dst])
		f.mu.Unlock()
		return fc, nil
	}
}

// isolate cuts node name off, closing its connections in both directions.
func (f *faults) isolate(name string, cut bool) {
	f.mu.Lock()
	f.isolated[name] = cut
	var doomed []*faultConn
	if cut {
		doomed = f.connsOfLocked(name)
	}
	f.mu.Unlock()
	for _, c := range doomed {
		c.Close()
	}
}

// freeze freezes node name, or thaws it (closing the connections that
// were frozen).
func (f *faults) freeze(name string, frozen bool) error {
	if frozen {
		if err := f.startSink(); err != nil {
			return err
		}
	}
	f.mu.Lock()
	f.frozen[name] = frozen
	conns := f.connsOfLocked(name)
	f.mu.Unlock()
	for _, c := range conns {
		if frozen {
			c.frozen.Store(true)
		} else {
			c.Close()
		}
	}
	return nil
}

// mute loses, or stops losing, what node name answers on the connections
// others opened to it.
func (f *faults) mute(name string, muted bool) {
	f.mu.Lock()
	f.muted[name] = muted
	var conns []*faultConn
	for c := range f.conns {
		if c.dst == name {
			conns = append(conns, c)
		}
	}
	f.mu.Unlock()
	for _, c := range conns {
		if muted {
			c.deaf.Store(true)
		} else {
			c.Close()
		}
	}
}

func (f *faults) connsOfLocked(name string) []*faultConn {
	var out []*faultConn
	for c := range f.conns {
		if c.src == name || c.dst == name {
			out = append(out, c)
		}
	}
	return out
}

// startSink opens the listener that frozen nodes' connections go to.
func (f *faults) startSink() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.sink != nil {
		return nil
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	f.sink = ln
	f.sinkWG.Add(1)
	go func() {
		defer f.sinkWG.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			f.mu.Lock()
			f.sinkHeld = append(f.sinkHeld, c) // never read, never written
			f.mu.Unlock()
		}
	}()
	return nil
}

// close stops the sink and closes what it holds.
func (f *faults) close() {
	f.mu.Lock()
	ln, held := f.sink, f.sinkHeld
	f.sinkHeld = nil
	f.mu.Unlock()
	if ln == nil {
		return
	}
	ln.Close()
	f.sinkWG.Wait()
	for _, c := range held {
		c.Close()
	}
}

// Freeze makes node i stop answering on its internal port, as SIGSTOP
// would, or thaws it: while frozen, every node-to-node connection to or
// from it stays open (or opens) but carries nothing, so peers wait for
// replies until their own deadlines. Gossip is not frozen, so the other
// nodes still see it alive.
func (c *Cluster) Freeze(i int, frozen bool) {
	c.t.Helper()
	c.faults.cleanup.Do(func() { c.t.Cleanup(c.faults.close) })
	if err := c.faults.freeze(c.nodes[i].Name, frozen); err != nil {
		c.t.Fatalf("freeze %s: %v", c.nodes[i].Name, err)
	}
}

// Mute makes node i's answers on the connections other nodes opened to it
// vanish, or stops that: requests reach it and it carries them out, but
// the callers never hear back (a reply lost on the way), until unmuted.
func (c *Cluster) Mute(i int, muted bool) {
	c.faults.mute(c.nodes[i].Name, muted)
}

type faultConn struct {
	net.Conn
	f        *faults
	src, dst string
	frozen   atomic.Bool // nothing either way
	deaf     atomic.Bool // nothing comes back (the peer is muted)
	closed   chan struct{}
	once     sync.Once

	dlMu   sync.Mutex
	readDL time.Time
}

func (c *faultConn) Read(p []byte) (int, error) {
	if c.frozen.Load() || c.deaf.Load() {
		return 0, c.hang()
	}
	n, err := c.Conn.Read(p)
	if c.frozen.Load() || c.deaf.Load() {
		return 0, c.hang() // froze while waiting: what came is never seen
	}
	return n, err
}

func (c *faultConn) Write(p []byte) (int, error) {
	if c.frozen.Load() {
		return len(p), nil // into the frozen side's buffers, never read
	}
	return c.Conn.Write(p)
}

// hang waits as a read from a silent peer does: until the connection is
// closed or the read deadline passes.
func (c *faultConn) hang() error {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		c.dlMu.Lock()
		dl := c.readDL
		c.dlMu.Unlock()
		if !dl.IsZero() && !time.Now().Before(dl) {
			return os.ErrDeadlineExceeded
		}
		select {
		case <-c.closed:
			return net.ErrClosed
		case <-t.C:
		}
	}
}

func (c *faultConn) SetDeadline(t time.Time) error {
	c.dlMu.Lock()
	c.readDL = t
	c.dlMu.Unlock()
	return c.Conn.SetDeadline(t)
}

func (c *faultConn) SetReadDeadline(t time.Time) error {
	c.dlMu.Lock()
	c.readDL = t
	c.dlMu.Unlock()
	return c.Conn.SetReadDeadline(t)
}

func (c *faultConn) Close() error {
	c.once.Do(func() {
		close(c.closed)
		c.f.mu.Lock()
		delete(c.f.conns, c)
		c.f.mu.Unlock()
	})
	return c.Conn.Close()
}

// CutGossip cuts the gossip between nodes i and j, both ways, or
// restores it. Their internal ports (Raft, gate, admin) still reach each
// other, and each still gossips with the rest.
func (c *Cluster) CutGossip(i, j int, cut bool) {
	c.faults.mu.Lock()
	c.faults.gossipCut[gossipPair(c.nodes[i].Name, c.nodes[j].Name)] = cut
	c.faults.mu.Unlock()
}
