package raftnet

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// serverConn is the receiving side of one peer's RPC stream. Its reader
// (the mux's handler goroutine) decodes requests; heartbeats of no newer
// term go straight to their partition's fast path, everything else to a queue per
// partition drained in order by a goroutine that lives while the queue
// has work, so a partition busy with its disk holds up no other. Answers
// are written by the connection's writer goroutine, everything queued in
// one Write.
type serverConn struct {
	n        *Net
	c        net.Conn
	peerID   string
	verified bool
	done     chan struct{} // closed when the connection ends
	wg       sync.WaitGroup
	warned   bool // reader only

	mu     sync.Mutex
	queues map[uint16]*inQueue
	out    []byte
	spare  []byte
	frames int
	wake   chan struct{}
}

type inQueue struct {
	items   []inItem
	running bool
}

type inItem struct {
	h   frameHdr
	rpc raft.RPC
}

func (n *Net) identify(c net.Conn) (string, bool) {
	if n.cfg.Identify == nil {
		return "", false
	}
	return n.cfg.Identify(c)
}

func (n *Net) serveRPC(c net.Conn) {
	id, verified := n.identify(c)
	if !verified && !n.cfg.Insecure {
		n.log.Warn("dropped raft stream: the peer proved no node id", "remote", c.RemoteAddr().String())
		return
	}
	s := &serverConn{n: n, c: c, peerID: id, verified: verified, done: make(chan struct{}),
		queues: make(map[uint16]*inQueue), wake: make(chan struct{}, 1)}
	s.wg.Add(1)
	go func() { defer s.wg.Done(); s.writeLoop() }()
	defer func() {
		close(s.done)
		c.Close()
		s.wg.Wait()
	}()
	rd := bufio.NewReaderSize(c, 64<<10)
	hdr := make([]byte, hdrLen)
	for {
		h, body, err := readFrame(rd, hdr, n.cfg.MaxFrame)
		if err != nil {
			return
		}
		if err := s.handle(h, body); err != nil {
			n.log.Warn("dropped raft stream: bad request", "peer", id, "remote", c.RemoteAddr().String(), "err", err)
			return
		}
	}
}

// handle dispatches one request; an error ends the connection.
func (s *serverConn) handle(h frameHdr, body []byte) error {
	var rpc raft.RPC
	var id []byte
	switch h.typ {
	case tHeartbeat:
		a := new(raft.AppendEntriesRequest)
		if err := decodeHeartbeat(body, a); err != nil {
			return err
		}
		rpc.Command, id = a, a.ID
	case tAppend:
		a := new(raft.AppendEntriesRequest)
		if err := decodeAppendReq(body, a); err != nil {
			return err
		}
		rpc.Command, id = a, a.ID
	case tVote:
		a := new(raft.RequestVoteRequest)
		if err := decodeMsgpack(body, a); err != nil {
			return err
		}
		rpc.Command, id = a, a.ID
	case tPreVote:
		a := new(raft.RequestPreVoteRequest)
		if err := decodeMsgpack(body, a); err != nil {
			return err
		}
		rpc.Command, id = a, a.ID
	case tTimeoutNow:
		a := new(raft.TimeoutNowRequest)
		if err := decodeMsgpack(body, a); err != nil {
			return err
		}
		rpc.Command, id = a, a.ID
	default:
		return fmt.Errorf("request of unknown type %d", h.typ)
	}
	if err := s.n.checkID(s.peerID, s.verified, id); err != nil {
		if !s.warned {
			s.warned = true
			s.n.log.Warn("refused raft requests: the Raft id is not the certificate's node", "peer", s.peerID, "raft_id", string(id), "remote", s.c.RemoteAddr().String())
		}
		s.respond(h, raft.RPCResponse{Error: err})
		return nil
	}
	t := s.n.transport(h.pid)
	if t == nil {
		s.respond(h, raft.RPCResponse{Error: fmt.Errorf("raftnet: partition %d not open here", h.pid)})
		return nil
	}
	if h.typ == tHeartbeat {
		if fn := t.heartbeatHandler(); fn != nil && t.fastPath(rpc.Command.(*raft.AppendEntriesRequest).Term) {
			ch := make(chan raft.RPCResponse, 1)
			rpc.RespChan = ch
			fn(rpc) // raft answers heartbeats synchronously
			select {
			case r := <-ch:
				s.respond(h, r)
			default:
				s.respond(h, raft.RPCResponse{Error: ErrClosed})
			}
			return nil
		}
	}
	s.enqueue(h, rpc)
	return nil
}

