package gate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/roamhq/roam/hlr"
	"github.com/roamhq/roam/node/mux"
)

// protoVersion is the argument of the mux header of gate connections. An
// acceptor closes a connection whose version it does not speak.
const protoVersion uint16 = 1

// Gate carries all node-to-node traffic except Raft: requests (Call) and
// one-way items (Send) of the kinds the node registers (Handle). See the
// package documentation.
type Gate struct {
	cfg   Config
	log   *slog.Logger
	dial  func(ctx context.Context, addr string) (net.Conn, error)
	hello []byte // the hello frame every outgoing connection starts with
	sem   chan struct{}
	st    counters

	// handlers is the registry of kinds (Handle), written before Start
	// and only read after it.
	handlers [256]*Handler
	started  atomic.Bool
	welcome  replyBody // the acceptor's first reply, made by Start

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc

	mu     sync.Mutex
	closed bool
	peers  map[string]*peer
	conns  map[*serverConn]struct{}

	// Every goroutine the gate starts, and every mux handler running in
	// it, is counted in wg; Close waits for them. wgMu orders Add against
	// Wait and is a leaf lock.
	wgMu     sync.Mutex
	stopping bool
	wg       sync.WaitGroup

	closeOnce sync.Once
}

// New validates cfg and makes a gate. It can send and call at once; it
// serves other nodes only after Start, once every kind has its Handler. It
// starts no goroutine until traffic flows.
func New(cfg Config) (*Gate, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	g := &Gate{
		cfg:   cfg,
		log:   logger.With("component", "gate", "node", cfg.NodeID),
		dial:  cfg.Dial,
		sem:   make(chan struct{}, cfg.MaxConcurrent),
		peers: make(map[string]*peer),
		conns: make(map[*serverConn]struct{}),
	}
	if g.dial == nil {
		g.dial = func(ctx context.Context, addr string) (net.Conn, error) {
			return cfg.Mux.Dial(ctx, addr, mux.KindGate, protoVersion) // through the mux dialer (WithDialer)
		}
	}
	hello, err := appendFrame(nil, frameHello, 0, &helloBody{Node: cfg.NodeID}, cfg.MaxFrameBytes)
	if err != nil {
		return nil, err
	}
	g.hello = hello
	g.ctx, g.cancel = context.WithCancel(context.Background())
	return g, nil
}

// Start registers the gate on its mux for mux.KindGate connections: from
// now on it serves other nodes with the Handlers registered so far, and
// announces their kinds in every welcome. Call it once, after the last
// Handle.
func (g *Gate) Start() {
	if g.started.Swap(true) {
		panic("gate: Start called twice")
	}
	g.welcome = replyBody{Level: gateLevel}
	for k, h := range g.handlers {
		if h != nil {
			g.welcome.Kinds = append(g.welcome.Kinds, byte(k))
		}
	}
	g.cfg.Mux.Handle(mux.KindGate, g.accept)
}

// goFunc runs f in a goroutine that Close waits for. It returns false,
// starting nothing, once Close has begun waiting.
func (g *Gate) goFunc(f func()) bool {
	if !g.track() {
		return false
	}
	go func() {
		defer g.wg.Done()
		f()
	}()
	return true
}

// track counts the calling goroutine in wg (undo with wg.Done).
func (g *Gate) track() bool {
	g.wgMu.Lock()
	defer g.wgMu.Unlock()
	if g.stopping {
		return false
	}
	g.wg.Add(1)
	return true
}

// peer returns the peer for addr, creating it.
func (g *Gate) peer(addr string) (*peer, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return nil, ErrClosed
	}
	p, ok := g.peers[addr]
	if !ok {
		p = newPeer(g, addr)
		g.peers[addr] = p
	}
	return p, nil
}

// Call sends req to the node at addr as a request of kind k, waits for the
// reply and decodes the response into resp (a pointer, or nil to discard
// it). A req that embeds Deadline gets the time left in ctx filled in.
// Errors the remote Handler returned come back as the same sentinel
// (hlr.ErrNotLeader as a *NotLeaderError carrying the remote's hint,
// hlr.ErrTimeout, hlr.ErrClosed, hlr.ErrUnknownPartition, hlr.ErrTooLarge,
// hlr.ErrBadEntry; anything else as ErrRemote). Transport failures wrap
// ErrUnreachable. If ctx ends first, the error wraps ctx.Err() and
// ErrUnreachable (never connected) or hlr.ErrTimeout (sent, no reply).
// Without a deadline in ctx, RequestTimeout applies. A kind the peer does
// not serve fails with ErrUnsupported (see accepts).
func (g *Gate) Call(ctx context.Context, addr string, k Kind, req, resp any) error {
	ctx, cancel := g.requestContext(ctx)
	defer cancel()
	if d, ok := req.(deadliner); ok {
		d.deadline().TTL = ttl(ctx)
	}
	return g.roundTrip(ctx, addr, k, req, newCall(resp))
}

func (g *Gate) requestContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, g.cfg.RequestTimeout)
}

// Chunks calls fn with successive pieces of items of at most n each (one
// call for an empty list): a long list sent as several one-way items, each
// within a frame.
func Chunks[T any](items []T, n int, fn func(first bool, piece []T)) {
	first := true
	for {
		k := min(len(items), n)
		fn(first, items[:k])
		items, first = items[k:], false
		if len(items) == 0 {
			return
		}
	}
}

