package raftnet

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/raft"
)

// Streams of the raftnet mux kind (the header's argument).
const (
	StreamRPC      uint16 = 0 // every partition's RPCs, both directions framed
	StreamSnapshot uint16 = 1 // one InstallSnapshot, then the connection closes
)

// Errors.
var (
	// ErrClosed is returned once the Net or the partition's transport
	// is closed. It is raft.ErrTransportShutdown, which raft knows.
	ErrClosed = raft.ErrTransportShutdown
	// ErrTimeout is returned when an RPC is not answered in time.
	ErrTimeout = errors.New("raftnet: rpc timed out")
	// ErrPartitionOpen is returned by Transport for a partition that
	// already has one.
	ErrPartitionOpen = errors.New("raftnet: partition already has a transport")
)

// Stats are counters since New.
type Stats struct {
	Dials      uint64 // RPC connections dialled (one per peer while it stays up)
	Writes     uint64 // writes to connections (each carries every frame queued)
	Frames     uint64 // frames written, requests and responses
	Heartbeats uint64 // heartbeats sent
	Refused    uint64 // requests refused: a Raft id not the connection's node
	Snapshots  uint64 // snapshot streams dialled
}

type counters struct {
	dials, writes, frames, heartbeats, refused, snapshots atomic.Uint64
}

// Net is a node's multi-Raft transport: one Transport per partition, all
// sharing one connection per peer node (see the package documentation).
type Net struct {
	cfg Config
	log *slog.Logger

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	closed bool
	peers  map[string]*peer
	parts  map[uint16]*Transport

	stats counters
}

// New returns a Net; connections are dialled when first needed.
func New(cfg Config) (*Net, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	n := &Net{
		cfg:   cfg,
		log:   cfg.Logger.With("component", "raftnet"),
		peers: make(map[string]*peer),
		parts: make(map[uint16]*Transport),
	}
	n.ctx, n.cancel = context.WithCancel(context.Background())
	return n, nil
}

// Stats returns the counters.
func (n *Net) Stats() Stats {
	s := &n.stats
	return Stats{Dials: s.dials.Load(), Writes: s.writes.Load(), Frames: s.frames.Load(),
		Heartbeats: s.heartbeats.Load(), Refused: s.refused.Load(), Snapshots: s.snapshots.Load()}
}

// goFunc starts a goroutine that Close waits for.
func (n *Net) goFunc(f func()) {
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		f()
	}()
}

// Transport returns a new raft.Transport for partition pid. Closing it
// (raft does on Shutdown) releases pid.
func (n *Net) Transport(pid uint16) (*Transport, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return nil, ErrClosed
	}
	if _, ok := n.parts[pid]; ok {
		return nil, fmt.Errorf("%w: %d", ErrPartitionOpen, pid)
	}
	t := newTransport(n, pid)
	n.parts[pid] = t
	return t, nil
}

func (n *Net) release(t *Transport) {
	n.mu.Lock()
	if n.parts[t.pid] == t {
		delete(n.parts, t.pid)
	}
	n.mu.Unlock()
}

func (n *Net) transport(pid uint16) *Transport {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.parts[pid]
}

// peer returns the sending side for addr, starting it if needed.
func (n *Net) peer(addr string) (*peer, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return nil, ErrClosed
	}
	p := n.peers[addr]
	if p == nil {
		p = newPeer(n, addr)
		n.peers[addr] = p
		n.goFunc(p.run)
	}
	return p, nil
}

// Serve runs one incoming connection of the raftnet kind (the mux calls
// it as the kind's handler, in the connection's goroutine) until it
// closes. It owns c.
func (n *Net) Serve(c net.Conn, stream uint16) {
	defer c.Close()
	switch stream {
	case StreamRPC:
		n.serveRPC(c)
	case StreamSnapshot:
		n.serveSnapshot(c)
	default:
		n.log.Warn("dropped connection: unknown raftnet stream", "stream", stream, "remote", c.RemoteAddr().String())
	}
}

// Close stops every peer's goroutines and fails what is in flight.
// Transports still open answer ErrClosed from then on. It is safe to
// call more than once.
func (n *Net) Close() error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil
	}
	n.closed = true
	peers := n.peers
	n.mu.Unlock()
	n.cancel()
	for _, p := range peers {
		p.shutdown()
	}
	n.wg.Wait()
	return nil
}

// checkID reports whether a request carrying Raft server id may be
// served on a connection from peerID.
func (n *Net) checkID(peerID string, verified bool, id []byte) error {
	if n.cfg.Insecure && !verified {
		return nil
	}
	if verified && string(id) == peerID {
		return nil
	}
	n.stats.refused.Add(1)
	return fmt.Errorf("raftnet: raft id %q on a connection of node %q", id, peerID)
}
