package gate

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/roamhq/roam/hlr"
	"github.com/roamhq/roam/node/mux"
	"github.com/roamhq/roam/vlr"
)

// Handler is the local side that serves requests from other nodes
// (implemented by the node).
type Handler interface {
	// Exec must run cmd at this node's local leader of pid, and return
	// hlr.ErrNotLeader (possibly wrapped in *NotLeaderError) otherwise.
	Exec(ctx context.Context, pid uint16, cmd hlr.Cmd) (hlr.Result, error)
	// Query answers q at this node's local leader of pid.
	Query(ctx context.Context, pid uint16, q hlr.Query) (*hlr.Answer, error)
	// Deliver, Cancel, Notify, Presence, Notice and Ack are one-way
	// items. They are called from the connection's reader goroutine, in
	// the order the sender queued them, and must not block. from is the
	// sending node's id (from its hello).
	Deliver(from, user string, locs []hlr.Location, m *hlr.Message)
	Cancel(user string, loc hlr.Location, reason string)
	Notify(user string, locs []hlr.Location, event, peer string)
	// Presence: full=true is the sender's complete local presence
	// (replace everything from `from`).
	Presence(from string, ups []vlr.PresenceUpdate, full bool)
	// Notice: a partition leader at from says how far the streams of
	// devices held here go (delivery repair).
	Notice(from string, ns []vlr.Notice)
	// Ack: the node from says what its devices have taken of what this
	// node forwarded or noticed.
	Ack(from string, acks []vlr.DeliveryAck)
}

// protoVersion is the argument of the mux header of gate connections. An
// acceptor closes a connection whose version it does not speak.
const protoVersion uint16 = 1

// Gate carries all node-to-node traffic except Raft: requests forwarded to
// partition leaders and the one-way effects of the jump gate. See the
// package documentation.
type Gate struct {
	cfg   Config
	log   *slog.Logger
	dial  func(ctx context.Context, addr string) (net.Conn, error)
	hello []byte // the hello frame every outgoing connection starts with
	sem   chan struct{}
	st    counters

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

// New validates cfg, starts a gate and registers it on cfg.Mux for
// mux.KindGate connections. It starts no goroutine until traffic flows.
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
	cfg.Mux.Handle(mux.KindGate, g.accept)
	return g, nil
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

// Exec calls Handler.Exec(pid, cmd) on the node at addr. Errors the
// remote returns come back as the same sentinel (hlr.ErrNotLeader as a
// *NotLeaderError carrying the remote's hint, hlr.ErrTimeout, hlr.ErrClosed,
// hlr.ErrUnknownPartition, hlr.ErrTooLarge, hlr.ErrBadEntry; anything else
// as ErrRemote). Transport failures wrap ErrUnreachable. If ctx ends
// first, the error wraps ctx.Err() and ErrUnreachable (never connected) or
// hlr.ErrTimeout (sent, no reply). Without a deadline in ctx,
// RequestTimeout applies.
func (g *Gate) Exec(ctx context.Context, addr string, pid uint16, cmd hlr.Cmd) (hlr.Result, error) {
	ctx, cancel := g.requestContext(ctx)
	defer cancel()
	c := newCall(false)
	if err := g.roundTrip(ctx, addr, frameExec, &execBody{PID: pid, TTL: ttl(ctx), Cmd: cmd}, c); err != nil {
		return hlr.Result{}, err
	}
	return c.res, nil
}

// Query calls Handler.Query(pid, q) on the node at addr. Errors are as for
// Exec.
func (g *Gate) Query(ctx context.Context, addr string, pid uint16, q hlr.Query) (*hlr.Answer, error) {
	ctx, cancel := g.requestContext(ctx)
	defer cancel()
	c := newCall(true)
	if err := g.roundTrip(ctx, addr, frameQuery, &queryBody{PID: pid, TTL: ttl(ctx), Query: q}, c); err != nil {
		return nil, err
	}
	if c.ans == nil {
		c.ans = &hlr.Answer{}
	}
	return c.ans, nil
}

func (g *Gate) requestContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, g.cfg.RequestTimeout)
}

// ttl is the time left until ctx's deadline in milliseconds, at least 1.
func ttl(ctx context.Context) int64 {
	dl, _ := ctx.Deadline()
	return max(time.Until(dl).Milliseconds(), 1)
}

