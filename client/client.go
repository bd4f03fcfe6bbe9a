package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/roamhq/roam/wire"
)

// Client is a connection to a roam cluster, with at most one session (a
// logged-in user on this device). It is safe for concurrent use, except
// that Login, Resume and Logout must not run concurrently with each other.
//
// Goroutines (all stopped by Close):
//   - one reader per connection (conn.readLoop): replies → wait registry,
//     pushes → handlePush;
//   - one keeper per logged-in connection (conn.keeper): heartbeats,
//     acknowledgements and the liveness probe (probe.go);
//   - the session loop (Client.loop): inbox sync, then the groups flow
//     (both paced by the event queue), and reconnection (with a backoff
//     that outlives one call);
//   - the dispatcher (Client.dispatch): moves queued events to Events().
//
// Lock order: Client.mu, then eventQueue.mu. conn.wmu and waitList.mu are
// never held while taking Client.mu.
type Client struct {
	cfg  Config
	log  *slog.Logger
	cmid atomic.Uint64

	ctx    context.Context // cancelled by Close; bounds dials and background requests
	cancel context.CancelFunc
	done   chan struct{} // closed by Close
	wg     sync.WaitGroup
	wake   chan struct{} // wakes the session loop
	events chan Event
	queue  eventQueue

	mu       sync.Mutex
	closed   bool
	conns    map[*conn]struct{} // every open connection, for Close
	cur      *conn              // the connection requests use; nil when none
	dialing  bool               // a request is dialing cur lazily
	changed  chan struct{}      // closed (and replaced) whenever cur or sess changes
	sess     *session           // nil when not logged in
	gen      uint64             // session generation
	nodes    []string           // node addresses from the last Welcome
	redirect string             // where a goodbye told us to go
	avoid    string             // a node that said it is shutting down
	pick     nodePick           // loads and round-trip times of the nodes (pick.go)
	in       inbox
	grp      groupState
	sc       sceneState // scene.go
	ackTimer *time.Timer
	ackArmed bool
	// establishing counts Login/Resume calls in progress: the session
	// loop does not resume the old session meanwhile.
	establishing int
	// streak counts reconnect attempts since a connection last stayed up
	// HealthyAfter (or the application logged in): each waits longer.
	streak int
}

// session is the state of a login.
type session struct {
	user      string
	device    string
	token     []byte
	heartbeat time.Duration
	epoch     uint64
	auth      string // "scram" or "resume"
	authAt    time.Time
	gen       uint64
	role      wire.RoleRef // the picked role (roles.go), picked again on resume
}

// Dial connects to the first reachable address of cfg.Addrs and exchanges
// Hello/Welcome. The client is not logged in yet: call Register, Login or
// Resume. Close it when done.
func Dial(ctx context.Context, cfg Config) (*Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Device == "" {
		cfg.Device = NewDeviceID()
	}
	if cfg.ClientName == "" {
		cfg.ClientName = "roam-go/" + Version
	}
	cfg.Addrs = append([]string(nil), cfg.Addrs...)
	c := &Client{
		cfg:     cfg,
		log:     cfg.Logger.With("component", "client"),
		done:    make(chan struct{}),
		wake:    make(chan struct{}, 1),
		events:  make(chan Event),
		conns:   make(map[*conn]struct{}),
		changed: make(chan struct{}),
	}
	c.queue.signal = make(chan struct{}, 1)
	c.queue.drained = make(chan struct{}, 1)
	c.cmid.Store(randomCMIDBase())
	c.ctx, c.cancel = context.WithCancel(context.Background())
	c.goFunc(c.loop)
	c.goFunc(c.dispatch)
	cn, err := c.dialAny(ctx, cfg.Addrs)
	if err != nil {
		c.Close()
		return nil, err
	}
	c.mu.Lock()
	c.install(cn)
	c.mu.Unlock()
	return c, nil
}

// now reads the wall clock.
func (c *Client) now() time.Time {
	if c.cfg.now != nil {
		return c.cfg.now()
	}
	return time.Now()
}

