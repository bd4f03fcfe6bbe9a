package gossip

import (
	"context"
	"fmt"
	"log"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
)

// transport is memberlist's NetTransport with outbound TCP connections
// that Shutdown can interrupt: dials use a context cancelled by close, and
// every outbound connection still open is closed. Without this a push/pull
// to a black-holed or stopped peer would hold Shutdown (and a Join attempt)
// for up to TCPTimeout.
type transport struct {
	*memberlist.NetTransport
	ctx    context.Context
	cancel context.CancelFunc

	// dropPackets makes every outgoing UDP packet vanish (tests: a lossy
	// network).
	dropPackets atomic.Bool
	// cut, if set, reports whether traffic to a peer ("ip:port") is cut:
	// its packets vanish and dials to it fail (Config.Cut, tests).
	cut func(addr string) bool

	mu     sync.Mutex
	conns  map[*trackedConn]struct{}
	closed bool
}

// newTransport binds TCP and UDP on host:port. With port 0 the kernel picks
// the TCP port and UDP is bound to the same number; that can collide with a
// UDP socket someone else holds, so (like memberlist.Create) it retries.
func newTransport(host string, port int, stdlog *log.Logger) (*transport, error) {
	cfg := &memberlist.NetTransportConfig{BindAddrs: []string{host}, BindPort: port, Logger: stdlog}
	tries := 1
	if port == 0 {
		tries = 10
	}
	var lastErr error
	for i := 0; i < tries; i++ {
		nt, err := memberlist.NewNetTransport(cfg)
		if err == nil {
			ctx, cancel := context.WithCancel(context.Background())
			return &transport{NetTransport: nt, ctx: ctx, cancel: cancel, conns: make(map[*trackedConn]struct{})}, nil
		}
		lastErr = err
		if !strings.Contains(err.Error(), "address already in use") {
			break
		}
		stdlog.Printf("[DEBUG] memberlist: bind %s:%d: %v (retrying)", host, port, err)
	}
	return nil, fmt.Errorf("gossip: bind %s: %w", net.JoinHostPort(host, fmt.Sprint(port)), lastErr)
}

// WriteTo implements memberlist.Transport.
func (t *transport) WriteTo(b []byte, addr string) (time.Time, error) {
	if t.dropPackets.Load() || t.isCut(addr) {
		return time.Now(), nil
	}
	return t.NetTransport.WriteTo(b, addr)
}

// WriteToAddress implements memberlist.NodeAwareTransport.
func (t *transport) WriteToAddress(b []byte, a memberlist.Address) (time.Time, error) {
	if t.dropPackets.Load() || t.isCut(a.Addr) {
		return time.Now(), nil
	}
	return t.NetTransport.WriteToAddress(b, a)
}

// DialTimeout implements memberlist.Transport.
func (t *transport) DialTimeout(addr string, timeout time.Duration) (net.Conn, error) {
	return t.DialAddressTimeout(memberlist.Address{Addr: addr}, timeout)
}

// DialAddressTimeout implements memberlist.NodeAwareTransport.
func (t *transport) DialAddressTimeout(a memberlist.Address, timeout time.Duration) (net.Conn, error) {
	if t.isCut(a.Addr) {
		return nil, fmt.Errorf("gossip: traffic to %s is cut", a.Addr)
	}
	d := net.Dialer{Timeout: timeout}
	c, err := d.DialContext(t.ctx, "tcp", a.Addr)
	if err != nil {
		return nil, err
	}
	tc := &trackedConn{Conn: c, t: t}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed {
		_ = c.Close()
		return nil, ErrShutdown
	}
	t.conns[tc] = struct{}{}
	return tc, nil
}

func (t *transport) isCut(addr string) bool { return t.cut != nil && t.cut(addr) }

// abort cancels dials in progress and closes open outbound connections;
// later dials fail. The listeners are closed by Shutdown (memberlist's).
func (t *transport) abort() {
	t.cancel()
	t.mu.Lock()
	t.closed = true
	conns := t.conns
	t.conns = nil
	t.mu.Unlock()
	for c := range conns {
		_ = c.Conn.Close()
	}
}

type trackedConn struct {
	net.Conn
	t    *transport
	once sync.Once
}

func (c *trackedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		c.t.mu.Lock()
		delete(c.t.conns, c)
		c.t.mu.Unlock()
	})
	return err
}