// roundTrip sends a request frame to addr and waits for its reply, which
// the reader decodes into c.
func (g *Gate) roundTrip(ctx context.Context, addr string, typ byte, body any, c *call) error {
	g.st.requests.Add(1)
	err := g.doRoundTrip(ctx, addr, typ, body, c)
	if err != nil && (errors.Is(err, ErrUnreachable) || errors.Is(err, ErrClosed) || errors.Is(err, ErrProtocol) || c.transport) {
		g.st.requestErrors.Add(1)
	}
	return err
}

func (g *Gate) doRoundTrip(ctx context.Context, addr string, typ byte, body any, c *call) error {
	p, err := g.peer(addr)
	if err != nil {
		return err
	}
	scratch := getScratch()
	defer putScratch(scratch)
	*scratch, err = appendFrame((*scratch)[:0], typ, 0, body, g.cfg.MaxFrameBytes)
	if err != nil {
		if errors.Is(err, errFrameTooLarge) {
			return fmt.Errorf("%w: %v", hlr.ErrTooLarge, err)
		}
		return err
	}
	if err := p.send(ctx, *scratch, c); err != nil {
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

// Deliver forwards a committed message to the node at addr, which hands
// it to Handler.Deliver. One-way: it queues the item and returns. Items
// for one node arrive in the order they were queued; an item that finds
// the node's queue full, or the node unreachable, is dropped and counted
// (devices repair the gap by syncing from their inbox).
func (g *Gate) Deliver(addr, user string, locs []hlr.Location, m *hlr.Message) {
	g.oneWay(addr, frameDeliver, &deliverBody{User: user, Locs: locs, Msg: m})
}

// Cancel forwards Cancel Location to the node at addr (Handler.Cancel).
// One-way, like Deliver.
func (g *Gate) Cancel(addr, user string, loc hlr.Location, reason string) {
	g.oneWay(addr, frameCancel, &cancelBody{User: user, Loc: loc, Reason: reason})
}

// Notify forwards a friend event to the node at addr (Handler.Notify).
// One-way, like Deliver.
func (g *Gate) Notify(addr, user string, locs []hlr.Location, event, peer string) {
	g.oneWay(addr, frameNotify, &notifyBody{User: user, Locs: locs, Event: event, Peer: peer})
}

// Presence sends presence updates of this node's users to the node at addr
// (Handler.Presence with from = this NodeID). full=true says ups is the
// complete presence of this node. A long list travels as several frames,
// the first carrying full and the rest adding to it. One-way, like Deliver.
func (g *Gate) Presence(addr string, ups []vlr.PresenceUpdate, full bool) {
	for {
		n := min(len(ups), presenceChunk)
		g.oneWay(addr, framePresence, &presenceBody{Ups: ups[:n], Full: full})
		ups, full = ups[n:], false
		if len(ups) == 0 {
			return
		}
	}
}

// Notice sends delivery-repair notices to the node at addr
// (Handler.Notice), in frames of at most repairChunk. One-way, like
// Deliver; a peer whose gate level lacks notices (an older node, or a
// connection whose welcome has not arrived yet) drops them, counted, and
// the next use connects it.
func (g *Gate) Notice(addr string, ns []vlr.Notice) {
	for len(ns) > 0 {
		n := min(len(ns), repairChunk)
		g.oneWay(addr, frameNotice, &noticeBody{Notices: ns[:n]})
		ns = ns[n:]
	}
}

// Ack sends delivery acknowledgements to the node at addr (Handler.Ack),
// like Notice.
func (g *Gate) Ack(addr string, acks []vlr.DeliveryAck) {
	for len(acks) > 0 {
		n := min(len(acks), repairChunk)
		g.oneWay(addr, frameAck, &ackBody{Acks: acks[:n]})
		acks = acks[n:]
	}
}

// oneWay encodes a one-way item and queues it for addr.
func (g *Gate) oneWay(addr string, typ byte, body any) {
	g.st.sent.Add(1)
	p, err := g.peer(addr)
	if err != nil {
		g.st.drops.Add(1)
		return
	}
	scratch := getScratch()
	defer putScratch(scratch)
	*scratch, err = appendFrame((*scratch)[:0], typ, 0, body, g.cfg.MaxFrameBytes)
	if err != nil {
		g.st.drops.Add(1)
		g.log.Error("dropped item that cannot be sent", "peer", addr, "type", frameName(typ), "err", err)
		return
	}
	p.push(*scratch, levelOf(typ))
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
