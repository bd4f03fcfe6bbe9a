package node

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/roamhq/roam/node/mux"
	"github.com/roamhq/roam/wire"
)

// Coalesced Raft heartbeats. Every partition leader sends each follower a
// heartbeat every HeartbeatTimeout/10; with P partitions that is P tiny
// RPCs per peer per interval, each its own write and read on both sides,
// which dominated the idle CPU of a cluster. Here a partition's transport
// hands its heartbeats to the node's coalescer, which sends everything
// queued for one peer within hbWindow as one batch over one persistent
// connection (mux kind 'H'); the receiving node feeds each to its
// partition's Raft heartbeat fast path and answers the batch.
//
// Stream 'H' (argument 0): frames of uint32 BE length + msgpack array,
// requests []hbReq answered in order by []hbResp.

// kindHeartbeat is the mux kind of the heartbeat stream.
const kindHeartbeat byte = 'H'

// hbWindow is how long the first queued heartbeat waits for others. Raft
// also sends heartbeats on demand to confirm leadership (VerifyLeader), so
// a linearizable read can wait up to this long; writes never do. Measured
// with scripts/idle-cpu.sh (3 nodes, 64 partitions): no coalescing ~30% of
// a core, 5 ms ~20%, 10 ms ~18%, 20 ms ~14%.
const hbWindow = 20 * time.Millisecond

// hbMaxFrame bounds one batch on the wire.
const hbMaxFrame = 1 << 20

type hbReq struct {
	Pid     uint16 `msgpack:"p"`
	Term    uint64 `msgpack:"t"`
	Version int    `msgpack:"v"`
	ID      []byte `msgpack:"i"`
	Addr    []byte `msgpack:"a"`
	Leader  []byte `msgpack:"l"`
}

type hbResp struct {
	Term    uint64 `msgpack:"t"`
	LastLog uint64 `msgpack:"g"`
	Success bool   `msgpack:"s"`
	NoRetry bool   `msgpack:"n"`
	Version int    `msgpack:"v"`
	ID      []byte `msgpack:"i"`
	Addr    []byte `msgpack:"a"`
	Err     string `msgpack:"e"`
}

// isHeartbeat matches raft's own heartbeat test (net_transport.go).
func isHeartbeat(a *raft.AppendEntriesRequest) bool {
	return a.Term != 0 && (len(a.RPCHeader.Addr) > 0 || len(a.Leader) > 0) &&
		a.PrevLogEntry == 0 && a.PrevLogTerm == 0 && len(a.Entries) == 0 && a.LeaderCommitIndex == 0
}

// hbTransport is a partition's transport: Raft's network transport with
// heartbeats routed through the coalescer.
type hbTransport struct {
	*raft.NetworkTransport
	pid uint16
	hb  *heartbeats
	fn  atomic.Pointer[func(raft.RPC)]
}

// SetHeartbeatHandler records raft's fast path for coalesced heartbeats.
func (t *hbTransport) SetHeartbeatHandler(cb func(raft.RPC)) {
	t.fn.Store(&cb)
	t.NetworkTransport.SetHeartbeatHandler(cb)
}

// AppendEntries sends heartbeats through the coalescer.
func (t *hbTransport) AppendEntries(id raft.ServerID, target raft.ServerAddress, args *raft.AppendEntriesRequest, resp *raft.AppendEntriesResponse) error {
	if isHeartbeat(args) {
		return t.hb.send(string(target), t.pid, args, resp)
	}
	return t.NetworkTransport.AppendEntries(id, target, args, resp)
}

// heartbeats is the node's coalescer (sending side) and the handler of
// stream 'H' (receiving side).
type heartbeats struct {
	n       *Node
	timeout time.Duration

	mu    sync.Mutex
	peers map[string]*hbPeer
	parts map[uint16]*hbTransport

	refused atomic.Uint64 // heartbeats refused for a Raft id not the peer's
}

type hbItem struct {
	req  hbReq
	resp *raft.AppendEntriesResponse
	done chan error
}

