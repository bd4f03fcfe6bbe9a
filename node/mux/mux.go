package mux

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"
)

// Stream kinds: the first byte of every internal connection. The list is
// append-only; see the package documentation.
const (
	KindRaft  byte = 'R' // Raft RPCs; arg = partition id
	KindGate  byte = 'G' // jump-gate traffic (reserved)
	KindAdmin byte = 'A' // operator and membership requests (reserved)
)

// HeaderLen is the length of the connection header: kind, then a uint16
// big-endian argument.
const HeaderLen = 3

// DefaultHeaderTimeout is how long an incoming connection has to send its
// header.
const DefaultHeaderTimeout = 5 * time.Second

// ErrClosed is returned by Accept and Dial once the mux or the stream layer
// is closed. It matches net.ErrClosed with errors.Is.
var ErrClosed = fmt.Errorf("mux: closed: %w", net.ErrClosed)

// Option adjusts a Mux built by New.
type Option func(*Mux)

// WithHeaderTimeout sets how long an incoming connection has to send its
// header (DefaultHeaderTimeout if d <= 0).
func WithHeaderTimeout(d time.Duration) Option {
	return func(m *Mux) {
		if d > 0 {
			m.headerTimeout = d
		}
	}
}

// WithDialer makes the mux's outgoing connections (Mux.Dial and the Raft
// layers' Dial) go through dial instead of a plain TCP dial. Tests use it
// to inject network faults between in-process nodes.
func WithDialer(dial func(ctx context.Context, addr string) (net.Conn, error)) Option {
	return func(m *Mux) { m.dial = dial }
}

// Mux routes the connections accepted on one listener by their header.
type Mux struct {
	ln            net.Listener
	log           *slog.Logger
	headerTimeout time.Duration
	dial          func(ctx context.Context, addr string) (net.Conn, error) // nil: plain TCP

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	closed   bool
	raft     map[uint16]*RaftLayer
	handlers map[byte]func(net.Conn, uint16)

	// conns holds connections whose header is being read, and those
	// handed to a Handle function.
	conns tracker

	closeOnce sync.Once
	closeErr  error
}

// New starts serving ln, which the Mux now owns. logger may be nil.
func New(ln net.Listener, logger *slog.Logger, opts ...Option) *Mux {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	m := &Mux{
		ln:            ln,
		log:           logger.With("component", "mux"),
		headerTimeout: DefaultHeaderTimeout,
		raft:          make(map[uint16]*RaftLayer),
		handlers:      make(map[byte]func(net.Conn, uint16)),
	}
	for _, o := range opts {
		o(m)
	}
	m.ctx, m.cancel = context.WithCancel(context.Background())
	m.goFunc(m.acceptLoop)
	return m
}

// Addr returns the listener's address.
func (m *Mux) Addr() net.Addr { return m.ln.Addr() }

// goFunc starts a goroutine that Close waits for.
func (m *Mux) goFunc(f func()) {
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		f()
	}()
}

// Handle registers fn for connections of the given kind. fn runs in the
// connection's own goroutine, owns the connection (it should close it) and
// receives the header's argument. Close closes the connection and waits
// for fn to return. Handle panics if kind is KindRaft, already has a
// handler, or fn is nil.
func (m *Mux) Handle(kind byte, fn func(net.Conn, uint16)) {
	if fn == nil || kind == KindRaft {
		panic(fmt.Sprintf("mux: cannot handle kind %q", kind))
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.handlers[kind]; ok {
		panic(fmt.Sprintf("mux: kind %q already handled", kind))
	}
	m.handlers[kind] = fn
}

// Raft returns the stream layer of partition pid: its Accept yields the
// connections whose header names that partition, and its Dial opens
// connections to that partition on other nodes. Closing the layer (the
// Raft transport does it on shutdown) closes those connections and
// releases pid, so a later Raft(pid) returns a fresh layer. While the
// layer is open, Raft(pid) returns the same one. After Close of the mux
// the layer returned is already closed.
func (m *Mux) Raft(pid uint16) *RaftLayer {
	m.mu.Lock()
	defer m.mu.Unlock()
	if l, ok := m.raft[pid]; ok {
		return l
	}
	l := newRaftLayer(m, pid)
	if m.closed {
		l.cancel()
		l.conns.close()
		return l
	}
	m.raft[pid] = l
	return l
}

func (m *Mux) release(l *RaftLayer) {
	m.mu.Lock()
	if m.raft[l.pid] == l {
		delete(m.raft, l.pid)
	}
	m.mu.Unlock()
}

// Close stops accepting, closes every stream layer and every connection the
// mux has handed out, and waits for the mux's goroutines and running
// handlers. It is safe to call more than once.
func (m *Mux) Close() error {
	m.closeOnce.Do(func() {
		m.mu.Lock()
		m.closed = true
		layers := make([]*RaftLayer, 0, len(m.raft))
		for _, l := range m.raft {
			layers = append(layers, l)
		}
		m.mu.Unlock()
		if err := m.ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			m.closeErr = fmt.Errorf("mux: close listener: %w", err)
		}
		m.cancel()
		for _, l := range layers {
			l.Close()
		}
		m.conns.close()
		m.wg.Wait()
	})
	return m.closeErr
}

