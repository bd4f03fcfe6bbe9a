package gate

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/roamhq/roam/hlr"
)

// peerState is where a peer's connection stands.
type peerState uint8

const (
	peerIdle    peerState = iota // no connection, no goroutine; the next item dials
	peerDialing                  // run is dialling
	peerUp                       // connected: writer and reader running
	peerBackoff                  // the last dial failed; requests fail fast until the backoff ends
	peerClosed                   // forgotten or gate closed
)

// call is one request waiting for its reply.
type call struct {
	id        uint32
	gen       uint64     // connection it was written on; 0 while queued
	done      chan error // receives exactly one value
	resp      any        // where the response is decoded; nil discards it
	transport bool       // the caller gave up waiting (for Stats)
}

func newCall(resp any) *call {
	return &call{resp: resp, done: make(chan error, 1)}
}

// peer is the client side of the connection to one destination: the
// queue of frames for it, the requests waiting for replies, and the
// goroutine (run) that dials, writes and redials. A peer with nothing to
// do and no connection has no goroutine.
type peer struct {
	g    *Gate
	addr string

	ctx    context.Context // cancelled by shutdown
	cancel context.CancelFunc
	wake   chan struct{} // cap 1: frames were queued

	mu      sync.Mutex
	state   peerState
	err     error // why the last dial failed (peerBackoff)
	q       outq
	oneWay  int              // one-way frames in q
	unsent  []*call          // requests in q
	calls   map[uint32]*call // requests queued or in flight
	nextID  uint32
	gen     uint64 // connection generation, bumped per connection
	conn    net.Conn
	backoff time.Duration
	retryAt time.Time // no dial before this
	upSince time.Time // when the current connection came up
	lost    bool      // one-way items may have been lost since the last Resync
	level   uint16    // the acceptor's gate level on this connection (0 until its welcome)
	kinds   *kindSet  // the kinds its welcome listed; nil until then, or from an older acceptor
	failing bool      // the last dial failed (for logging once per streak)
}

func newPeer(g *Gate, addr string) *peer {
	p := &peer{
		g:     g,
		addr:  addr,
		wake:  make(chan struct{}, 1),
		calls: make(map[uint32]*call),
	}
	p.ctx, p.cancel = context.WithCancel(g.ctx)
	return p
}

// send queues the request frame (id patched in) and registers c. It fails
// at once if the peer is backing off after a failed dial or does not serve
// kind k, and waits for room if the queue is full.
func (p *peer) send(ctx context.Context, frame []byte, k Kind, c *call) error {
	p.mu.Lock()
	for {
		switch p.state {
		case peerClosed:
			err := p.err
			p.mu.Unlock()
			return err
		case peerBackoff:
			err := p.err
			p.mu.Unlock()
			return fmt.Errorf("%w: %s: %w", ErrUnreachable, p.addr, err)
		}
		if !p.acceptsLocked(k) {
			if p.state == peerIdle {
				p.kickLocked() // connect, so that the welcome comes
			}
			p.mu.Unlock()
			return fmt.Errorf("%w: %s does not serve kind %d (or its welcome has not come yet)", ErrUnsupported, p.addr, k)
		}
		if len(p.q.buf) == 0 || len(p.q.buf)+len(frame) <= p.g.cfg.MaxQueueBytes {
			break
		}
		room := p.q.waitRoom()
		p.mu.Unlock()
		select {
		case <-room:
		case <-ctx.Done():
			c.transport = true
			return fmt.Errorf("%w: queue to %s full: %w", hlr.ErrTimeout, p.addr, ctx.Err())
		}
		p.mu.Lock()
	}
	for {
		p.nextID++
		if _, busy := p.calls[p.nextID]; p.nextID != 0 && !busy {
			break
		}
	}
	c.id = p.nextID
	binary.BigEndian.PutUint32(frame[lenSize+1:], c.id)
	p.q.add(frame, true)
	p.unsent = append(p.unsent, c)
	p.calls[c.id] = c
	p.kickLocked()
	p.mu.Unlock()
	return nil
}

// accepts reports whether the acceptor on the current connection serves
// kind k: the kinds its welcome listed, or for an acceptor that lists none
// (older, or its welcome still on its way) legacyAccepts.
func (p *peer) acceptsLocked(k Kind) bool {
	if p.kinds != nil {
		return p.kinds.has(k)
	}
	return legacyAccepts(k, p.level)
}

// push queues a one-way frame of kind k, or drops it if the queue is full,
// the peer closed, or the current connection's acceptor has not announced
// k (an older node, or a welcome still on its way: the frame could close
// the connection, so it is dropped, counted, and the connection brought up
// for the next one).
func (p *peer) push(frame []byte, k Kind) {
	p.mu.Lock()
	if !p.acceptsLocked(k) {
		if p.state == peerIdle {
			p.kickLocked()
		}
		p.mu.Unlock()
		p.g.st.drops.Add(1)
		return
	}
	if p.state == peerClosed || len(p.q.buf)+len(frame) > p.g.cfg.MaxQueueBytes {
		p.lost = p.state != peerClosed
		p.mu.Unlock()
		p.g.st.drops.Add(1)
		return
	}
	p.q.add(frame, false)
	p.oneWay++
	p.kickLocked()
	p.mu.Unlock()
}

