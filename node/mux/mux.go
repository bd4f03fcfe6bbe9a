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
	"sync/atomic"
	"time"
)

// Stream kinds: the first byte of every internal connection. The list is
// append-only; see the package documentation.
const (
	KindRaft  byte = 'R' // Raft RPCs; arg = partition id
	KindGate  byte = 'G' // jump-gate traffic (package gate)
	KindAdmin byte = 'A' // partition status for the reconciler (package node)
	// KindRaftNet carries every partition's Raft RPCs between two nodes
	// (package raftnet); arg = raftnet stream.
	KindRaftNet byte = 'M'
	// KindBackup streams a partition's backup from its leader, and
	// KindRestore restores one into its leader (package node/backup);
	// arg = partition id.
	KindBackup  byte = 'B'
	KindRestore byte = 'U'
	// KindHold holds the outbox of a node's partitions during a backup or
	// a restore (package node/backup); arg unused.
	KindHold byte = 'H'
)

// HeaderLen is the length of the connection header: kind, then a uint16
// big-endian argument.
const HeaderLen = 3

// DefaultHeaderTimeout is how long an incoming connection has to complete
// its TLS handshake and send its header.
const DefaultHeaderTimeout = 5 * time.Second

// ErrClosed is returned by Accept and Dial once the mux or the stream layer
// is closed. It matches net.ErrClosed with errors.Is.
var ErrClosed = fmt.Errorf("mux: closed: %w", net.ErrClosed)

// Option adjusts a Mux built by New.
type Option func(*Mux)

// WithHeaderTimeout sets how long an incoming connection has to complete
// its handshake and send its header (DefaultHeaderTimeout if d <= 0).
func WithHeaderTimeout(d time.Duration) Option {
	return func(m *Mux) {
		if d > 0 {
			m.headerTimeout = d
		}
	}
}

// WithDialer makes the mux's outgoing connections (Mux.Dial and the Raft
// layers' Dial) go through dial instead of a plain TCP dial; the TLS
// handshake runs over what it returns. Tests use it to inject network
// faults between in-process nodes.
func WithDialer(dial func(ctx context.Context, addr string) (net.Conn, error)) Option {
	return func(m *Mux) { m.dial = dial }
}

// Mux routes the connections accepted on one listener by their header.
type Mux struct {
	ln            net.Listener
	sec           Security
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

	// conns holds connections whose handshake or header is being read,
	// and those handed to a Handle function.
	conns tracker

	refused       atomic.Uint64 // incoming connections that failed the handshake
	refusedLogged atomic.Int64  // unix nanoseconds of the last such log line

	closeOnce sync.Once
	closeErr  error
}