type hbPeer struct {
	addr  string
	mu    sync.Mutex
	queue []*hbItem
	wake  chan struct{}
}

func (h *heartbeats) init(n *Node) {
	h.n = n
	h.timeout = max(n.cfg.HLR.Raft.HeartbeatTimeout, 100*time.Millisecond)
	h.peers = make(map[string]*hbPeer)
	h.parts = make(map[uint16]*hbTransport)
}

func (h *heartbeats) register(t *hbTransport) {
	h.mu.Lock()
	h.parts[t.pid] = t
	h.mu.Unlock()
}

func (h *heartbeats) unregister(pid uint16) {
	h.mu.Lock()
	delete(h.parts, pid)
	h.mu.Unlock()
}

// send queues one heartbeat for target and waits for its answer.
func (h *heartbeats) send(target string, pid uint16, args *raft.AppendEntriesRequest, resp *raft.AppendEntriesResponse) error {
	it := &hbItem{
		req: hbReq{Pid: pid, Term: args.Term, Version: int(args.RPCHeader.ProtocolVersion),
			ID: args.RPCHeader.ID, Addr: args.RPCHeader.Addr, Leader: args.Leader},
		resp: resp,
		done: make(chan error, 1),
	}
	h.mu.Lock()
	if h.n.ctx.Err() != nil {
		h.mu.Unlock()
		return raft.ErrTransportShutdown
	}
	p := h.peers[target]
	if p == nil {
		p = &hbPeer{addr: target, wake: make(chan struct{}, 1)}
		h.peers[target] = p
		h.n.goFunc(func() { h.run(p) })
	}
	h.mu.Unlock()
	p.mu.Lock()
	p.queue = append(p.queue, it)
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
	t := time.NewTimer(h.timeout)
	defer t.Stop()
	select {
	case err := <-it.done:
		return err
	case <-t.C:
		return fmt.Errorf("node: heartbeat to %s timed out", target)
	case <-h.n.ctx.Done():
		return raft.ErrTransportShutdown
	}
}

// run sends p's batches, one at a time, over one connection.
func (h *heartbeats) run(p *hbPeer) {
	var c net.Conn
	var rd *bufio.Reader
	defer func() {
		if c != nil {
			c.Close()
		}
	}()
	for {
		select {
		case <-h.n.ctx.Done():
			p.fail(raft.ErrTransportShutdown)
			return
		case <-p.wake:
		}
		time.Sleep(hbWindow) // let the other partitions' heartbeats join
		p.mu.Lock()
		batch := p.queue
		p.queue = nil
		p.mu.Unlock()
		if len(batch) == 0 {
			continue
		}
		if c == nil {
			ctx, cancel := context.WithTimeout(h.n.ctx, h.timeout)
			conn, err := h.n.mux.Dial(ctx, p.addr, kindHeartbeat, 0)
			cancel()
			if err != nil {
				failAll(batch, err)
				continue
			}
			c, rd = conn, bufio.NewReader(conn)
		}
		if err := h.exchange(c, rd, batch); err != nil {
			c.Close()
			c = nil
			failAll(batch, err)
		}
	}
}

func (p *hbPeer) fail(err error) {
	p.mu.Lock()
	batch := p.queue
	p.queue = nil
	p.mu.Unlock()
	failAll(batch, err)
}

func failAll(batch []*hbItem, err error) {
	for _, it := range batch {
		it.done <- err
	}
}

// exchange writes one batch and reads its answers.
func (h *heartbeats) exchange(c net.Conn, rd *bufio.Reader, batch []*hbItem) error {
	reqs := make([]hbReq, len(batch))
	for i, it := range batch {
		reqs[i] = it.req
	}
	c.SetDeadline(time.Now().Add(h.timeout))
	if err := writeHBFrame(c, reqs); err != nil {
		return err
	}
	var resps []hbResp
	if err := readHBFrame(rd, &resps); err != nil {
		return err
	}
	if len(resps) != len(batch) {
		return fmt.Errorf("node: heartbeat batch of %d answered with %d", len(batch), len(resps))
	}
	for i, it := range batch {
		r := resps[i]
		if r.Err != "" {
			it.done <- errors.New(r.Err)
			continue
		}
		*it.resp = raft.AppendEntriesResponse{
			RPCHeader: raft.RPCHeader{ProtocolVersion: raft.ProtocolVersion(r.Version), ID: r.ID, Addr: r.Addr},
			Term:      r.Term, LastLog: r.LastLog, Success: r.Success, NoRetryBackoff: r.NoRetry,
		}
		it.done <- nil
	}
	return nil
}

