package client

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/roamhq/roam/wire"
)

// conn is one TCP connection to a node. Its reader goroutine (readLoop)
// routes replies to the waiting request by request id and hands pushes
// (rid 0) to the Client. Once a session is established on it, a keeper
// goroutine sends heartbeats and acknowledgements. Writes from any
// goroutine are serialised by wmu.
type conn struct {
	c       *Client
	nc      net.Conn
	addr    string
	welcome wire.Welcome

	rid   atomic.Uint32
	waits waitList

	wmu  sync.Mutex
	wbuf []byte

	done      chan struct{} // closed when the connection is closed
	closeOnce sync.Once
	err       error // why it closed; set before done is closed

	lastRecv   atomic.Int64  // unix nanoseconds of the last frame read
	retiring   atomic.Bool   // replaced by another connection: ignore its goodbye and loss
	expectBye  atomic.Bool   // a logout or deletion is in flight: its goodbye is expected
	byeCode    atomic.Uint32 // code of the goodbye received, if any
	keeperOnce sync.Once
	ackKick    chan struct{}
	probeKick  chan struct{} // a request was sent: the keeper's probe watches it
	sessAt     atomic.Int64  // unix nanoseconds when a session was adopted on it (0: none)
}

// reply is what the reader hands to the request waiting on a rid: the
// frame type and a copy of its body, or the error that closed the
// connection.
type reply struct {
	typ  wire.Type
	body []byte
	err  error
}

// dial connects to addr, starts the reader and exchanges Hello/Welcome.
func (c *Client) dial(ctx context.Context, addr string) (*conn, error) {
	if c.cfg.TLS == nil && !c.cfg.AllowPlaintext && !loopback(addr) {
		return nil, fmt.Errorf("%w: %s", ErrPlaintext, addr)
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.DialTimeout)
	defer cancel()
	d := net.Dialer{}
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	if c.cfg.TLS != nil {
		tc := c.cfg.TLS.Clone()
		if tc.ServerName == "" {
			if host, _, err := net.SplitHostPort(addr); err == nil {
				tc.ServerName = host
			}
		}
		if len(tc.NextProtos) == 0 {
			tc.NextProtos = []string{ALPN}
		}
		if tc.MinVersion == 0 {
			tc.MinVersion = tls.VersionTLS13
		}
		tlsConn := tls.Client(nc, tc)
		if err := tlsConn.HandshakeContext(ctx); err != nil {
			nc.Close()
			return nil, err
		}
		nc = tlsConn
	}
	cn := &conn{c: c, nc: nc, addr: addr, done: make(chan struct{}), ackKick: make(chan struct{}, 1), probeKick: make(chan struct{}, 1)}
	cn.waits.m = make(map[uint32]waiter)
	cn.lastRecv.Store(time.Now().UnixNano())
	if !c.track(cn) {
		nc.Close()
		return nil, ErrClosed
	}
	hello := wire.Hello{Proto: wire.Magic, Version: wire.Version, Client: c.cfg.ClientName, MaxFrame: uint32(c.cfg.MaxFrame)}
	sent := time.Now()
	if err := cn.roundTrip(ctx, wire.THello, &hello, wire.TWelcome, &cn.welcome); err != nil {
		cn.close(err)
		return nil, err
	}
	c.mu.Lock()
	c.pick.measured(addr, time.Since(sent))
	c.mu.Unlock()
	if cn.welcome.Version != wire.Version {
		err := fmt.Errorf("%w: server chose protocol version %d", ErrProtocol, cn.welcome.Version)
		cn.close(err)
		return nil, err
	}
	return cn, nil
}

// readLoop is the connection's reader goroutine.
func (cn *conn) readLoop() {
	rd := newFrameReader(cn.nc, cn.c.cfg.MaxFrame)
	for {
		f, err := rd.next()
		if sk, ok := err.(*errSkipped); ok {
			cn.lastRecv.Store(time.Now().UnixNano())
			cn.skipped(sk)
			continue
		}
		if err != nil {
			cn.close(err)
			cn.c.connLost(cn, cn.err)
			return
		}
		cn.lastRecv.Store(time.Now().UnixNano())
		if f.RID != 0 {
			// A reply; nobody may be waiting any more (a request whose
			// context ended, or a Pong): then it is dropped.
			cn.waits.trigger(f.RID, reply{typ: f.Type, body: append([]byte(nil), f.Body...)})
			continue
		}
		cn.c.handlePush(cn, f)
	}
}

