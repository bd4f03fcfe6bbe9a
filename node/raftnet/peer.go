package raftnet

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
)

// call is one RPC awaiting its answer. Exactly one of the reader (an
// answer), the connection's failure, the caller's timeout or shutdown
// finishes it; only that one writes the caller's response struct, so a
// late answer never touches a struct raft has reused.
type call struct {
	typ  byte
	pid  uint16
	seq  uint64
	resp any // the caller's *raft.XxxResponse

	once   sync.Once
	err    error
	done   chan struct{}
	notify func() // run after done is closed (pipelines)
	cc     atomic.Pointer[clientConn]
	sent   atomic.Int64 // unix nanoseconds when handed to cc
}

func newCall(typ byte, pid uint16, resp any) *call {
	return &call{typ: typ, pid: pid, resp: resp, done: make(chan struct{})}
}

// finish completes c with got (a decoded response of c's type, or nil)
// and err, unless it is complete already.
func (c *call) finish(got any, err error) {
	c.once.Do(func() {
		if got != nil {
			copyResp(c.resp, got)
		}
		c.err = err
		close(c.done)
		if c.notify != nil {
			c.notify()
		}
	})
}

func copyResp(dst, src any) {
	switch d := dst.(type) {
	case *raft.AppendEntriesResponse:
		*d = *src.(*raft.AppendEntriesResponse)
	case *raft.RequestVoteResponse:
		*d = *src.(*raft.RequestVoteResponse)
	case *raft.RequestPreVoteResponse:
		*d = *src.(*raft.RequestPreVoteResponse)
	case *raft.TimeoutNowResponse:
		*d = *src.(*raft.TimeoutNowResponse)
	}
}

// decodeResp decodes the body of a response to a request of type typ.
func decodeResp(typ byte, body []byte) (any, error) {
	switch typ {
	case tAppend, tHeartbeat:
		r := new(raft.AppendEntriesResponse)
		return r, decodeAppendResp(body, r)
	case tVote:
		r := new(raft.RequestVoteResponse)
		return r, decodeMsgpack(body, r)
	case tPreVote:
		r := new(raft.RequestPreVoteResponse)
		return r, decodeMsgpack(body, r)
	case tTimeoutNow:
		r := new(raft.TimeoutNowResponse)
		return r, decodeMsgpack(body, r)
	}
	return nil, fmt.Errorf("raftnet: response of unknown type %d", typ)
}

// hbItem is a heartbeat waiting for its peer's window to close.
type hbItem struct {
	c   *call
	req raft.AppendEntriesRequest
}

// peer is the sending side towards one node: the frames queued for it,
// the heartbeats waiting for the window, and the connection they go out
// on. Its writer goroutine (run) dials when needed and writes everything
// queued with one Write.
type peer struct {
	n    *Net
	addr string
	wake chan struct{}
	stop chan struct{}

	mu      sync.Mutex
	stopped bool
	seq     uint64
	buf     []byte  // frames queued, not yet written
	queued  []*call // the calls whose frames are in buf
	spare   []byte
	hb      []hbItem
	hbArmed bool
	hbTimer *time.Timer
	conn    *clientConn
}

func newPeer(n *Net, addr string) *peer {
	p := &peer{n: n, addr: addr, wake: make(chan struct{}, 1), stop: make(chan struct{})}
	p.hbTimer = time.AfterFunc(time.Hour, p.flushHeartbeats)
	p.hbTimer.Stop()
	return p
}

func (p *peer) signal() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// send queues c's request frame, its body appended by enc.
func (p *peer) send(c *call, enc func([]byte) []byte) error {
	p.mu.Lock()
	if p.stopped {
		p.mu.Unlock()
		return ErrClosed
	}
	err := p.queueLocked(c, enc)
	p.mu.Unlock()
	if err == nil {
		p.signal()
	}
	return err
}