// serve answers heartbeat batches on one incoming connection. Each
// heartbeat must carry the Raft server id of the node whose certificate
// the connection proved: a node cannot send heartbeats as another.
func (h *heartbeats) serve(c net.Conn, _ uint16) {
	defer c.Close()
	peer, verified := mux.PeerNodeID(c)
	trusted := verified || h.n.mux.Insecure()
	warned := false
	rd := bufio.NewReader(c)
	for {
		c.SetReadDeadline(time.Now().Add(10 * h.timeout))
		var reqs []hbReq
		if err := readHBFrame(rd, &reqs); err != nil {
			return
		}
		resps := make([]hbResp, len(reqs))
		for i := range reqs {
			q := &reqs[i]
			if !trusted || (verified && string(q.ID) != peer) {
				h.refused.Add(1)
				if !warned {
					warned = true
					h.n.log.Warn("refused heartbeats: the Raft id is not the certificate's node", "peer", peer, "raft_id", string(q.ID), "remote", c.RemoteAddr().String())
				}
				resps[i] = hbResp{Err: fmt.Sprintf("heartbeat for raft id %q on a connection of node %q", q.ID, peer)}
				continue
			}
			resps[i] = h.deliver(q)
		}
		c.SetWriteDeadline(time.Now().Add(h.timeout))
		if err := writeHBFrame(c, resps); err != nil {
			return
		}
	}
}

// deliver hands one heartbeat to its partition's Raft.
func (h *heartbeats) deliver(q *hbReq) hbResp {
	h.mu.Lock()
	t := h.parts[q.Pid]
	h.mu.Unlock()
	var fn func(raft.RPC)
	if t != nil {
		if p := t.fn.Load(); p != nil {
			fn = *p
		}
	}
	if fn == nil {
		return hbResp{Err: fmt.Sprintf("partition %d not open here", q.Pid)}
	}
	ch := make(chan raft.RPCResponse, 1)
	fn(raft.RPC{
		Command: &raft.AppendEntriesRequest{
			RPCHeader: raft.RPCHeader{ProtocolVersion: raft.ProtocolVersion(q.Version), ID: q.ID, Addr: q.Addr},
			Term:      q.Term, Leader: q.Leader,
		},
		RespChan: ch,
	})
	select {
	case r := <-ch:
		if r.Error != nil {
			return hbResp{Err: r.Error.Error()}
		}
		a, ok := r.Response.(*raft.AppendEntriesResponse)
		if !ok {
			return hbResp{Err: "unexpected heartbeat response"}
		}
		return hbResp{Term: a.Term, LastLog: a.LastLog, Success: a.Success, NoRetry: a.NoRetryBackoff,
			Version: int(a.ProtocolVersion), ID: a.ID, Addr: a.Addr}
	case <-time.After(h.timeout):
		return hbResp{Err: "heartbeat not processed in time"}
	}
}

func writeHBFrame(w io.Writer, v any) error {
	body, err := msgpack.Marshal(v)
	if err != nil {
		return err
	}
	buf := binary.BigEndian.AppendUint32(make([]byte, 0, 4+len(body)), uint32(len(body)))
	_, err = w.Write(append(buf, body...))
	return err
}

func readHBFrame(r *bufio.Reader, v any) error {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n > hbMaxFrame {
		return fmt.Errorf("node: heartbeat frame of %d bytes", n)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return err
	}
	return wire.Decode(body, v) // bounds-checked: a peer's bytes are input too
}
