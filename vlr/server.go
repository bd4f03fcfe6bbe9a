package vlr

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/roamhq/roam/hlr"
	"github.com/roamhq/roam/wire"
)

// Server is the visitor register of one node: it owns the client listener
// and every client connection, the sessions logged in here, their presence
// and the delivery of pushes to them.
//
// Goroutines: one accept loop; per connection one reader (which handles the
// connection's requests in order) and, only while output is pending, one
// writer; one cursor flusher; short-lived catch-up and logout workers. All
// are started through goFunc and awaited by Shutdown.
type Server struct {
	cfg  Config
	home Home
	log  *slog.Logger
	reg  *registry
	ln   net.Listener

	ctx    context.Context // cancelled by Shutdown
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu       sync.Mutex
	conns    map[*conn]struct{}
	perIP    map[string]int // admitted connections per client address
	preIP    map[string]int // of those, the ones not logged in yet
	pre      int            // sum of preIP
	closing  bool
	stopping chan struct{} // closed when Shutdown begins

	out        budget        // node-wide output budget (Config.OutputBudget)
	refused    atomic.Uint64 // connections refused by a connection cap
	redirected atomic.Uint64 // sessions moved to other nodes (redirect.go)
	movingNow  atomic.Int64  // sessions moved whose connection has not ended yet

	dirtyMu sync.Mutex
	dirty   map[*session]struct{} // sessions whose cursor moved

	endingMu sync.Mutex
	ending   map[string]*endings // devices whose old session is writing its last cursor

	limits *limits
	renew  *renewer // session lease renewals (lease_renew.go)

	counts *requestCounts // requests answered, for metrics (counters.go)

	scenes sceneIndex // the local players of scenes (scene.go)
}

// New starts a visitor register listening on cfg.ClientAddr. home reaches
// the home register; bus carries presence, groups group interest (nil:
// none, for a register that never fans out group messages), scenes the
// scene traffic to the scenes' hosts (nil: scene requests fail).
func New(cfg Config, home Home, bus PresenceBus, groups GroupBus, scenes SceneBus) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if bus == nil {
		bus = NopBus{}
	}
	lim, err := newLimits(&cfg)
	if err != nil {
		return nil, err
	}
	if cfg.MaxConns == 0 {
		cfg.MaxConns = DefaultMaxConns()
	}
	ln := cfg.Listener
	if ln == nil {
		if ln, err = net.Listen("tcp", cfg.ClientAddr); err != nil {
			return nil, fmt.Errorf("vlr: listen %s: %w", cfg.ClientAddr, err)
		}
	}
	s := &Server{
		cfg:      cfg,
		home:     home,
		log:      cfg.Logger.With("component", "vlr"),
		reg:      newRegistry(bus, cfg.Lease),
		ln:       ln,
		conns:    make(map[*conn]struct{}),
		perIP:    make(map[string]int),
		preIP:    make(map[string]int),
		limits:   lim,
		stopping: make(chan struct{}),
		dirty:    make(map[*session]struct{}),
		ending:   make(map[string]*endings),
		counts:   newRequestCounts(),
	}
	if groups != nil {
		s.reg.gbus = groups
	}
	s.scenes.bus = scenes
	if scenes == nil {
		s.scenes.bus = nopSceneBus{}
	}
	s.out.limit = cfg.OutputBudget
	s.out.victim = s.largestQueue
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.renew = newRenewer(s)
	s.goFunc(s.acceptLoop)
	s.goFunc(s.cursorLoop)
	s.goFunc(s.renew.loop)
	return s, nil
}

// Addr returns the address the client listener is bound to.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Sessions returns the number of logged-in sessions at this node.
func (s *Server) Sessions() int { return s.reg.count() }

// goFunc starts a goroutine that Shutdown waits for.
func (s *Server) goFunc(f func()) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		f()
	}()
}

