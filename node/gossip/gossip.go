package gossip

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"
)

// defaultLeaveTimeout is used by Leave when given a timeout <= 0.
const defaultLeaveTimeout = 5 * time.Second

// Gossip is one node's membership in a roam cluster: a memberlist instance
// plus the table of members this node has seen and the cluster params.
// All methods are safe for concurrent use.
type Gossip struct {
	cfg     Config
	log     *slog.Logger
	ml      atomic.Pointer[memberlist.Memberlist] // set once Create returns
	tr      *transport
	addr    string
	changes chan struct{}
	now     func() time.Time // a test hook; read and written under mu
	wg      sync.WaitGroup   // Join attempts in flight
	done    chan struct{}    // closed by Shutdown

	// Lock order: lifeMu, updMu, memberlist's node lock, mu.
	lifeMu sync.Mutex // serializes Leave and Shutdown
	updMu  sync.Mutex // serializes UpdateNode calls, so the newest meta wins

	mu             sync.Mutex
	self           nodeMeta
	params         *ClusterParams
	paramsKnown    chan struct{} // closed when params is set
	joining        int           // Join calls in progress
	conflict       string        // a foreign ClusterID seen while joining
	members        map[string]*Member
	conflictLogged map[string]time.Time // rate limit of NotifyConflict's warning
	leaving        bool                 // Leave called
	closed         bool                 // Shutdown called
}

// New validates cfg, binds the gossip port and starts memberlist. The node
// is a cluster of one until Join. On error nothing is left running.
func New(cfg Config) (*Gossip, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	g := &Gossip{
		cfg:            cfg,
		log:            logger.With("component", "gossip"),
		changes:        make(chan struct{}, 1),
		now:            time.Now,
		done:           make(chan struct{}),
		self:           nodeMeta{Meta: cfg.Meta},
		paramsKnown:    make(chan struct{}),
		members:        make(map[string]*Member),
		conflictLogged: make(map[string]time.Time),
	}
	if cfg.Params != nil {
		p := *cfg.Params
		g.params = &p
		g.self.ClusterID = p.ClusterID
		close(g.paramsKnown)
	}

	host, port, _ := splitAddr(cfg.BindAddr, true) // validated
	stdlog := newStdLogger(g.log)
	tr, err := newTransport(host, port, stdlog)
	if err != nil {
		return nil, err
	}
	g.tr = tr
	tr.cut = cfg.Cut
	bound := tr.GetAutoBindPort()

	mc := memberlistConfig(&cfg)
	mc.Transport = tr
	mc.BindAddr, mc.BindPort = host, bound
	mc.AdvertiseAddr, mc.AdvertisePort = "", bound
	if cfg.AdvertiseAddr != "" {
		ah, ap, _ := splitAddr(cfg.AdvertiseAddr, false) // validated
		if ap == 0 {
			ap = bound
		}
		mc.AdvertiseAddr, mc.AdvertisePort = ah, ap
	}
	mc.Logger = stdlog
	d := delegate{g}
	mc.Delegate, mc.Events, mc.Alive, mc.Conflict = d, d, d, d

	ml, err := memberlist.Create(mc)
	if err != nil {
		tr.abort()
		_ = tr.Shutdown() // idempotent if Create already shut it down
		return nil, fmt.Errorf("gossip: start memberlist: %w", err)
	}
	g.ml.Store(ml)
	g.addr = ml.LocalNode().Address()
	g.log.Info("gossip started", "node", cfg.NodeID, "addr", g.addr, "fast", cfg.Fast)
	return g, nil
}

// Addr returns the advertised gossip address ("ip:port"), the one to give
// other nodes as a seed.
func (g *Gossip) Addr() string { return g.addr }

// Params returns the cluster params and whether they are known yet.
func (g *Gossip) Params() (ClusterParams, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.params == nil {
		return ClusterParams{}, false
	}
	return *g.params, true
}