func (s *serverConn) enqueue(h frameHdr, rpc raft.RPC) {
	s.mu.Lock()
	q := s.queues[h.pid]
	if q == nil {
		q = &inQueue{}
		s.queues[h.pid] = q
	}
	q.items = append(q.items, inItem{h: h, rpc: rpc})
	start := !q.running
	q.running = true
	s.mu.Unlock()
	if start {
		s.wg.Add(1)
		go func() { defer s.wg.Done(); s.drain(q) }()
	}
}

// drain hands q's requests to their partition's Raft one at a time, in
// the order they came.
func (s *serverConn) drain(q *inQueue) {
	for {
		s.mu.Lock()
		if len(q.items) == 0 {
			q.items, q.running = nil, false
			s.mu.Unlock()
			return
		}
		it := q.items[0]
		q.items = q.items[1:]
		s.mu.Unlock()
		if !s.process(it) {
			return // the connection ended; the rest is dropped with it
		}
	}
}

func (s *serverConn) process(it inItem) bool {
	t := s.n.transport(it.h.pid)
	if t == nil {
		s.respond(it.h, raft.RPCResponse{Error: fmt.Errorf("raftnet: partition %d not open here", it.h.pid)})
		return true
	}
	ch := make(chan raft.RPCResponse, 1)
	it.rpc.RespChan = ch
	select {
	case t.consumeCh <- it.rpc:
	case <-t.ctx.Done():
		s.respond(it.h, raft.RPCResponse{Error: ErrClosed})
		return true
	case <-s.done:
		return false
	}
	select {
	case r := <-ch:
		s.respond(it.h, r)
		return true
	case <-t.ctx.Done():
		s.respond(it.h, raft.RPCResponse{Error: ErrClosed})
		return true
	case <-s.done:
		return false
	}
}

// respond queues the answer to request h.
func (s *serverConn) respond(h frameHdr, r raft.RPCResponse) {
	var body []byte
	if r.Response != nil && h.typ != tAppend && h.typ != tHeartbeat {
		var err error
		if body, err = appendMsgpack(nil, r.Response); err != nil {
			r.Error = errors.Join(r.Error, err)
			body = nil
		}
	}
	s.mu.Lock()
	var at int
	s.out, at = beginFrame(s.out, h.typ|respBit, h.pid, h.seq)
	s.out = appendRespErr(s.out, r.Error)
	switch h.typ {
	case tAppend, tHeartbeat:
		a, _ := r.Response.(*raft.AppendEntriesResponse)
		if a == nil {
			a = &raft.AppendEntriesResponse{}
		}
		s.out = appendAppendResp(s.out, a)
	default:
		s.out = append(s.out, body...)
	}
	s.out = endFrame(s.out, at)
	s.frames++
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *serverConn) writeLoop() {
	for {
		select {
		case <-s.done:
			return
		case <-s.wake:
		}
		s.mu.Lock()
		buf, frames := s.out, s.frames
		s.out, s.spare, s.frames = s.spare[:0], nil, 0
		s.mu.Unlock()
		if len(buf) == 0 {
			continue
		}
		s.c.SetWriteDeadline(time.Now().Add(s.n.cfg.Timeout))
		_, err := s.c.Write(buf)
		s.n.stats.writes.Add(1)
		s.n.stats.frames.Add(uint64(frames))
		if err != nil {
			s.c.Close() // the reader sees it and ends the connection
			return
		}
		if cap(buf) <= 4<<20 {
			s.mu.Lock()
			if s.spare == nil {
				s.spare = buf[:0]
			}
			s.mu.Unlock()
		}
	}
}