func (p *peer) queueLocked(c *call, enc func([]byte) []byte) error {
	p.seq++
	c.seq = p.seq
	start := len(p.buf)
	var at int
	p.buf, at = beginFrame(p.buf, c.typ, c.pid, c.seq)
	p.buf = enc(p.buf)
	if len(p.buf)-start-4 > p.n.cfg.MaxFrame {
		size := len(p.buf) - start
		p.buf = p.buf[:start]
		return fmt.Errorf("raftnet: request of %d bytes exceeds MaxFrame", size)
	}
	p.buf = endFrame(p.buf, at)
	p.queued = append(p.queued, c)
	return nil
}

// heartbeat queues a heartbeat for the peer's window: the first one
// arms the peer's timer, and everything queued until it fires goes out
// in one write.
func (p *peer) heartbeat(c *call, req *raft.AppendEntriesRequest) error {
	p.mu.Lock()
	if p.stopped {
		p.mu.Unlock()
		return ErrClosed
	}
	p.hb = append(p.hb, hbItem{c: c, req: *req})
	arm := !p.hbArmed
	p.hbArmed = true
	p.mu.Unlock()
	if arm {
		if w := p.n.cfg.HeartbeatWindow; w > 0 {
			p.hbTimer.Reset(w)
		} else {
			p.flushHeartbeats()
		}
	}
	return nil
}

func (p *peer) flushHeartbeats() {
	p.mu.Lock()
	items := p.hb
	p.hb, p.hbArmed = nil, false
	if p.stopped {
		p.mu.Unlock()
		for _, it := range items {
			it.c.finish(nil, ErrClosed)
		}
		return
	}
	for i := range items {
		req := &items[i].req
		p.queueLocked(items[i].c, func(dst []byte) []byte { return appendHeartbeat(dst, req) })
	}
	p.mu.Unlock()
	p.n.stats.heartbeats.Add(uint64(len(items)))
	p.signal()
}

// run is the peer's writer goroutine.
func (p *peer) run() {
	for {
		select {
		case <-p.stop:
			return
		case <-p.wake:
		}
		p.mu.Lock()
		buf, calls, cc := p.buf, p.queued, p.conn
		p.buf, p.queued, p.spare = p.spare[:0], nil, nil
		p.mu.Unlock()
		if len(calls) == 0 {
			p.recycle(buf)
			continue
		}
		if cc == nil || cc.failed() {
			var err error
			if cc, err = p.dial(); err != nil {
				for _, c := range calls {
					c.finish(nil, err)
				}
				p.recycle(buf)
				continue
			}
		}
		if err := cc.add(calls); err != nil {
			for _, c := range calls {
				c.finish(nil, err)
			}
			p.recycle(buf)
			continue
		}
		cc.c.SetWriteDeadline(time.Now().Add(p.n.cfg.Timeout))
		_, err := cc.c.Write(buf)
		p.n.stats.writes.Add(1)
		p.n.stats.frames.Add(uint64(len(calls)))
		if err != nil {
			cc.fail(fmt.Errorf("raftnet: write to %s: %w", p.addr, err))
		}
		p.recycle(buf)
	}
}

// recycle keeps a written buffer for the next batch, unless it grew
// large (a big AppendEntries).
func (p *peer) recycle(buf []byte) {
	if cap(buf) > 4<<20 {
		return
	}
	p.mu.Lock()
	if p.spare == nil {
		p.spare = buf[:0]
	}
	p.mu.Unlock()
}

func (p *peer) dial() (*clientConn, error) {
	ctx, cancel := context.WithTimeout(p.n.ctx, max(p.n.cfg.HeartbeatTimeout, 2*time.Second))
	c, err := p.n.cfg.Dial(ctx, p.addr, StreamRPC)
	cancel()
	if err != nil {
		if p.n.ctx.Err() != nil {
			return nil, ErrClosed
		}
		return nil, fmt.Errorf("raftnet: dial %s: %w", p.addr, err)
	}
	p.n.stats.dials.Add(1)
	cc := &clientConn{p: p, c: c, pending: make(map[uint64]*call)}
	cc.lastRead.Store(time.Now().UnixNano())
	p.mu.Lock()
	if p.stopped {
		p.mu.Unlock()
		c.Close()
		return nil, ErrClosed
	}
	p.conn = cc
	p.mu.Unlock()
	p.n.goFunc(cc.readLoop)
	return cc, nil
}

