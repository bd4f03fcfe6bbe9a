package clustertest

import (
	"context"
	"errors"
	"net"
	"sync"
)

// faults cuts nodes off from each other's internal traffic. Every node of
// a test cluster dials other nodes through its own dialer, which knows the
// dialling node; so an isolated node can neither reach nor be reached, and
// its established connections are closed when it is isolated.
type faults struct {
	mu       sync.Mutex
	isolated map[string]bool         // node name → cut off
	addrs    map[string]string       // internal address → node name
	conns    map[*faultConn]struct{} // live connections
}

func newFaults() *faults {
	return &faults{isolated: map[string]bool{}, addrs: map[string]string{}, conns: map[*faultConn]struct{}{}}
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
		f.mu.Unlock()
		if cut {
			return nil, errIsolated
		}
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return nil, err
		}
		fc := &faultConn{Conn: c, f: f, src: name, dst: dst}
		f.mu.Lock()
		f.conns[fc] = struct{}{}
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
		for c := range f.conns {
			if c.src == name || c.dst == name {
				doomed = append(doomed, c)
			}
		}
	}
	f.mu.Unlock()
	for _, c := range doomed {
		c.Close()
	}
}

type faultConn struct {
	net.Conn
	f        *faults
	src, dst string
	once     sync.Once
}

func (c *faultConn) Close() error {
	c.once.Do(func() {
		c.f.mu.Lock()
		delete(c.f.conns, c)
		c.f.mu.Unlock()
	})
	return c.Conn.Close()
}