// ttl is the time left until ctx's deadline in milliseconds, at least 1.
func ttl(ctx context.Context) int64 {
	dl, _ := ctx.Deadline()
	return max(time.Until(dl).Milliseconds(), 1)
}

// roundTrip sends a request frame to addr and waits for its reply, which
// the reader decodes into c.
func (g *Gate) roundTrip(ctx context.Context, addr string, k Kind, body any, c *call) error {
	g.st.requests.Add(1)
	err := g.doRoundTrip(ctx, addr, k, body, c)
	if err != nil && (errors.Is(err, ErrUnreachable) || errors.Is(err, ErrClosed) || errors.Is(err, ErrProtocol) || c.transport) {
		g.st.requestErrors.Add(1)
	}
	return err
}

func (g *Gate) doRoundTrip(ctx context.Context, addr string, k Kind, body any, c *call) error {
	p, err := g.peer(addr)
	if err != nil {
		return err
	}
	scratch := getScratch()
	defer putScratch(scratch)
	*scratch, err = appendFrame((*scratch)[:0], byte(k), 0, body, g.cfg.MaxFrameBytes)
	if err != nil {
		if errors.Is(err, errFrameTooLarge) {
			return fmt.Errorf("%w: %v", hlr.ErrTooLarge, err)
		}
		return fmt.Errorf("gate: %s: %w", g.kindName(byte(k)), err)
	}
	if err := p.send(ctx, *scratch, k, c); err != nil {
		return err
	}
	select {
	case err := <-c.done:
		return err
	case <-ctx.Done():
	}
	found, up, written := p.abandon(c)
	if !found { // the reply or a failure beat the deadline
		return <-c.done
	}
	c.transport = true
	switch {
	case written:
		return fmt.Errorf("%w: no reply from %s: %w", hlr.ErrTimeout, addr, ctx.Err())
	case up:
		return fmt.Errorf("%w: still queued for %s: %w", hlr.ErrTimeout, addr, ctx.Err())
	}
	return fmt.Errorf("%w: %s: not connected in time: %w", ErrUnreachable, addr, ctx.Err())
}

// Send queues body for the node at addr as a one-way item of kind k and
// returns; the node at addr hands it to the kind's Handler. Items for one
// node arrive in the order they were queued, at most once; an item that
// finds the node's queue full, the node unreachable, or a peer that does
// not serve k (an older node, or a connection whose welcome has not come
// yet: the connection is brought up for the next item) is dropped and
// counted. Repairing the gaps is the caller's business. An item larger
// than a frame is dropped and logged: split long lists (see Chunks).
func (g *Gate) Send(addr string, k Kind, body any) {
	g.oneWay(addr, k, body)
}

// oneWay encodes a one-way item and queues it for addr.
func (g *Gate) oneWay(addr string, k Kind, body any) {
	g.st.sent.Add(1)
	p, err := g.peer(addr)
	if err != nil {
		g.st.drops.Add(1)
		return
	}
	scratch := getScratch()
	defer putScratch(scratch)
	*scratch, err = appendFrame((*scratch)[:0], byte(k), 0, body, g.cfg.MaxFrameBytes)
	if err != nil {
		g.st.drops.Add(1)
		g.log.Error("dropped item that cannot be sent", "peer", addr, "kind", g.kindName(byte(k)), "err", err)
		return
	}
	p.push(*scratch, k)
}

// Forget closes the connection to addr (a node that left) and discards
// what is queued for it. Requests waiting for it fail with ErrUnreachable.
// A later call for addr dials again.
func (g *Gate) Forget(addr string) {
	g.mu.Lock()
	p, ok := g.peers[addr]
	delete(g.peers, addr)
	g.mu.Unlock()
	if ok {
		p.shutdown(fmt.Errorf("%w: %s: forgotten", ErrUnreachable, addr))
	}
}

// Stats returns the gate's counters.
func (g *Gate) Stats() Stats {
	s := g.st.snapshot()
	g.mu.Lock()
	s.Peers = len(g.peers)
	g.mu.Unlock()
	return s
}

// Close closes every connection, fails the requests in flight with
// ErrClosed, drops what is queued and waits for every goroutine of the
// gate, including the Handler calls in progress (whose contexts it
// cancels). It is safe to call more than once.
func (g *Gate) Close() error {
	g.closeOnce.Do(func() {
		g.mu.Lock()
		g.closed = true
		peers, conns := g.peers, g.conns
		g.peers, g.conns = map[string]*peer{}, map[*serverConn]struct{}{}
		g.mu.Unlock()
		g.cancel()
		for _, p := range peers {
			p.shutdown(ErrClosed)
		}
		for sc := range conns {
			sc.conn.Close()
		}
		g.wgMu.Lock()
		g.stopping = true
		g.wgMu.Unlock()
		g.wg.Wait()
	})
	return nil
}

// scratch buffers for encoding frames outside the peers' locks.
var scratchPool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

func getScratch() *[]byte { return scratchPool.Get().(*[]byte) }

func putScratch(b *[]byte) {
	if cap(*b) <= 64<<10 {
		scratchPool.Put(b)
	}
}