// goFunc starts a goroutine that Close waits for; it refuses once the
// client is closed.
func (c *Client) goFunc(f func()) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.goFuncLocked(f)
}

func (c *Client) goFuncLocked(f func()) bool {
	if c.closed {
		return false
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		f()
	}()
	return true
}

// track registers a new connection and starts its reader.
func (c *Client) track(cn *conn) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.goFuncLocked(cn.readLoop) {
		return false
	}
	c.conns[cn] = struct{}{}
	return true
}

// Close ends the client: it sends the pending acknowledgement, closes the
// connection (the session stays resumable with Token), stops every
// goroutine and closes the Events channel. It is safe to call more than
// once.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		c.wg.Wait()
		return nil
	}
	cur := c.cur
	if c.ackTimer != nil {
		c.ackTimer.Stop()
	}
	c.mu.Unlock()
	if cur != nil {
		c.flushAck(cur)
	}
	c.mu.Lock()
	c.closed = true
	conns := make([]*conn, 0, len(c.conns))
	for cn := range c.conns {
		conns = append(conns, cn)
	}
	c.broadcastLocked()
	c.mu.Unlock()
	close(c.done)
	c.cancel()
	for _, cn := range conns {
		cn.close(ErrClosed)
	}
	c.wg.Wait()
	close(c.events)
	return nil
}

// Events returns the channel of messages (in inbox order, each once),
// presence changes, friend events and connection news. Read it
// continuously: a message is acknowledged to the server only once it has
// been received from this channel. It is closed by Close.
func (c *Client) Events() <-chan Event { return c.events }

// Token returns the current session token (nil when not logged in). It
// changes on every resume, including automatic ones after a reconnect:
// save the latest value to resume later.
func (c *Client) Token() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sess == nil {
		return nil
	}
	return append([]byte(nil), c.sess.token...)
}

// User returns the logged-in user ("" when not logged in).
func (c *Client) User() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sess == nil {
		return ""
	}
	return c.sess.user
}

// Device returns the device id the client logs in with.
func (c *Client) Device() string { return c.cfg.Device }

// Addr returns the address of the node currently connected ("" if none).
func (c *Client) Addr() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cur == nil {
		return ""
	}
	return c.cur.addr
}

// broadcastLocked wakes everything waiting for cur or sess to change.
func (c *Client) broadcastLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}

func (c *Client) wakeLoop() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// install makes cn the current connection.
func (c *Client) install(cn *conn) {
	c.cur = cn
	c.nodes = append([]string(nil), cn.welcome.Nodes...)
	if c.redirect == cn.addr {
		c.redirect = ""
	}
	c.avoid = ""
	c.broadcastLocked()
}