// timedOut forgets a call that was not answered in d, and drops the
// connection if nothing at all came back on it since the call went out:
// the peer is gone or frozen, and the next request dials afresh.
func (p *peer) timedOut(c *call, d time.Duration) {
	cc := c.cc.Load()
	if cc == nil {
		return
	}
	cc.forget(c.seq)
	if cc.lastRead.Load() < c.sent.Load() {
		cc.fail(fmt.Errorf("raftnet: nothing from %s for %v", p.addr, d))
	}
}

// shutdown stops the writer and fails everything queued or in flight.
func (p *peer) shutdown() {
	p.mu.Lock()
	if p.stopped {
		p.mu.Unlock()
		return
	}
	p.stopped = true
	calls, hb, cc := p.queued, p.hb, p.conn
	p.queued, p.hb, p.buf = nil, nil, nil
	p.mu.Unlock()
	p.hbTimer.Stop()
	close(p.stop)
	for _, c := range calls {
		c.finish(nil, ErrClosed)
	}
	for _, it := range hb {
		it.c.finish(nil, ErrClosed)
	}
	if cc != nil {
		cc.fail(ErrClosed)
	}
}

// clientConn is one connection to a peer and the calls awaiting answers
// on it.
type clientConn struct {
	p        *peer
	c        net.Conn
	lastRead atomic.Int64 // unix nanoseconds of the last frame read

	mu      sync.Mutex
	err     error // set once failed
	pending map[uint64]*call
}

func (cc *clientConn) failed() bool {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	return cc.err != nil
}

func (cc *clientConn) add(calls []*call) error {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if cc.err != nil {
		return cc.err
	}
	now := time.Now().UnixNano()
	for _, c := range calls {
		c.sent.Store(now)
		c.cc.Store(cc)
		cc.pending[c.seq] = c
	}
	return nil
}

func (cc *clientConn) take(seq uint64) *call {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	c := cc.pending[seq]
	delete(cc.pending, seq)
	return c
}

func (cc *clientConn) forget(seq uint64) { cc.take(seq) }

// fail closes the connection and fails every call awaiting an answer.
func (cc *clientConn) fail(err error) {
	cc.mu.Lock()
	if cc.err != nil {
		cc.mu.Unlock()
		return
	}
	cc.err = err
	pending := cc.pending
	cc.pending = nil
	cc.mu.Unlock()
	cc.c.Close()
	p := cc.p
	p.mu.Lock()
	if p.conn == cc {
		p.conn = nil
	}
	p.mu.Unlock()
	for _, c := range pending {
		c.finish(nil, err)
	}
}

// readLoop reads answers until the connection fails.
func (cc *clientConn) readLoop() {
	rd := bufio.NewReaderSize(cc.c, 64<<10)
	hdr := make([]byte, hdrLen)
	for {
		h, body, err := readFrame(rd, hdr, cc.p.n.cfg.MaxFrame)
		if err != nil {
			cc.fail(fmt.Errorf("raftnet: read from %s: %w", cc.p.addr, err))
			return
		}
		cc.lastRead.Store(time.Now().UnixNano())
		if h.typ&respBit == 0 {
			cc.fail(fmt.Errorf("raftnet: %s sent a request (type %d) on our stream", cc.p.addr, h.typ))
			return
		}
		c := cc.take(h.seq)
		if c == nil {
			continue // timed out meanwhile
		}
		if c.typ != h.typ&^respBit || c.pid != h.pid {
			cc.fail(fmt.Errorf("raftnet: %s answered seq %d with type %d of partition %d", cc.p.addr, h.seq, h.typ, h.pid))
			c.finish(nil, ErrClosed)
			return
		}
		remote, rest, err := splitResp(body)
		var got any
		if err == nil {
			got, err = decodeResp(c.typ, rest)
		}
		if err != nil {
			cc.fail(fmt.Errorf("raftnet: bad answer from %s: %w", cc.p.addr, err))
			c.finish(nil, err)
			return
		}
		c.finish(got, remote)
	}
}