// Join contacts the seeds ("host:port"; this node's own Addr is skipped),
// retrying with backoff until at least one answers or ctx ends, and then
// waits until the cluster params are known and returns them. A node
// created with Params returns its own. With no other seeds Join only waits
// for the params: the first node of a cluster calls Join(ctx, nil).
//
// If a seed's cluster has a different ClusterID than this node's
// (configured or learned first), Join returns ErrWrongCluster; members of
// two clusters never see each other.
//
// When ctx ends during a contact attempt Join returns at once, but the
// attempt goes on in the background (bounded by memberlist's TCP timeout)
// and may still join the cluster; after a failed Join, retry Join or call
// Shutdown.
func (g *Gossip) Join(ctx context.Context, seeds []string) (ClusterParams, error) {
	g.mu.Lock()
	switch {
	case g.closed:
		g.mu.Unlock()
		return ClusterParams{}, ErrShutdown
	case g.leaving:
		g.mu.Unlock()
		return ClusterParams{}, ErrLeft
	}
	g.joining++
	g.conflict = ""
	g.mu.Unlock()
	defer func() {
		g.mu.Lock()
		g.joining--
		g.mu.Unlock()
	}()

	others := make([]string, 0, len(seeds))
	for _, s := range seeds {
		if s != "" && s != g.addr {
			others = append(others, s)
		}
	}
	if len(others) > 0 {
		if err := g.contact(ctx, others); err != nil {
			return ClusterParams{}, err
		}
		g.mu.Lock()
		theirs, ours := g.conflict, ""
		if g.params != nil {
			ours = g.params.ClusterID
		}
		g.mu.Unlock()
		if theirs != "" {
			return ClusterParams{}, fmt.Errorf("%w: this node's cluster is %q, a seed's is %q", ErrWrongCluster, ours, theirs)
		}
	}

	select {
	case <-g.paramsKnown:
	default:
		select {
		case <-g.paramsKnown:
		case <-ctx.Done():
			return ClusterParams{}, fmt.Errorf("gossip: cluster params not learned: %w", ctx.Err())
		case <-g.done:
			return ClusterParams{}, ErrShutdown
		}
	}
	p, _ := g.Params()
	return p, nil
}