func (s *Server) acceptLoop() {
	for {
		nc, err := s.ln.Accept()
		if err != nil {
			if s.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			s.log.Warn("accept failed", "err", err)
			select {
			case <-time.After(50 * time.Millisecond):
			case <-s.ctx.Done():
				return
			}
			continue
		}
		peer := remoteAddr(nc)
		// A trusted proxy's connection is admitted per address once its
		// PROXY header names the client (conn.open); the node cap applies
		// to every connection now.
		viaProxy := s.cfg.trusted(peer)
		ip := peer.String()
		if !peer.IsValid() {
			ip = nc.RemoteAddr().String()
		}
		c := newConn(s, nc, ip, viaProxy)
		s.mu.Lock()
		switch {
		case s.closing:
			s.mu.Unlock()
			nc.Close()
			continue
		case len(s.conns) >= s.cfg.MaxConns:
			s.mu.Unlock()
			s.refuse(nc, ip, "node connection limit reached")
			continue
		case !viaProxy && !s.admitLocked(c):
			s.mu.Unlock()
			s.refuse(nc, ip, wire.CodeTooManyConns.Text())
			continue
		}
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		s.goFunc(c.serve)
	}
}

// admitLocked counts c against the caps of its client address c.ip, or
// reports that a cap is reached. s.mu is held.
func (s *Server) admitLocked(c *conn) bool {
	if s.perIP[c.ip] >= s.cfg.MaxConnsPerIP || s.preIP[c.ip] >= s.cfg.MaxPreLoginPerIP {
		return false
	}
	s.perIP[c.ip]++
	s.preIP[c.ip]++
	s.pre++
	c.counted, c.pre = true, true
	return true
}

// admit is admitLocked for a connection already registered (one from a
// trusted proxy, once its header was read).
func (s *Server) admit(c *conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.admitLocked(c)
}

// loggedIn moves c out of its address's pre-login count.
func (s *Server) loggedIn(c *conn) {
	s.mu.Lock()
	s.unPreLocked(c)
	s.mu.Unlock()
}

func (s *Server) unPreLocked(c *conn) {
	if !c.pre {
		return
	}
	c.pre = false
	s.pre--
	if s.preIP[c.ip]--; s.preIP[c.ip] <= 0 {
		delete(s.preIP, c.ip)
	}
}

// refuse turns away a connection over a cap: with error
// too_many_connections (rid 0) first on a plaintext port, at once over
// TLS (no handshake is spent on it). The frame fits any socket buffer, so
// the write does not block the accept loop.
func (s *Server) refuse(nc net.Conn, ip, msg string) {
	s.refused.Add(1)
	s.log.Debug("connection refused", "ip", ip, "why", msg)
	if s.cfg.TLS == nil {
		if b, err := wire.AppendFrame(nil, wire.TError, 0, &wire.Error{Code: wire.CodeTooManyConns, Message: msg}); err == nil {
			nc.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
			nc.Write(b)
		}
	}
	nc.Close()
}

func (s *Server) forget(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.unPreLocked(c)
	if c.counted {
		c.counted = false
		if s.perIP[c.ip]--; s.perIP[c.ip] <= 0 {
			delete(s.perIP, c.ip)
		}
	}
	s.mu.Unlock()
}

// largestQueue returns the output queue holding the most bytes (the
// budget's victim), or nil.
func (s *Server) largestQueue() *outQueue {
	s.mu.Lock()
	defer s.mu.Unlock()
	var best *outQueue
	var most int64
	for c := range s.conns {
		if n := c.out.size.Load(); n > most {
			best, most = &c.out, n
		}
	}
	return best
}

// remoteAddr is the peer's IP address (unmapped), or the zero Addr.
func remoteAddr(nc net.Conn) netip.Addr {
	if a, ok := nc.RemoteAddr().(*net.TCPAddr); ok {
		if ip, ok := netip.AddrFromSlice(a.IP); ok {
			return ip.Unmap()
		}
	}
	return netip.Addr{}
}

// Stats is a snapshot of the client port's counters.
type Stats struct {
	Conns         int    // client connections open
	PreLogin      int    // of those, not logged in yet (PROXY connections count once their header is read)
	Sessions      int    // logged-in sessions
	QueuedBytes   int64  // output queued for all clients (at most OutputBudget)
	OutputBudget  int64  // the bound on QueuedBytes
	SlowConsumers uint64 // clients disconnected for not reading, since start
	Refused       uint64 // connections refused by a connection cap, since start
	Redirected    uint64 // sessions moved to other nodes (redirect.go), since start
}