// getConn returns the current connection. Without one it waits for the
// session loop to reconnect (if there is a session), or dials itself.
func (c *Client) getConn(ctx context.Context) (*conn, error) {
	for {
		c.mu.Lock()
		if c.closed {
			c.mu.Unlock()
			return nil, ErrClosed
		}
		if cn := c.cur; cn != nil && !cn.closed() {
			c.mu.Unlock()
			return cn, nil
		}
		if c.sess != nil || c.dialing {
			ch := c.changed
			c.mu.Unlock()
			select {
			case <-ch:
				continue
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		c.dialing = true
		addrs := c.candidatesLocked()
		c.mu.Unlock()
		cn, err := c.dialAny(ctx, addrs)
		c.mu.Lock()
		c.dialing = false
		if err == nil {
			if c.closed {
				err = ErrClosed
			} else if c.cur != nil && !c.cur.closed() {
				// Someone installed a connection meanwhile (a login on a
				// fresh connection): use it.
				cn.close(errors.New("not needed"))
				cn = c.cur
			} else {
				c.install(cn)
			}
		}
		c.broadcastLocked()
		c.mu.Unlock()
		return cn, err
	}
}

// candidatesLocked lists the addresses to try, best first: a redirect,
// the last node, the nodes from Welcome and the configured ones.
func (c *Client) candidatesLocked() []string {
	var out []string
	seen := make(map[string]bool)
	add := func(a string) {
		if a != "" && !seen[a] {
			seen[a] = true
			out = append(out, a)
		}
	}
	add(c.redirect)
	if c.cur != nil && c.cur.addr != c.avoid {
		add(c.cur.addr)
	}
	for _, a := range c.pick.order(c.nodes) {
		if a != c.avoid {
			add(a)
		}
	}
	for _, a := range c.cfg.Addrs {
		if a != c.avoid {
			add(a)
		}
	}
	add(c.avoid) // last resort
	return out
}

// dialAny dials the addresses in order and returns the first connection
// that completes the handshake.
func (c *Client) dialAny(ctx context.Context, addrs []string) (*conn, error) {
	if len(addrs) == 0 {
		return nil, ErrNoAddress
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(c.ctx, cancel)
	defer stop()
	var errs []error
	for _, a := range addrs {
		cn, err := c.dial(ctx, a)
		if err == nil {
			return cn, nil
		}
		c.log.Debug("dial failed", "addr", a, "err", err)
		var e *Error
		if errors.As(err, &e) {
			return nil, err // the server answered: no point trying the others
		}
		errs = append(errs, fmt.Errorf("%s: %w", a, err))
		if ctx.Err() != nil {
			break
		}
	}
	if c.ctx.Err() != nil {
		return nil, ErrClosed
	}
	return nil, fmt.Errorf("client: no node reachable: %w", errors.Join(errs...))
}

// withTimeout bounds ctx by RequestTimeout.
func (c *Client) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if d, ok := ctx.Deadline(); ok && time.Until(d) <= c.cfg.RequestTimeout {
		return context.WithCancel(ctx)
	}
	return context.WithTimeoutCause(ctx, c.cfg.RequestTimeout, ErrTimeout)
}

// call sends one request on the current connection and waits for the
// reply.
func (c *Client) call(ctx context.Context, t wire.Type, body any, want wire.Type, out any) error {
	rctx, cancel := c.withTimeout(ctx)
	defer cancel()
	cn, err := c.getConn(rctx)
	if err != nil {
		return timeoutCause(ctx, rctx, err)
	}
	sent := time.Now()
	err = timeoutCause(ctx, rctx, cn.roundTrip(rctx, t, body, want, out))
	if errors.Is(err, ErrTimeout) && cn.lastRecv.Load() < sent.UnixNano() {
		c.dropSilent(cn, time.Since(sent))
	}
	return err
}

// dropSilent closes a connection on which a request got no reply and the
// server sent nothing else either for the whole RequestTimeout: the node
// is stopped, frozen or cut off, so the session moves to another node
// (tried first) instead of the next attempt waiting on the same
// connection. Heartbeats alone would take three intervals to notice.
func (c *Client) dropSilent(cn *conn, silent time.Duration) {
	c.mu.Lock()
	if c.cur == cn && c.sess != nil {
		c.avoid = cn.addr
	}
	c.mu.Unlock()
	cn.close(fmt.Errorf("no reply and no frame from the server for %v", silent.Round(time.Millisecond)))
}

// timeoutCause turns the expiry of our own RequestTimeout into ErrTimeout
// (the caller's own cancellation is returned as it is).
func timeoutCause(parent, ctx context.Context, err error) error {
	if err != nil && errors.Is(err, context.DeadlineExceeded) && parent.Err() == nil {
		if cause := context.Cause(ctx); errors.Is(cause, ErrTimeout) {
			return ErrTimeout
		}
	}
	return err
}

// connLost is called by a reader when its connection has closed.
func (c *Client) connLost(cn *conn, err error) {
	c.mu.Lock()
	delete(c.conns, cn)
	if c.cur != cn || c.closed {
		c.mu.Unlock()
		return
	}
	c.cur = nil
	c.noteEndLocked(cn)
	s := c.sess
	// A connection being replaced by a new login, or closed by a logout,
	// goes quietly; whoever replaces or closes it takes over.
	quiet := cn.retiring.Load() || cn.expectBye.Load()
	if s != nil && !quiet {
		c.log.Debug("connection lost", "addr", cn.addr, "err", err)
		lost := fmt.Errorf("%w: %v", ErrConnLost, err)
		c.emit(Event{Kind: EventDisconnected, Addr: cn.addr, Err: lost})
		if c.cfg.NoReconnect {
			c.endSessionLocked()
			c.emit(Event{Kind: EventSessionEnded, Err: lost})
		}
	}
	c.broadcastLocked()
	c.mu.Unlock()
	if s != nil && !quiet && !c.cfg.NoReconnect {
		c.wakeLoop()
	}
}

// endSessionLocked forgets the session.
func (c *Client) endSessionLocked() {
	c.sess = nil
	c.in.syncing = false
	c.in.want = false
	c.stopGroupsLocked()
	c.broadcastLocked()
}

// handlePush handles a frame with request id 0. It runs on the reader of
// cn and must not block.
func (c *Client) handlePush(cn *conn, f wire.Frame) {
	if cn.retiring.Load() {
		return
	}
	switch f.Type {
	case wire.TMessage:
		var m wire.Message
		if err := wire.Decode(f.Body, &m); err != nil {
			c.log.Warn("bad message push", "err", err)
			return
		}
		c.onMessage(cn, &m)
	case wire.TGroupMessage:
		var m wire.GroupMessage
		if err := wire.Decode(f.Body, &m); err != nil {
			c.log.Warn("bad group message push", "err", err)
			return
		}
		c.onGroupMessage(cn, &m)
	case wire.TPresence:
		var p wire.Presence
		if err := wire.Decode(f.Body, &p); err != nil {
			c.log.Warn("bad presence push", "err", err)
			return
		}
		c.emit(Event{Kind: EventPresence, User: p.User, Status: p.Status})
	case wire.TFriendEvent:
		var fe wire.FriendEvent
		if err := wire.Decode(f.Body, &fe); err != nil {
			c.log.Warn("bad friend event push", "err", err)
			return
		}
		c.emit(Event{Kind: EventFriend, User: fe.User, Friend: fe.Event})
	case wire.TScheduleEvent:
		var se wire.ScheduleEvent
		if err := wire.Decode(f.Body, &se); err != nil {
			c.log.Warn("bad schedule event push", "err", err)
			return
		}
		c.emit(Event{Kind: EventSchedule, Schedule: toScheduled(&se.Item), ScheduleEvent: se.Event})
	case wire.TRedirect:
		var r wire.Redirect
		if err := wire.Decode(f.Body, &r); err != nil {
			c.log.Warn("bad redirect push", "err", err)
			return
		}
		c.onRedirect(cn, &r)
	case wire.TSceneEvent, wire.TSceneView, wire.TSceneResend:
		c.onScenePush(cn, f)
	case wire.TPong:
		// A busy pong (PROTOCOL §6): the node is alive, its reader held
		// by a request; the reader noted the arrival.
	case wire.TGoodbye:
		var g wire.Goodbye
		if err := wire.Decode(f.Body, &g); err != nil {
			c.log.Warn("bad goodbye push", "err", err)
			return
		}
		c.onGoodbye(cn, &g)
	case wire.TError:
		var e wire.Error
		if err := wire.Decode(f.Body, &e); err != nil {
			c.log.Warn("bad error push", "err", err)
			return
		}
		err := &Error{Code: e.Code, Message: e.Message, RetryAfter: time.Duration(e.RetryAfterMS) * time.Millisecond}
		c.mu.Lock()
		loggedIn := c.sess != nil && c.cur == cn
		c.mu.Unlock()
		if !loggedIn {
			// Typically the handshake deadline of an idle connection that
			// never logged in: the next request dials again.
			c.log.Debug("error from the server", "addr", cn.addr, "err", err)
			return
		}
		c.emit(Event{Kind: EventError, Addr: cn.addr, Err: err})
	default:
		c.log.Debug("ignoring push", "type", f.Type)
	}
}

// onGoodbye handles the server's announcement that it closes cn: cn
// stops serving requests at once; the session goes on at another
// connection (redirect, shutdown, ...) or ends.
func (c *Client) onGoodbye(cn *conn, g *wire.Goodbye) {
	err := &Error{Code: g.Code, Message: g.Message}
	cn.byeCode.Store(uint32(g.Code))
	defer cn.close(err)
	c.mu.Lock()
	if c.cur != cn {
		// Not (or not yet) the session's connection: a redirect right
		// after a resume or login on it arrives before it is installed.
		// The session goes on elsewhere (errAdoptedLost); go where the
		// node says rather than back to it.
		if g.Code == wire.CodeRedirect && g.Redirect != "" {
			c.followRedirectLocked(g.Redirect)
		}
		c.mu.Unlock()
		return
	}
	c.cur = nil
	c.noteEndLocked(cn)
	if g.Redirect != "" {
		c.followRedirectLocked(g.Redirect)
	}
	resumable := false
	switch g.Code {
	case wire.CodeRedirect, wire.CodeSlowConsumer, wire.CodeHeartbeatTimeout:
		resumable = true
	case wire.CodeShutdown:
		resumable = true
		c.avoid = cn.addr
	}
	s := c.sess
	if !cn.expectBye.Load() {
		c.log.Debug("goodbye", "addr", cn.addr, "code", g.Code, "redirect", g.Redirect)
		c.emit(Event{Kind: EventGoodbye, Addr: g.Redirect, Err: err})
		if s != nil && (!resumable || c.cfg.NoReconnect) {
			c.emit(Event{Kind: EventSessionEnded, Err: err})
		}
	}
	if s != nil && (!resumable || c.cfg.NoReconnect) {
		c.endSessionLocked()
		s = nil
	}
	c.broadcastLocked()
	c.mu.Unlock()
	if s != nil {
		c.wakeLoop()
	}
}

// loop is the session loop: it reconnects and resumes after a connection
// loss, syncs the inbox when asked, and then the groups (group_sync.go).
func (c *Client) loop() {
	for {
		select {
		case <-c.done:
			return
		case <-c.wake:
		}
		for c.ctx.Err() == nil {
			c.mu.Lock()
			ready := c.cur != nil && c.sess != nil
			needConn := c.cur == nil && c.sess != nil
			needSync := ready && c.in.want && !c.in.syncing
			inboxDone := ready && !c.in.want && !c.in.syncing
			needList := inboxDone && c.grp.wantList
			group := ""
			if inboxDone && !needList {
				group = c.nextGroupLocked()
			}
			c.mu.Unlock()
			switch {
			case needConn:
				c.reconnect()
			case needSync:
				c.syncInbox()
			case needList:
				c.listGroups()
			case group != "":
				c.syncGroup(group)
			}
			if !needConn && !needSync && !needList && group == "" {
				break
			}
		}
	}
}

// noteEndLocked records the end of the session's connection cn: one that
// stayed up HealthyAfter makes the next reconnect immediate again.
func (c *Client) noteEndLocked(cn *conn) {
	if at := cn.sessAt.Load(); at != 0 && time.Since(time.Unix(0, at)) >= c.cfg.HealthyAfter {
		c.streak = 0
		c.pick.hops = 0
	}
}

// reconnect dials a node and resumes the session, with backoff, until it
// succeeds, the session is refused, or the client closes. The backoff
// (c.streak) outlives one call: a connection that fails soon after the
// resume (dropped right after login, a frame too large, a frozen node)
// makes the next reconnect wait longer, until one stays up HealthyAfter.
func (c *Client) reconnect() {
	var floor time.Duration // a rate limit's retry_after
	for {
		c.mu.Lock()
		streak := c.streak
		c.mu.Unlock()
		if wait := max(floor, c.reconnectDelay(streak)); wait > 0 {
			if c.sleep(c.ctx, wait) != nil {
				return
			}
		}
		floor = 0
		c.mu.Lock()
		s := c.sess
		if c.closed || s == nil || c.cur != nil {
			c.mu.Unlock()
			return
		}
		if c.establishing > 0 {
			// The application is logging in anew: wait for the outcome.
			ch := c.changed
			c.mu.Unlock()
			select {
			case <-ch:
			case <-c.done:
				return
			}
			continue
		}
		c.streak++
		addrs := c.candidatesLocked()
		c.mu.Unlock()

		cn, err := c.dialAny(c.ctx, addrs)
		if err == nil {
			err = c.resumeSession(cn, s)
			if err == nil {
				c.log.Debug("reconnected", "addr", cn.addr)
				c.emit(Event{Kind: EventReconnected, Addr: cn.addr})
				c.goFunc(c.sceneRejoin)
				return
			}
			cn.close(err)
			switch CodeOf(err) {
			case wire.CodeSessionInvalid, wire.CodeAuthFailed, wire.CodeBadName, wire.CodeBadRequest, wire.CodeAlreadyLogged,
				// The session was revoked while the resume was made (the
				// device logged in elsewhere, the password changed, the
				// account went): no point resuming again.
				wire.CodeSessionReplaced, wire.CodePasswordChanged, wire.CodeAccountDeleted, wire.CodeLoggedOut:
				c.mu.Lock()
				if c.sess == s {
					c.endSessionLocked()
				}
				c.mu.Unlock()
				c.emit(Event{Kind: EventSessionEnded, Err: err})
				return
			case wire.CodeRateLimited:
				var e *Error
				errors.As(err, &e)
				floor = e.RetryAfter
			}
		}
		if errors.Is(err, ErrClosed) || errors.Is(err, errSuperseded) || c.ctx.Err() != nil {
			return
		}
		c.log.Debug("reconnect failed", "attempt", streak, "err", err)
	}
}

// resumeSession resumes session s on cn, within RequestTimeout. A node that
// answers nothing is avoided by the next attempt.
func (c *Client) resumeSession(cn *conn, s *session) error {
	ctx, cancel := context.WithTimeoutCause(c.ctx, c.cfg.RequestTimeout, ErrTimeout)
	defer cancel()
	sent := time.Now()
	lok, err := c.resumeOn(ctx, cn, s.user, s.token)
	if err == nil {
		c.mu.Lock()
		role := s.role
		c.mu.Unlock()
		if role, err = c.repickRole(ctx, cn, role); err == nil {
			c.mu.Lock()
			s.role = role
			c.mu.Unlock()
		}
	}
	if err != nil {
		err = timeoutCause(c.ctx, ctx, err)
		if errors.Is(err, ErrTimeout) && cn.lastRecv.Load() < sent.UnixNano() {
			c.mu.Lock()
			c.avoid = cn.addr
			c.mu.Unlock()
		}
		return err
	}
	return c.adopt(cn, lok, "resume", s.gen)
}

// reconnectDelay is the pause before reconnect attempt streak+1: none for
// the first, then the backoff.
func (c *Client) reconnectDelay(streak int) time.Duration {
	if streak == 0 {
		return 0
	}
	return c.backoff(streak - 1)
}

// backoff returns the pause before attempt+1: RetryBackoff doubling up to
// MaxBackoff, with equal jitter (uniform in [d/2, d]), so that clients
// that failed together do not come back together.
func (c *Client) backoff(attempt int) time.Duration {
	d := c.cfg.RetryBackoff << min(attempt, 30)
	if d > c.cfg.MaxBackoff || d <= 0 {
		d = c.cfg.MaxBackoff
	}
	return d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
}

// sleep pauses for d unless ctx ends or the client closes.
func (c *Client) sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-c.done:
		return ErrClosed
	}
}
