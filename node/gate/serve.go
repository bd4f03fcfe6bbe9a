package gate

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/roamhq/roam/node/mux"
)

// serverConn is the accepting side of a connection from another node: the
// mux handler goroutine reads it, each request runs in its own goroutine,
// and a writer goroutine sends the replies back in batches.
type serverConn struct {
	g    *Gate
	conn net.Conn
	from string // node id from the hello
	wake chan struct{}

	mu     sync.Mutex
	closed bool
	q      outq
}

// accept is the mux handler for mux.KindGate: it serves one incoming
// connection until it closes.
func (g *Gate) accept(conn net.Conn, version uint16) {
	defer conn.Close()
	if version != protoVersion {
		g.log.Warn("refused connection: unknown gate protocol version", "remote", conn.RemoteAddr().String(), "version", version)
		return
	}
	sc := &serverConn{g: g, conn: conn, wake: make(chan struct{}, 1)}
	g.mu.Lock()
	if g.closed || !g.track() {
		g.mu.Unlock()
		return
	}
	g.conns[sc] = struct{}{}
	g.mu.Unlock()
	defer g.wg.Done()

	ctx, cancel := context.WithCancel(g.ctx)
	writeErr := make(chan error, 1)
	if !g.goFunc(func() {
		err := g.writeLoop(conn, sc, sc.wake, ctx.Done())
		cancel() // a failed write ends the reader too
		conn.Close()
		writeErr <- err
	}) {
		writeErr <- ErrClosed
		cancel()
	}
	err := sc.readLoop(ctx)
	cancel()
	conn.Close()
	werr := <-writeErr
	sc.mu.Lock()
	sc.closed = true
	sc.q.reset()
	sc.mu.Unlock()

	g.mu.Lock()
	delete(g.conns, sc)
	g.mu.Unlock()
	if g.ctx.Err() == nil {
		g.log.Debug("connection from peer closed", "from", sc.from, "remote", conn.RemoteAddr().String(), "err", err, "write_err", werr)
	}
}

// readLoop reads frames until the connection fails or sends garbage.
func (sc *serverConn) readLoop(ctx context.Context) error {
	d := newDecoder(sc.g.cfg.MaxFrameBytes)
	for {
		for {
			f, ok, err := d.next()
			if err == nil && ok {
				err = sc.handle(ctx, f)
			}
			if errors.Is(err, ErrImpostor) {
				sc.g.log.Warn("closing connection from peer: identity mismatch", "remote", sc.conn.RemoteAddr().String(), "err", err)
				return err
			}
			if err != nil && !errors.Is(err, ErrProtocol) {
				return err // closing
			}
			if err != nil {
				sc.g.st.badFrames.Add(1)
				sc.g.log.Warn("closing connection from peer: bad frame", "from", sc.from, "remote", sc.conn.RemoteAddr().String(), "err", err)
				return err
			}
			if !ok {
				break
			}
		}
		if _, err := d.fill(sc.conn); err != nil {
			return err
		}
	}
}

// handle dispatches one frame to the Handler of its kind. One-way items
// (id 0) run here, in order; requests get a goroutine each once a
// concurrency slot is free. A kind with no Handler, or a frame whose id
// does not match its Handler (a request id on a one-way kind or none on a
// request kind), is a protocol error. An error closes the connection.
func (sc *serverConn) handle(ctx context.Context, f frame) error {
	g := sc.g
	if sc.from == "" {
		var h helloBody
		if f.typ != frameHello {
			return fmt.Errorf("%w: %s frame before hello", ErrProtocol, g.kindName(f.typ))
		}
		if err := decodeBody(f.body, &h); err != nil {
			return err
		}
		if h.Node == "" {
			return fmt.Errorf("%w: hello without a node id", ErrProtocol)
		}
		if err := sc.checkIdentity(h.Node); err != nil {
			return err
		}
		sc.from = h.Node
		// The welcome: the kinds this gate serves (and its level, for
		// older dialers), before any other reply, so that the dialer knows
		// what it may send (see accepts). Only a peer whose hello matched
		// its certificate gets it.
		w := g.welcome
		sc.reply(ctx, 0, &w)
		return nil
	}
	h := g.handlers[f.typ]
	switch {
	case h == nil:
		return fmt.Errorf("%w: unexpected %s frame (type %d)", ErrProtocol, g.kindName(f.typ), f.typ)
	case f.id == 0 && h.oneWay != nil:
		run, err := h.oneWay(f.body)
		if err != nil {
			return err
		}
		return sc.oneWay(h.name, run)
	case f.id != 0 && h.call != nil:
		ttl, run, err := h.call(f.body)
		if err != nil {
			return sc.badRequest(ctx, f.id, err)
		}
		return sc.spawn(ctx, f.id, ttl, func(ctx context.Context, r *replyBody) {
			resp, err := run(ctx, sc.from)
			switch {
			case err != nil:
				encodeError(r, err)
			case h.answer:
				r.Answer = resp
			default:
				r.Result = resp
			}
		})
	case f.id == 0:
		return fmt.Errorf("%w: request kind %s without a request id", ErrProtocol, h.name)
	}
	return fmt.Errorf("%w: one-way kind %s with a request id", ErrProtocol, h.name)
}