func (m *Mux) acceptLoop() {
	var delay time.Duration
	for {
		c, err := m.ln.Accept()
		if err != nil {
			if m.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors and the like: back off.
			delay = min(max(2*delay, 5*time.Millisecond), time.Second)
			m.log.Warn("accept failed", "err", err, "retry_in", delay)
			select {
			case <-time.After(delay):
				continue
			case <-m.ctx.Done():
				return
			}
		}
		delay = 0
		tc := m.conns.add(c)
		if tc == nil { // closing
			c.Close()
			return
		}
		m.goFunc(func() { m.serve(tc) })
	}
}

// serve reads the header of an incoming connection and hands it over.
func (m *Mux) serve(c *trackedConn) {
	kind, arg, err := m.readHeader(c)
	if err != nil {
		if m.ctx.Err() == nil {
			m.log.Warn("dropped connection: bad header", "remote", c.RemoteAddr().String(), "err", err)
		}
		c.Close()
		return
	}
	if kind == KindRaft {
		m.mu.Lock()
		l, ok := m.raft[arg]
		m.mu.Unlock()
		if !ok {
			m.log.Warn("dropped connection: no such partition", "remote", c.RemoteAddr().String(), "partition", arg)
			c.Close()
			return
		}
		// The layer takes the connection over from the mux.
		m.conns.remove(c)
		l.deliver(c.Conn)
		return
	}
	m.mu.Lock()
	fn, ok := m.handlers[kind]
	m.mu.Unlock()
	if !ok {
		m.log.Warn("dropped connection: unknown stream kind", "remote", c.RemoteAddr().String(), "kind", fmt.Sprintf("%q", kind))
		c.Close()
		return
	}
	fn(c, arg)
}

func (m *Mux) readHeader(c net.Conn) (kind byte, arg uint16, err error) {
	var hdr [HeaderLen]byte
	if err := c.SetReadDeadline(time.Now().Add(m.headerTimeout)); err != nil {
		return 0, 0, err
	}
	if _, err := io.ReadFull(c, hdr[:]); err != nil {
		return 0, 0, err
	}
	if err := c.SetReadDeadline(time.Time{}); err != nil {
		return 0, 0, err
	}
	return hdr[0], binary.BigEndian.Uint16(hdr[1:]), nil
}

// AppendHeader appends the connection header for kind and arg to dst.
func AppendHeader(dst []byte, kind byte, arg uint16) []byte {
	return binary.BigEndian.AppendUint16(append(dst, kind), arg)
}

// Dial connects to the mux at addr and writes the header for kind and arg.
// The connection then belongs to that protocol.
func Dial(ctx context.Context, addr string, kind byte, arg uint16) (net.Conn, error) {
	return dialWith(ctx, nil, addr, kind, arg)
}

// Dial is like the package's Dial but goes through the mux's dialer
// (WithDialer), if it has one.
func (m *Mux) Dial(ctx context.Context, addr string, kind byte, arg uint16) (net.Conn, error) {
	return dialWith(ctx, m.dial, addr, kind, arg)
}

func dialWith(ctx context.Context, dial func(context.Context, string) (net.Conn, error), addr string, kind byte, arg uint16) (net.Conn, error) {
	var c net.Conn
	var err error
	if dial != nil {
		c, err = dial(ctx, addr)
	} else {
		var d net.Dialer
		c, err = d.DialContext(ctx, "tcp", addr)
	}
	if err != nil {
		return nil, err
	}
	dl, _ := ctx.Deadline()
	if err := c.SetWriteDeadline(dl); err != nil {
		c.Close()
		return nil, err
	}
	if _, err := c.Write(AppendHeader(make([]byte, 0, HeaderLen), kind, arg)); err != nil {
		c.Close()
		return nil, fmt.Errorf("mux: write header to %s: %w", addr, err)
	}
	if err := c.SetWriteDeadline(time.Time{}); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}