// contact runs memberlist's Join (a push/pull with each seed) until one seed
// answers.
func (g *Gossip) contact(ctx context.Context, seeds []string) error {
	ml := g.ml.Load()
	backoff := 100 * time.Millisecond
	var lastErr error
	for {
		res := make(chan error, 1)
		g.mu.Lock()
		if g.closed {
			g.mu.Unlock()
			return ErrShutdown
		}
		g.wg.Add(1)
		g.mu.Unlock()
		go func() {
			defer g.wg.Done()
			n, err := ml.Join(seeds)
			if n > 0 {
				err = nil
			} else if err == nil {
				err = fmt.Errorf("no seed answered")
			}
			res <- err
		}()
		select {
		case err := <-res:
			if err == nil {
				g.log.Info("joined", "seeds", seeds)
				return nil
			}
			lastErr = err
			g.log.Debug("join attempt failed", "seeds", seeds, "err", err)
		case <-ctx.Done():
			return g.joinErr(ctx, seeds, lastErr)
		case <-g.done:
			return ErrShutdown
		}

		t := time.NewTimer(backoff)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return g.joinErr(ctx, seeds, lastErr)
		case <-g.done:
			t.Stop()
			return ErrShutdown
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

func (g *Gossip) joinErr(ctx context.Context, seeds []string, last error) error {
	if last == nil {
		return fmt.Errorf("gossip: join %v: %w", seeds, ctx.Err())
	}
	return fmt.Errorf("gossip: join %v: %w (last attempt: %v)", seeds, ctx.Err(), last)
}

// SetLoad updates the Load in this node's meta and queues the update for
// gossip. It does not wait for the update to spread (about a gossip
// interval per hop); after Leave or Shutdown it only records the value.
func (g *Gossip) SetLoad(load uint32) {
	g.mu.Lock()
	if g.self.Load == load {
		g.mu.Unlock()
		return
	}
	g.self.Load = load
	g.mu.Unlock()
	g.pushMeta()
}

// SetLeaders updates the count of partitions this node leads in its meta
// and queues the update for gossip, like SetLoad.
func (g *Gossip) SetLeaders(n int) {
	n = max(0, min(n, MaxPartitions))
	g.mu.Lock()
	if g.self.Leaders == n {
		g.mu.Unlock()
		return
	}
	g.self.Leaders = n
	g.mu.Unlock()
	g.log.Info("leader count", "leaders", n) // read by roamsim's report
	g.pushMeta()
}

// SetDraining sets or clears the draining flag in this node's meta and
// queues the update for gossip, like SetLoad: a draining node takes no
// new clients and no leaderships, but stays a member and keeps its
// replicas.
func (g *Gossip) SetDraining(on bool) {
	g.mu.Lock()
	was := g.self.Flags&flagDraining != 0
	if was == on {
		g.mu.Unlock()
		return
	}
	g.self.Flags ^= flagDraining
	g.mu.Unlock()
	g.log.Info("draining flag", "draining", on)
	g.pushMeta()
}

// pushMeta has memberlist re-advertise this node's meta. UpdateNode queues
// the alive message before it waits for the broadcast, so a tiny timeout
// queues the update without blocking (the timeout error is expected).
func (g *Gossip) pushMeta() {
	g.updMu.Lock()
	defer g.updMu.Unlock()
	g.mu.Lock()
	skip := g.closed || g.leaving
	g.mu.Unlock()
	ml := g.ml.Load()
	if skip || ml == nil { // nil: still in Create, whose alive message reads the new meta
		return
	}
	_ = ml.UpdateNode(time.Nanosecond)
}

// Leave leaves the cluster gracefully: the others see this node as Left
// rather than Dead. It waits up to timeout (<= 0: 5 s) for the news to be
// gossiped, then returns; the node keeps answering gossip until Shutdown,
// which should follow. A node cannot rejoin after Leave. Calling Leave
// again returns nil.
func (g *Gossip) Leave(timeout time.Duration) error {
	if timeout <= 0 {
		timeout = defaultLeaveTimeout
	}
	deadline := time.Now().Add(timeout)
	g.lifeMu.Lock()
	defer g.lifeMu.Unlock()

	g.updMu.Lock()
	g.mu.Lock()
	closed, already := g.closed, g.leaving
	if !closed && !already {
		g.leaving = true
		g.self.Flags |= flagLeaving
	}
	g.mu.Unlock()
	g.updMu.Unlock()
	switch {
	case closed:
		return ErrShutdown
	case already:
		return nil
	}
	ml := g.ml.Load()

	// First gossip the leaving flag and wait until it has been sent its
	// full number of times: memberlist drops a node's pending alive
	// broadcast as soon as its leave (dead) message is queued.
	if err := ml.UpdateNode(timeout / 4); err != nil {
		g.log.Debug("leave: leaving flag not fully gossiped", "err", err)
	}
	// Gossip is UDP and each broadcast is sent a few times only: a node
	// that missed both the flag and the leave would take this node for
	// dead, keep it in the placement for the grace period and never
	// release its replicas. A push/pull (TCP) with every live member,
	// before and after the leave, hands them this node's state for sure.
	g.pushPullAll(ml, time.Now().Add(timeout/4))
	rest := max(time.Until(deadline)/2, 50*time.Millisecond) // 0 would wait forever
	if err := ml.Leave(rest); err != nil {
		return fmt.Errorf("gossip: leave: %w", err)
	}
	g.pushPullAll(ml, deadline)
	g.log.Info("left the cluster")
	return nil
}

// pushPullAll runs a push/pull state exchange with every other member
// that is alive, waiting until deadline at most (the exchanges go on in
// the background, bounded by memberlist's TCP timeout).
func (g *Gossip) pushPullAll(ml *memberlist.Memberlist, deadline time.Time) {
	var addrs []string
	g.mu.Lock()
	for id, m := range g.members {
		if id != g.cfg.NodeID && m.State == StateAlive && m.GossipAddr != "" {
			addrs = append(addrs, m.GossipAddr)
		}
	}
	g.mu.Unlock()
	if len(addrs) == 0 {
		return
	}
	done := make(chan struct{})
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		defer close(done)
		var wg sync.WaitGroup
		for _, a := range addrs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, err := ml.Join([]string{a}); err != nil {
					g.log.Debug("leave: state exchange failed", "peer", a, "err", err)
				}
			}()
		}
		wg.Wait()
	}()
	t := time.NewTimer(max(time.Until(deadline), time.Millisecond))
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	}
}

// Shutdown stops gossip at once, without telling anyone (call Leave first
// for a graceful exit): the others will find this node Dead. It interrupts
// Join attempts in flight and waits for them. Safe to call twice.
// memberlist's own goroutines may take a moment (at most its TCP timeout)
// to finish after Shutdown returns.
func (g *Gossip) Shutdown() error {
	g.lifeMu.Lock()
	defer g.lifeMu.Unlock()
	g.updMu.Lock()
	g.mu.Lock()
	already := g.closed
	if !already {
		g.closed = true
		close(g.done)
	}
	g.mu.Unlock()
	g.updMu.Unlock()
	if already {
		return nil
	}
	g.tr.abort()
	err := g.ml.Load().Shutdown()
	g.wg.Wait()
	g.log.Info("gossip stopped")
	if err != nil {
		return fmt.Errorf("gossip: shutdown: %w", err)
	}
	return nil
}
