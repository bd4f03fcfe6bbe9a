package vlr

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/roamhq/roam/hlr"
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
	perIP    map[string]int
	closing  bool
	stopping chan struct{} // closed when Shutdown begins

	dirtyMu sync.Mutex
	dirty   map[*session]struct{} // sessions whose cursor moved

	endingMu sync.Mutex
	ending   map[string]*endings // devices whose old session is writing its last cursor

	limits *limits
}

// New starts a visitor register listening on cfg.ClientAddr.
func New(cfg Config, home Home, bus PresenceBus) (*Server, error) {
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
		reg:      newRegistry(bus),
		ln:       ln,
		conns:    make(map[*conn]struct{}),
		perIP:    make(map[string]int),
		limits:   lim,
		stopping: make(chan struct{}),
		dirty:    make(map[*session]struct{}),
		ending:   make(map[string]*endings),
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.goFunc(s.acceptLoop)
	s.goFunc(s.cursorLoop)
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
		ip := remoteIP(nc)
		s.mu.Lock()
		if s.closing || s.perIP[ip] >= s.cfg.MaxConnsPerIP {
			s.mu.Unlock()
			nc.Close()
			continue
		}
		s.perIP[ip]++
		c := newConn(s, nc, ip)
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		s.goFunc(c.serve)
	}
}

func (s *Server) forget(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	if s.perIP[c.ip]--; s.perIP[c.ip] <= 0 {
		delete(s.perIP, c.ip)
	}
	s.mu.Unlock()
}

func remoteIP(nc net.Conn) string {
	if a, ok := nc.RemoteAddr().(*net.TCPAddr); ok {
		return a.IP.String()
	}
	return nc.RemoteAddr().String()
}

// Deliver pushes a committed message to the local sessions at locs (called
// by the home partition's leader, here or through a jump gate).
func (s *Server) Deliver(user string, locs []hlr.Location, m *hlr.Message) {
	for _, sess := range s.reg.sessionsAt(user, locs, s.cfg.NodeID) {
		sess.offer(m)
	}
}

// Cancel closes the session of (user, loc.Device) if it is still at epoch
// loc.Epoch here (Cancel Location).
func (s *Server) Cancel(user string, loc hlr.Location, reason string) {
	for _, sess := range s.reg.sessionsAt(user, []hlr.Location{loc}, s.cfg.NodeID) {
		sess.end()
		sess.c.kick(reasonCode(reason), "session ended: "+reason)
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
		sess.c.pushFriendEvent(event, peer)
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