// checkIdentity refuses a hello whose node id is not the one the peer's
// certificate names: a node's certificate does not let it speak as
// another node (presence arrives "from" the hello's node). On a mux that
// was deliberately built without TLS nothing can be checked.
func (sc *serverConn) checkIdentity(claimed string) error {
	proved, verified := mux.PeerNodeID(sc.conn)
	switch {
	case verified && proved == claimed:
		return nil
	case !verified && sc.g.cfg.Mux.Insecure():
		return nil
	}
	sc.g.st.impostors.Add(1)
	if !verified {
		proved = "(none)"
	}
	return fmt.Errorf("%w: hello claims node %q, the certificate names %q", ErrImpostor, claimed, proved)
}

// oneWay runs a Handler call for a one-way item of the named kind, unless
// the DropOneWay fault hook discards it. A panic is logged and the item
// skipped, rather than taking the process down.
func (sc *serverConn) oneWay(name string, fn func(from string)) error {
	if drop := sc.g.cfg.DropOneWay; drop != nil && drop(name) {
		sc.g.st.discarded.Add(1)
		return nil
	}
	defer func() {
		if r := recover(); r != nil {
			sc.g.log.Error("handler panicked on a one-way item", "from", sc.from, "panic", r)
		}
	}()
	sc.g.st.received.Add(1)
	fn(sc.from)
	return nil
}

// badRequest answers a request whose body could not be decoded. The
// framing is intact, so the connection stays up.
func (sc *serverConn) badRequest(ctx context.Context, id uint32, err error) error {
	sc.g.log.Warn("bad request from peer", "from", sc.from, "err", err)
	sc.reply(ctx, id, &replyBody{Code: codeBadRequest, Msg: err.Error()})
	return nil
}

// spawn runs a request in its own goroutine once one of the MaxConcurrent
// slots is free (the reader waits for it, which pushes back on the
// sender). The Handler gets a context that ends at the caller's deadline
// (capped by RequestTimeout), or when the connection or the gate closes.
func (sc *serverConn) spawn(ctx context.Context, id uint32, ttlMS int64, run func(context.Context, *replyBody)) error {
	g := sc.g
	select {
	case g.sem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	timeout := g.cfg.RequestTimeout
	if ttlMS > 0 {
		timeout = min(timeout, time.Duration(ttlMS)*time.Millisecond)
	}
	g.st.served.Add(1)
	if !g.goFunc(func() {
		defer func() { <-g.sem }()
		rctx, cancel := context.WithTimeout(ctx, timeout)
		var r replyBody
		func() {
			defer func() {
				if p := recover(); p != nil {
					g.log.Error("handler panicked", "from", sc.from, "panic", p)
					r = replyBody{Code: codeInternal, Msg: fmt.Sprintf("handler panicked: %v", p)}
				}
			}()
			run(rctx, &r)
		}()
		cancel()
		sc.reply(ctx, id, &r)
	}) {
		<-g.sem
		return ErrClosed
	}
	return nil
}

// reply queues a reply frame for the writer, waiting for room if the
// queue is full.
func (sc *serverConn) reply(ctx context.Context, id uint32, r *replyBody) {
	g := sc.g
	scratch := getScratch()
	defer putScratch(scratch)
	var err error
	*scratch, err = appendFrame((*scratch)[:0], frameReply, id, r, g.cfg.MaxFrameBytes)
	if err != nil {
		// Too large or unencodable: say so instead.
		g.log.Error("cannot encode reply", "from", sc.from, "err", err)
		*scratch, err = appendFrame((*scratch)[:0], frameReply, id, &replyBody{Code: codeTooLarge, Msg: err.Error()}, g.cfg.MaxFrameBytes)
		if err != nil {
			return
		}
	}
	sc.mu.Lock()
	for !sc.closed && len(sc.q.buf) > 0 && len(sc.q.buf)+len(*scratch) > g.cfg.MaxQueueBytes {
		room := sc.q.waitRoom()
		sc.mu.Unlock()
		select {
		case <-room:
		case <-ctx.Done():
			return
		}
		sc.mu.Lock()
	}
	if !sc.closed {
		sc.q.add(*scratch, true)
		select {
		case sc.wake <- struct{}{}:
		default:
		}
	}
	sc.mu.Unlock()
}

// take implements source.
func (sc *serverConn) take(spare []byte, force bool) ([]byte, int, bool) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	b, n := sc.q.take(spare)
	return b, n, true
}

// written implements source.
func (sc *serverConn) written() {}