// skipped handles a frame larger than MaxFrame, which the reader skipped:
// the request it answered fails; a push is lost (a message push cannot be
// that large from a server that honours Hello's max_frame).
func (cn *conn) skipped(sk *errSkipped) {
	if sk.rid != 0 {
		cn.waits.trigger(sk.rid, reply{err: fmt.Errorf("%w: %v", ErrFrameTooLarge, sk)})
		return
	}
	cn.c.log.Warn("push skipped", "addr", cn.addr, "err", sk)
}

// nextRID returns a fresh non-zero request id.
func (cn *conn) nextRID() uint32 {
	for {
		if id := cn.rid.Add(1); id != 0 {
			return id
		}
	}
}

// send writes one frame.
func (cn *conn) send(t wire.Type, rid uint32, body any) error {
	cn.wmu.Lock()
	defer cn.wmu.Unlock()
	select {
	case <-cn.done:
		return fmt.Errorf("%w: %v", ErrConnLost, cn.err)
	default:
	}
	buf, err := wire.AppendFrame(cn.wbuf[:0], t, rid, body)
	if err != nil {
		return err
	}
	cn.wbuf = buf
	cn.nc.SetWriteDeadline(time.Now().Add(cn.c.cfg.RequestTimeout))
	if _, err := cn.nc.Write(buf); err != nil {
		cn.close(err)
		return fmt.Errorf("%w: %v", ErrConnLost, err)
	}
	if cap(cn.wbuf) > 64<<10 {
		cn.wbuf = nil // do not pin a large buffer
	}
	return nil
}

// roundTrip sends a request and waits for its reply, decoding a reply of
// type want into out (which may be nil) and a TError into an *Error.
func (cn *conn) roundTrip(ctx context.Context, t wire.Type, body any, want wire.Type, out any) error {
	rid := cn.nextRID()
	// Sends (1:1 and group) are committed concurrently by the server; every other request
	// is handled in order, so its reply (and a Pong behind it) can wait.
	ch, err := cn.waits.register(rid)
	if err != nil {
		return err
	}
	if err := cn.send(t, rid, body); err != nil {
		cn.waits.cancel(rid)
		return err
	}
	cn.kickProbe()
	select {
	case r := <-ch:
		return decodeReply(r, want, out)
	case <-ctx.Done():
		cn.waits.cancel(rid)
		return ctx.Err()
	}
}

func decodeReply(r reply, want wire.Type, out any) error {
	if r.err != nil {
		return r.err
	}
	switch r.typ {
	case want:
		if out == nil {
			return nil
		}
		if err := wire.Decode(r.body, out); err != nil {
			return fmt.Errorf("%w: %s reply: %v", ErrProtocol, want, err)
		}
		return nil
	case wire.TError:
		var e wire.Error
		if err := wire.Decode(r.body, &e); err != nil {
			return fmt.Errorf("%w: error reply: %v", ErrProtocol, err)
		}
		return &Error{Code: e.Code, Message: e.Message, RetryAfter: time.Duration(e.RetryAfterMS) * time.Millisecond}
	}
	return fmt.Errorf("%w: got a %s reply, want %s", ErrProtocol, r.typ, want)
}

// close closes the connection once; every waiting request fails with
// ErrConnLost.
func (cn *conn) close(why error) {
	cn.closeOnce.Do(func() {
		if why == nil {
			why = errors.New("closed")
		}
		cn.err = why
		cn.nc.Close()
		close(cn.done) // before the waiters learn of it: they may check closed()
		cn.waits.fail(fmt.Errorf("%w: %v", ErrConnLost, why))
	})
}

func (cn *conn) closed() bool {
	select {
	case <-cn.done:
		return true
	default:
		return false
	}
}

// kickAck wakes the keeper to send the cursor.
func (cn *conn) kickAck() {
	select {
	case cn.ackKick <- struct{}{}:
	default:
	}
}

// kickProbe tells the keeper a request is waiting.
func (cn *conn) kickProbe() {
	select {
	case cn.probeKick <- struct{}{}:
	default:
	}
}