// kickLocked wakes the writer, starting the peer's goroutine if it has
// none.
func (p *peer) kickLocked() {
	if p.state == peerIdle {
		p.state = peerDialing
		if !p.g.goFunc(p.run) {
			p.closeLocked(ErrClosed)
			return
		}
	}
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// abandon removes c after its caller stopped waiting. found is false if a
// reply or failure was already handed to c; up says whether the peer is
// connected; written whether the request went out.
func (p *peer) abandon(c *call) (found, up, written bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.calls[c.id] != c {
		return false, false, false
	}
	delete(p.calls, c.id)
	// A request still queued is sent anyway; its reply will find no call.
	return true, p.state == peerUp, c.gen != 0
}

// run owns the peer's connection: it dials, serves the connection until
// it breaks, and redials while there is something to send, backing off
// after failed dials. It returns when the peer goes idle or closes.
func (p *peer) run() {
	for {
		if !p.sleep() {
			return
		}
		conn, err := p.dial()
		if err != nil {
			if !p.dialFailed(err) || !p.sleep() || !p.resume() {
				return
			}
			continue
		}
		gen, ok := p.connected(conn)
		if !ok {
			conn.Close()
			return
		}
		err = p.serve(conn)
		if !p.disconnected(gen, err) {
			return
		}
	}
}

func (p *peer) dial() (net.Conn, error) {
	p.g.st.dials.Add(1)
	ctx, cancel := context.WithTimeout(p.ctx, p.g.cfg.DialTimeout)
	defer cancel()
	conn, err := p.g.dial(ctx, p.addr)
	if err != nil {
		p.g.st.dialErrors.Add(1)
		return nil, err
	}
	return conn, nil
}

// dialFailed fails every request and drops every item queued, and starts
// backing off. It returns false if the peer closed meanwhile.
func (p *peer) dialFailed(err error) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.state == peerClosed {
		return false
	}
	if !p.failing {
		p.g.log.Warn("peer unreachable", "peer", p.addr, "err", err)
	}
	p.failing = true
	p.state, p.err = peerBackoff, err
	p.backoff = min(max(2*p.backoff, p.g.cfg.RedialMin), p.g.cfg.RedialMax)
	p.retryAt = time.Now().Add(p.backoff)
	p.failAllLocked(fmt.Errorf("%w: %s: %w", ErrUnreachable, p.addr, err))
	return true
}

// failAllLocked fails every request and drops every one-way item.
func (p *peer) failAllLocked(err error) {
	for id, c := range p.calls {
		delete(p.calls, id)
		c.done <- err
	}
	p.unsent = p.unsent[:0]
	if p.oneWay > 0 {
		p.g.st.drops.Add(uint64(p.oneWay))
		p.lost = true
	}
	p.oneWay = 0
	p.q.reset()
}

// sleep waits until the peer may dial again (retryAt); false if the peer
// closed.
func (p *peer) sleep() bool {
	p.mu.Lock()
	d := time.Until(p.retryAt)
	p.mu.Unlock()
	if d <= 0 {
		return p.ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-p.ctx.Done():
		return false
	}
}

// resume ends a backoff or a lost connection: it dials again if
// something is queued, and otherwise lets the peer go idle.
func (p *peer) resume() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.state == peerClosed:
		return false
	case p.q.frames == 0:
		p.state = peerIdle
		return false
	}
	p.state = peerDialing
	return true
}

// connected makes conn the peer's connection and queues the hello in front
// of everything else.
func (p *peer) connected(conn net.Conn) (uint64, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.state == peerClosed {
		return 0, false
	}
	if p.failing {
		p.g.log.Info("peer reachable again", "peer", p.addr)
	}
	p.failing = false
	p.state, p.err, p.conn, p.upSince = peerUp, nil, conn, time.Now()
	p.level, p.kinds = 0, nil // until this connection's welcome
	p.gen++
	hello := p.g.hello
	p.q.buf = append(p.q.buf, hello...) // grow, then shift everything right
	copy(p.q.buf[len(hello):], p.q.buf[:len(p.q.buf)-len(hello)])
	copy(p.q.buf, hello)
	p.q.frames++
	p.q.urgent = true
	select {
	case p.wake <- struct{}{}:
	default:
	}
	return p.gen, true
}