// Stats returns the client port's counters.
func (s *Server) Stats() Stats {
	s.mu.Lock()
	st := Stats{Conns: len(s.conns), PreLogin: s.pre}
	s.mu.Unlock()
	st.Sessions = s.reg.count()
	st.QueuedBytes = s.out.used.Load()
	st.OutputBudget = s.out.limit
	st.SlowConsumers = s.out.slow.Load()
	st.Refused = s.refused.Load()
	st.Redirected = s.redirected.Load()
	return st
}

// QueuedBytes returns the output queued for all clients of this node.
func (s *Server) QueuedBytes() int64 { return s.out.used.Load() }

// Deliver pushes a committed message to the local sessions at locs (called
// by the home partition's leader, here or through a jump gate). It
// returns one acknowledgement per location at this node, for the leader
// that forwarded it (see delivery.go).
func (s *Server) Deliver(user string, locs []hlr.Location, m *hlr.Message) []DeliveryAck {
	var acks []DeliveryAck
	for _, l := range locs {
		if l.Node != s.cfg.NodeID {
			continue
		}
		ack := DeliveryAck{User: user, Device: l.Device, Epoch: l.Epoch, Gone: true}
		for _, sess := range s.reg.sessionsAt(user, []hlr.Location{l}, s.cfg.NodeID) {
			ack = sess.offer(m)
		}
		acks = append(acks, ack)
	}
	return acks
}

// Notice hands the partition leader's delivery-repair notices to the local
// sessions they name, which catch up if they are behind, and returns one
// acknowledgement per notice.
func (s *Server) Notice(ns []Notice) []DeliveryAck {
	acks := make([]DeliveryAck, 0, len(ns))
	for _, n := range ns {
		ack := DeliveryAck{User: n.User, Device: n.Device, Epoch: n.Epoch, Gone: true}
		loc := []hlr.Location{{Device: n.Device, Node: s.cfg.NodeID, Epoch: n.Epoch}}
		for _, sess := range s.reg.sessionsAt(n.User, loc, s.cfg.NodeID) {
			ack = sess.notice(n.Head)
		}
		acks = append(acks, ack)
	}
	return acks
}

// Cancel ends the session of (user, loc.Device) if it is still at epoch
// loc.Epoch here (Cancel Location): its queued output is dropped and the
// client gets the goodbye for reason. A Cancel that finds no session is
// remembered for a while, so that a login of that epoch still attaching
// does not come up.
func (s *Server) Cancel(user string, loc hlr.Location, reason string) {
	for _, sess := range s.reg.cancel(user, loc, reason, s.cfg.NodeID, s.cfg.Now()) {
		sess.revoke(reason)
	}
}

// Notify pushes a friend event about peer to user's sessions at locs and
// keeps the cached friend lists current.
func (s *Server) Notify(user string, locs []hlr.Location, event, peer string) {
	switch event {
	case "accepted":
		s.reg.friendAdded(user, peer)
	case "removed":
		s.reg.friendRemoved(user, peer)
	}
	for _, sess := range s.reg.sessionsAt(user, locs, s.cfg.NodeID) {
		sess.pushFriendEvent(event, peer)
	}
}

// RemotePresence applies a presence announcement from another node.
func (s *Server) RemotePresence(node string, u PresenceUpdate) { s.reg.remoteUpdate(node, u) }

// DropNode forgets the presence announced by a node that is gone.
func (s *Server) DropNode(node string) { s.reg.dropNode(node) }

// LocalPresence lists the visible status of every user logged in here.
func (s *Server) LocalPresence() []PresenceUpdate { return s.reg.localPresence() }

// Shutdown stops accepting, tells every client the node is going away
// (with redirect, if non-empty, as the address to reconnect to), logs the
// sessions out of their locations and waits for every goroutine. It is safe
// to call more than once.
func (s *Server) Shutdown(redirect string) error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		s.wg.Wait()
		return nil
	}
	s.closing = true
	close(s.stopping)
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	err := s.ln.Close()
	for _, c := range conns {
		c.goodbye(redirect)
	}
	// Connections tear down (flushing cursors and purging locations) as
	// their readers see the close; give that work a bounded time.
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(s.cfg.ShutdownGrace):
		s.cancel()
		<-done
	}
	s.cancel()
	return err
}