// New starts serving ln, which the Mux now owns (it is closed if New
// fails). sec says how peers are authenticated; logger may be nil.
func New(ln net.Listener, sec Security, logger *slog.Logger, opts ...Option) (*Mux, error) {
	if err := sec.validate(); err != nil {
		ln.Close()
		return nil, err
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	m := &Mux{
		ln:            ln,
		sec:           sec,
		log:           logger.With("component", "mux"),
		headerTimeout: DefaultHeaderTimeout,
		raft:          make(map[uint16]*RaftLayer),
		handlers:      make(map[byte]func(net.Conn, uint16)),
	}
	for _, o := range opts {
		o(m)
	}
	m.ctx, m.cancel = context.WithCancel(context.Background())
	if sec.InsecurePlaintext {
		m.log.Warn("INSECURE: the internal port runs WITHOUT TLS: anyone who can reach it is served as a cluster node (read credentials and inboxes, forge messages and logins, depose leaders); use only to measure what TLS costs",
			"addr", ln.Addr().String())
	}
	m.goFunc(m.acceptLoop)
	return m, nil
}

// Addr returns the listener's address.
func (m *Mux) Addr() net.Addr { return m.ln.Addr() }

// Insecure reports whether the mux runs without TLS (InsecurePlaintext):
// then PeerNodeID proves nothing.
func (m *Mux) Insecure() bool { return m.sec.InsecurePlaintext }

// Refused returns how many incoming connections failed the handshake
// (no certificate, an untrusted one, not TLS, or too slow) since New.
func (m *Mux) Refused() uint64 { return m.refused.Load() }

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

// serve authenticates an incoming connection, reads its header and hands
// it over. The handshake runs here, in the connection's own goroutine,
// under the header timeout, so a silent or slow peer holds up nobody
// else; a peer without a trusted certificate never reaches a handler.
func (m *Mux) serve(raw *trackedConn) {
	remote := raw.RemoteAddr().String()
	if err := raw.SetDeadline(time.Now().Add(m.headerTimeout)); err != nil {
		raw.Close()
		return
	}
	c, err := m.sec.serverHandshake(m.ctx, raw)
	if err != nil {
		raw.Close()
		if m.ctx.Err() == nil {
			m.logRefused(remote, err)
		}
		return
	}
	kind, arg, err := readHeader(c)
	if err == nil {
		err = raw.SetDeadline(time.Time{})
	}
	if err != nil {
		if m.ctx.Err() == nil {
			m.log.Warn("dropped connection: bad header", "remote", remote, "peer", c.peer, "err", err)
		}
		c.Close()
		return
	}
	if kind == KindRaft {
		m.mu.Lock()
		l, ok := m.raft[arg]
		m.mu.Unlock()
		if !ok {
			m.log.Warn("dropped connection: no such partition", "remote", remote, "peer", c.peer, "partition", arg)
			c.Close()
			return
		}
		// The layer takes the connection over from the mux.
		m.conns.remove(raw)
		l.deliver(c)
		return
	}
	m.mu.Lock()
	fn, ok := m.handlers[kind]
	m.mu.Unlock()
	if !ok {
		m.log.Warn("dropped connection: unknown stream kind", "remote", remote, "peer", c.peer, "kind", fmt.Sprintf("%q", kind))
		c.Close()
		return
	}
	fn(c, arg)
}

// logRefused counts a failed handshake and logs at most one a second, so
// that whoever hammers the port cannot flood the log.
func (m *Mux) logRefused(remote string, err error) {
	n := m.refused.Add(1)
	now, last := time.Now().UnixNano(), m.refusedLogged.Load()
	if now-last < int64(time.Second) || !m.refusedLogged.CompareAndSwap(last, now) {
		return
	}
	m.log.Warn("refused connection: handshake failed (logged at most once a second)", "remote", remote, "err", err, "refused_total", n)
}

// readHeader reads the connection header; the caller has set a deadline.
func readHeader(c net.Conn) (kind byte, arg uint16, err error) {
	var hdr [HeaderLen]byte
	if _, err := io.ReadFull(c, hdr[:]); err != nil {
		return 0, 0, err
	}
	return hdr[0], binary.BigEndian.Uint16(hdr[1:]), nil
}

// AppendHeader appends the connection header for kind and arg to dst.
func AppendHeader(dst []byte, kind byte, arg uint16) []byte {
	return binary.BigEndian.AppendUint16(append(dst, kind), arg)
}

// Dial connects to the mux at addr with the given security, completes the
// handshake (the peer must prove a node certificate of the cluster) and
// writes the header for kind and arg. The connection then belongs to that
// protocol; PeerNodeID tells which node answered.
func Dial(ctx context.Context, sec Security, addr string, kind byte, arg uint16) (net.Conn, error) {
	if err := sec.validate(); err != nil {
		return nil, err
	}
	return dialWith(ctx, sec, nil, addr, kind, arg)
}

// Dial is like the package's Dial with the mux's security, through the
// mux's dialer (WithDialer) if it has one.
func (m *Mux) Dial(ctx context.Context, addr string, kind byte, arg uint16) (net.Conn, error) {
	return dialWith(ctx, m.sec, m.dial, addr, kind, arg)
}

func dialWith(ctx context.Context, sec Security, dial func(context.Context, string) (net.Conn, error), addr string, kind byte, arg uint16) (net.Conn, error) {
	var raw net.Conn
	var err error
	if dial != nil {
		raw, err = dial(ctx, addr)
	} else {
		var d net.Dialer
		raw, err = d.DialContext(ctx, "tcp", addr)
	}
	if err != nil {
		return nil, err
	}
	dl, _ := ctx.Deadline()
	if err := raw.SetDeadline(dl); err != nil {
		raw.Close()
		return nil, err
	}
	c, err := sec.clientHandshake(ctx, raw)
	if err != nil {
		raw.Close()
		return nil, fmt.Errorf("mux: handshake with %s: %w", addr, err)
	}
	if _, err := c.Write(AppendHeader(make([]byte, 0, HeaderLen), kind, arg)); err != nil {
		raw.Close()
		return nil, fmt.Errorf("mux: write header to %s: %w", addr, err)
	}
	if err := raw.SetDeadline(time.Time{}); err != nil {
		raw.Close()
		return nil, err
	}
	return c, nil
}