// serve runs the connection: the writer in this goroutine, the reader in
// one of its own. It returns when either fails or the peer closes.
func (p *peer) serve(conn net.Conn) error {
	ctx, cancel := context.WithCancel(p.ctx)
	defer cancel()
	var readErr error
	readDone := make(chan struct{})
	if !p.g.goFunc(func() {
		defer close(readDone)
		defer cancel()
		readErr = p.readLoop(conn)
	}) {
		conn.Close()
		return ErrClosed
	}
	writeErr := p.g.writeLoop(conn, p, p.wake, ctx.Done())
	cancel()
	conn.Close()
	<-readDone
	switch {
	case writeErr != nil:
		return writeErr
	case p.ctx.Err() != nil:
		return ErrClosed
	}
	return readErr
}

// take implements source: it marks the queued requests as written on the
// current connection.
func (p *peer) take(spare []byte, force bool) ([]byte, int, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !force && p.q.frames > 0 && !p.q.ready(p.g.cfg.MaxBatchBytes) {
		return nil, 0, false
	}
	for i, c := range p.unsent {
		c.gen = p.gen
		p.unsent[i] = nil
	}
	p.unsent = p.unsent[:0]
	p.oneWay = 0
	b, n := p.q.take(spare)
	return b, n, true
}

// written implements source: once the queue has room again after items
// were lost, it asks the node to resynchronise.
func (p *peer) written() {
	if p.g.cfg.Resync == nil {
		return
	}
	p.mu.Lock()
	resync := p.lost && len(p.q.buf) < p.g.cfg.MaxQueueBytes/2
	if resync {
		p.lost = false
	}
	p.mu.Unlock()
	if resync {
		p.g.cfg.Resync(p.addr)
	}
}

// disconnected fails the requests written on connection gen (the remote
// may or may not have run them); requests still queued wait for the next
// connection. It returns true to redial at once if something is queued.
// The next dial, now or when traffic comes, waits out the backoff: zero
// if the connection had lasted RedialMax, growing otherwise, so that a
// peer that accepts and drops connections is not hammered.
func (p *peer) disconnected(gen uint64, cause error) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.conn = nil
	if p.state == peerClosed {
		return false
	}
	if time.Since(p.upSince) >= p.g.cfg.RedialMax {
		p.backoff = 0
	} else {
		p.backoff = min(max(2*p.backoff, p.g.cfg.RedialMin), p.g.cfg.RedialMax)
	}
	p.retryAt = time.Now().Add(p.backoff)
	p.g.st.connsLost.Add(1)
	p.g.log.Warn("connection to peer lost", "peer", p.addr, "err", cause)
	p.lost = true
	err := fmt.Errorf("%w: %s: connection lost: %w", ErrUnreachable, p.addr, cause)
	for id, c := range p.calls {
		if c.gen == gen {
			delete(p.calls, id)
			c.done <- err
		}
	}
	if p.q.frames == 0 {
		p.state = peerIdle
		return false
	}
	p.state = peerDialing
	return true
}

// shutdown closes the peer for good (Forget, Close).
func (p *peer) shutdown(err error) {
	p.mu.Lock()
	p.closeLocked(err)
	conn := p.conn
	p.mu.Unlock()
	p.cancel()
	if conn != nil {
		conn.Close()
	}
}

func (p *peer) closeLocked(err error) {
	if p.state == peerClosed {
		return
	}
	p.state, p.err = peerClosed, err
	p.failAllLocked(err)
	p.lost = false
}

// readLoop reads replies and hands them to their calls.
func (p *peer) readLoop(conn net.Conn) error {
	d := newDecoder(p.g.cfg.MaxFrameBytes)
	for {
		for {
			f, ok, err := d.next()
			if err != nil {
				return err
			}
			if !ok {
				break
			}
			if err := p.reply(f); err != nil {
				return err
			}
		}
		if _, err := d.fill(conn); err != nil {
			return err
		}
	}
}

// reply decodes a reply frame into the call waiting for it.
func (p *peer) reply(f frame) error {
	if f.typ != frameReply {
		return fmt.Errorf("%w: unexpected frame of type %d from %s", ErrProtocol, f.typ, p.addr)
	}
	if f.id == 0 {
		// The acceptor's welcome (ids of requests are never 0).
		var r replyIn
		if err := decodeBody(f.body, &r); err != nil {
			return err
		}
		p.mu.Lock()
		p.level = r.Level
		if len(r.Kinds) > 0 {
			p.kinds = newKindSet(r.Kinds)
		}
		p.mu.Unlock()
		return nil
	}
	p.mu.Lock()
	c := p.calls[f.id]
	delete(p.calls, f.id)
	p.mu.Unlock()
	var r replyIn
	err := decodeBody(f.body, &r)
	if err == nil && c != nil && c.resp != nil && r.Code == codeOK {
		raw := r.Result
		if len(raw) == 0 {
			raw = r.Answer
		}
		if len(raw) > 0 {
			err = decodeBody(raw, c.resp)
		}
	}
	if c == nil {
		return err // the caller gave up; the frame was still checked
	}
	if err != nil {
		c.done <- fmt.Errorf("%w: %s: %w", ErrUnreachable, p.addr, err)
		return err
	}
	c.done <- decodeError(p.addr, &r)
	return nil
}