// keeper is the connection's heartbeat goroutine, started when a session
// is established on it: it pings every interval, sends the
// acknowledgement cursor when kicked, and runs the liveness probe while
// requests wait (probe.go). It closes the connection when the server has
// been silent for three intervals, or sent nothing back within
// pongWait of a heartbeat ping.
func (cn *conn) keeper(interval time.Duration) {
	cfg := &cn.c.cfg
	hb := time.NewTicker(interval)
	defer hb.Stop()
	var tick *time.Ticker // the probe's, only while a request or a heartbeat waits
	var tickC <-chan time.Time
	startTick := func() {
		if tick == nil {
			tick = time.NewTicker(max(cfg.ProbeAfter/4, 10*time.Millisecond))
			tickC = tick.C
		}
	}
	defer func() {
		if tick != nil {
			tick.Stop()
		}
	}()
	var p probe
	var hbAt int64 // unix nanoseconds of the unanswered heartbeat ping, 0 if none
	cn.kickAck()   // a cursor left from an earlier connection
	for {
		select {
		case <-cn.done:
			return
		case <-cn.c.done:
			return
		case <-cn.ackKick:
			cn.c.flushAck(cn)
		case <-cn.probeKick:
			startTick()
		case now := <-tickC:
			last := cn.lastRecv.Load()
			if hbAt != 0 && last >= hbAt {
				hbAt = 0
			}
			if hbAt != 0 && time.Duration(now.UnixNano()-hbAt) >= pongWait(cfg.ProbeTimeout) {
				cn.c.dropSilent(cn, now.Sub(time.Unix(0, last)))
				return
			}
			n, oldest := cn.waits.stats()
			switch p.step(now.UnixNano(), n, oldest, last, cfg.ProbeAfter, cfg.ProbeTimeout) {
			case probeIdle:
				if hbAt == 0 {
					tick.Stop()
					tick, tickC = nil, nil
				}
			case probePing:
				if err := cn.send(wire.TPing, cn.nextRID(), &wire.Empty{}); err != nil {
					return
				}
			case probeSilent:
				cn.c.dropSilent(cn, now.Sub(time.Unix(0, last)))
				return
			}
		case now := <-hb.C:
			if silent := now.Sub(time.Unix(0, cn.lastRecv.Load())); silent > 3*interval {
				cn.close(fmt.Errorf("no frame from the server for %v", silent.Round(time.Millisecond)))
				return
			}
			if err := cn.send(wire.TPing, cn.nextRID(), &wire.Empty{}); err != nil {
				return
			}
			if hbAt == 0 {
				hbAt = now.UnixNano()
				startTick()
			}
		}
	}
}

// waitList is the wait registry: it maps a request id to the channel its
// reply is delivered on (the idea of etcd's pkg/wait), and knows when
// each request was sent, for the liveness probe.
type waitList struct {
	mu  sync.Mutex
	m   map[uint32]waiter
	err error // set once the connection failed
}

type waiter struct {
	ch   chan reply
	sent int64 // unix nanoseconds
}

func (w *waitList) register(id uint32) (chan reply, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return nil, w.err
	}
	ch := make(chan reply, 1)
	w.m[id] = waiter{ch: ch, sent: time.Now().UnixNano()}
	return ch, nil
}

func (w *waitList) trigger(id uint32, r reply) bool {
	w.mu.Lock()
	wt, ok := w.m[id]
	delete(w.m, id)
	w.mu.Unlock()
	if ok {
		wt.ch <- r // buffered, and triggered at most once
	}
	return ok
}

func (w *waitList) cancel(id uint32) {
	w.mu.Lock()
	delete(w.m, id)
	w.mu.Unlock()
}

func (w *waitList) fail(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.err = err
	for id, wt := range w.m {
		wt.ch <- reply{err: err}
		delete(w.m, id)
	}
}

// stats returns how many requests wait and when the oldest was sent.
func (w *waitList) stats() (n int, oldest int64) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, wt := range w.m {
		n++
		if oldest == 0 || wt.sent < oldest {
			oldest = wt.sent
		}
	}
	return n, oldest
}

// loopback reports whether addr's host is a loopback IP or "localhost".
func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func isNetErr(err error) bool {
	var ne net.Error
	return errors.As(err, &ne)
}
