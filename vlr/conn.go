package vlr

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/roamhq/roam/hlr"
	"github.com/roamhq/roam/wire"
)

// conn is one client connection. Its reader goroutine (serve) reads frames
// and handles the requests in order; everything written to the client goes
// through out, so pushes from other goroutines never interleave with
// replies inside a frame.
type conn struct {
	srv *Server
	nc  net.Conn // what frames are read from: raw, or a tls.Conn on it
	raw net.Conn // the socket
	ip  string   // the client's address (from the PROXY header, if any)
	out outQueue

	viaProxy bool      // from a trusted proxy: starts with a PROXY header
	loginBy  time.Time // the login deadline
	clock    frameClock

	// Guarded by srv.mu.
	counted bool // counted in srv.perIP
	pre     bool // counted in srv.preIP (not logged in yet)

	// inflight bounds the sends of this connection being committed.
	inflight chan struct{}

	// Owned by the reader goroutine (sess is fixed once logged in).
	sess     *session
	login    *loginState
	loggedIn bool // sess is attached to the registry
	ended    bool // the location was already purged (logout, delete)
	outMax   int  // largest frame the client accepts (syncpage.go)

	moving atomic.Bool // a redirect was sent: the connection is closing (redirect.go)

	busy busyPong // signs of life while the reader is held (busy_pong.go)
}

func newConn(s *Server, nc net.Conn, ip string, viaProxy bool) *conn {
	c := &conn{srv: s, nc: nc, raw: nc, ip: ip, viaProxy: viaProxy, inflight: make(chan struct{}, maxInflightSends)}
	c.loginBy = time.Now().Add(s.cfg.LoginDeadline)
	c.out = outQueue{raw: nc, max: s.cfg.OutQueueBytes, timeout: s.cfg.WriteTimeout, spawn: s.goFunc, budget: &s.out}
	c.busy = busyPong{every: s.cfg.BusyPongInterval, push: c.pushPong}
	return c
}

// maxInflightSends bounds the concurrent sends of one connection.
const maxInflightSends = 64

// reqError is a refusal with a stable code.
type reqError struct {
	code  wire.Code
	msg   string
	retry time.Duration
}

func (e *reqError) Error() string { return e.code.Name() + ": " + e.msg }

func refuse(code wire.Code) *reqError { return &reqError{code: code, msg: code.Text()} }

func refusef(code wire.Code, msg string) *reqError { return &reqError{code: code, msg: msg} }

// serve runs the connection until it closes.
func (c *conn) serve() {
	defer c.teardown()
	defer func() {
		// A bug in handling one client's input must not take the node
		// down: log it, tell the client, close this connection only.
		if r := recover(); r != nil {
			c.srv.log.Error("panic while serving a client; connection closed", "ip", c.ip, "panic", r, "stack", string(debug.Stack()))
			c.fatal(0, refuse(wire.CodeInternal))
		}
	}()
	if !c.open() {
		return
	}
	// Small frames until login (an anonymous connection holds no large
	// buffer), MaxFrame after.
	c.clock = frameClock{nc: c.nc, timeout: c.srv.cfg.FrameTimeout}
	rd := wire.NewReader(&c.clock, c.srv.cfg.PreLoginMaxFrame)
	if !c.handshake(rd) {
		return
	}
	for {
		c.armRead(rd)
		f, err := rd.ReadFrame()
		if err != nil {
			c.readFailed(err)
			return
		}
		if !f.Type.Known() || wire.NewBody(f.Type) == nil {
			c.fatal(f.RID, refusef(wire.CodeUnknownType, "unknown frame type "+f.Type.String()))
			return
		}
		was := c.loggedIn
		if was {
			c.busy.begin()
		}
		ok := c.handle(f)
		c.busy.end()
		if !ok {
			return
		}
		if !was && c.loggedIn {
			c.srv.loggedIn(c)
			rd.SetLimit(c.srv.cfg.MaxFrame)
			if c.placeElsewhere() {
				return
			}
		}
	}
}

// armRead sets the read deadline for the next frame: before login the
// sooner of the pre-login frame timeout and the login deadline, after it
// the heartbeat deadline; and within either, FrameTimeout once the frame
// has begun (see frameClock).
func (c *conn) armRead(rd *wire.Reader) {
	var idle time.Time
	if c.loggedIn {
		idle = time.Now().Add(c.srv.cfg.HeartbeatInterval * time.Duration(c.srv.cfg.HeartbeatMisses))
	} else {
		idle = time.Now().Add(c.srv.cfg.HandshakeTimeout)
		if c.loginBy.Before(idle) {
			idle = c.loginBy
		}
	}
	c.clock.next(idle, rd.Buffered() > 0)
}

// open gets the connection ready for frames: it reads the PROXY header
// (from a trusted proxy) and applies the client address's caps, then runs
// the TLS handshake (if the port speaks TLS), all under the login deadline
// and the pre-login frame timeout. It returns false when the connection
// must close (the teardown closes it).
func (c *conn) open() bool {
	deadline := time.Now().Add(c.srv.cfg.HandshakeTimeout)
	if c.loginBy.Before(deadline) {
		deadline = c.loginBy
	}
	if c.viaProxy {
		c.raw.SetReadDeadline(deadline)
		h, err := readProxyHeader(c.raw)
		if err != nil {
			c.srv.log.Debug("bad PROXY header; connection closed", "proxy", c.ip, "err", err)
			return false
		}
		if !h.Local {
			c.ip = h.Src.Addr().Unmap().String()
		}
		if !c.srv.admit(c) {
			c.srv.refuse(c.raw, c.ip, wire.CodeTooManyConns.Text())
			return false
		}
	}
	if c.srv.cfg.TLS != nil {
		tc := tls.Server(c.raw, c.srv.cfg.TLS)
		c.raw.SetDeadline(deadline)
		if err := tc.Handshake(); err != nil {
			c.srv.log.Debug("TLS handshake failed; connection closed", "ip", c.ip, "err", err)
			return false
		}
		c.raw.SetWriteDeadline(time.Time{})
		c.nc = tc
	}
	c.out.ready(c.nc)
	return true
}

// readFailed reports why reading stopped, if the client should know.
func (c *conn) readFailed(err error) {
	var ne net.Error
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, net.ErrClosed):
	case errors.As(err, &ne) && ne.Timeout() || errors.Is(err, os.ErrDeadlineExceeded):
		if c.clock.inFrame() {
			c.fatal(0, refusef(wire.CodeTimeout, "frame not complete within "+c.srv.cfg.FrameTimeout.String()))
		} else if c.loggedIn {
			c.kick(wire.CodeHeartbeatTimeout, "no heartbeat for "+
				(c.srv.cfg.HeartbeatInterval*time.Duration(c.srv.cfg.HeartbeatMisses)).String())
		} else if !time.Now().Before(c.loginBy) {
			c.fatal(0, refusef(wire.CodeTimeout, "not logged in within "+c.srv.cfg.LoginDeadline.String()))
		} else {
			c.fatal(0, refuse(wire.CodeTimeout))
		}
	case errors.Is(err, io.ErrUnexpectedEOF):
	default:
		code := wire.CodeOf(err)
		if code == wire.CodeOK {
			return
		}
		c.fatal(0, refusef(code, err.Error()))
	}
}

// handshake reads THello and answers TWelcome.
func (c *conn) handshake(rd *wire.Reader) bool {
	c.armRead(rd)
	f, err := rd.ReadFrame()
	if err != nil {
		c.readFailed(err)
		return false
	}
	var h wire.Hello
	if f.Type != wire.THello || wire.Decode(f.Body, &h) != nil || h.Proto != wire.Magic {
		c.fatal(f.RID, refusef(wire.CodeBadHandshake, "the first frame must be hello with proto \"roam\""))
		return false
	}
	if h.Version < 1 {
		c.fatal(f.RID, refuse(wire.CodeVersion))
		return false
	}
	if !c.acceptFrameLimit(f.RID, &h) {
		return false
	}
	nodes := []string{c.srv.Addr().String()}
	if c.srv.cfg.Nodes != nil {
		if n := c.srv.cfg.Nodes(); len(n) > 0 {
			nodes = n
		}
	}
	c.reply(f.RID, wire.TWelcome, &wire.Welcome{
		Version:     wire.Version,
		Node:        c.srv.cfg.NodeID,
		Nodes:       nodes,
		MaxFrame:    uint32(c.srv.cfg.MaxFrame),
		MaxBody:     uint32(c.srv.cfg.MaxBody),
		ScramIters:  c.srv.cfg.ScramIters,
		HeartbeatMS: uint32(c.srv.cfg.HeartbeatInterval / time.Millisecond),
	})
	return true
}

// handle dispatches one request. It returns false when the connection
// must close.
func (c *conn) handle(f wire.Frame) bool {
	body := wire.NewBody(f.Type)
	if err := wire.Decode(f.Body, body); err != nil {
		c.fatal(f.RID, refusef(wire.CodeBadBody, err.Error()))
		return false
	}
	if f.Type == wire.TAck {
		if c.sess != nil {
			if c.sess.ack(body.(*wire.Ack).Seq) {
				c.srv.markDirty(c.sess)
			}
		}
		return true
	}
	if f.Type == wire.TGroupAck {
		if c.sess != nil && c.loggedIn {
			c.groupAckReq(body.(*wire.GroupAck))
		}
		return true
	}
	if f.Type == wire.TSceneMove {
		c.sceneMoveReq(f.RID, body.(*wire.SceneMove)) // no reply (conn_scene.go)
		return true
	}
	if f.RID == 0 {
		c.fatal(0, refusef(wire.CodeBadFrame, "requests need a non-zero request id"))
		return false
	}
	if c.loggedIn {
		// Bounded revocation: a session acts only under a fresh lease
		// (lease.go); see leaseGated.
		if f.Type == wire.TPing {
			c.sess.idleCheck()
		} else if leaseGated(f.Type) {
			if err := c.sess.awaitLease(); err != nil {
				return c.respond(f.RID, 0, nil, err)
			}
		}
	}
	if (f.Type == wire.TSend || f.Type == wire.TGroupSend) && c.loggedIn {
		// Sends of one connection run concurrently, up to
		// maxInflightSends (then the reader waits: backpressure), so a
		// client can pipeline them and the home register can batch them.
		// Replies carry the request id; their order is not promised.
		c.inflight <- struct{}{}
		sess, start := c.sess, time.Now()
		c.srv.goFunc(func() {
			defer func() { <-c.inflight }()
			var t wire.Type
			var reply any
			var err error
			if m, ok := body.(*wire.Send); ok {
				t, reply, err = c.send(sess, m)
			} else {
				t, reply, err = c.groupSend(sess, body.(*wire.GroupSend))
			}
			c.srv.counts.done(f.Type, reply, err, start)
			c.respond(f.RID, t, reply, err)
		})
		return true
	}
	t, reply, err := c.dispatch(f.Type, body)
	c.srv.counts.done(f.Type, reply, err, time.Time{})
	if !c.respond(f.RID, t, reply, err) {
		return false
	}
	if err != nil {
		// A refused logout or deletion (not logged in, reauth_required,
		// rate_limited, unavailable) leaves the connection and the
		// account as they were: no goodbye.
		return true
	}
	switch f.Type {
	case wire.TLogout:
		c.kick(wire.CodeLoggedOut, "logged out")
		return false
	case wire.TDeleteAccount:
		c.kick(wire.CodeAccountDeleted, "account deleted")
		return false
	}
	return true
}

// respond queues the reply to request rid: the named reply, or the error.
// It returns false when the error closes the connection.
func (c *conn) respond(rid uint32, t wire.Type, reply any, err error) bool {
	if err != nil {
		var re *reqError
		if !errors.As(err, &re) {
			re = c.internal(err)
		}
		c.replyError(rid, re)
		return !re.code.Fatal()
	}
	c.reply(rid, t, reply)
	return true
}

// internal maps a home-register failure to a client error.
func (c *conn) internal(err error) *reqError {
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, hlr.ErrTimeout) ||
		errors.Is(err, hlr.ErrNotLeader) || errors.Is(err, hlr.ErrClosed) || errors.Is(err, context.Canceled) {
		return refuse(wire.CodeUnavailable)
	}
	c.srv.log.Error("request failed", "err", err)
	return refuse(wire.CodeInternal)
}

var okBody = &wire.Empty{}

func (c *conn) dispatch(t wire.Type, body any) (wire.Type, any, error) {
	// Requests allowed without a session.
	switch t {
	case wire.TPing:
		return wire.TPong, &wire.Pong{ServerMS: c.srv.cfg.Now().UnixMilli()}, nil
	case wire.TRegister:
		return c.register(body.(*wire.Register))
	case wire.TLoginStart:
		return c.loginStart(body.(*wire.LoginStart))
	case wire.TLoginFinish:
		return c.loginFinish(body.(*wire.LoginFinish))
	case wire.TResume:
		return c.resume(body.(*wire.Resume))
	case wire.THello:
		return 0, nil, refusef(wire.CodeBadRequest, "hello was already exchanged")
	}
	if !c.loggedIn {
		switch t {
		case wire.TWelcome, wire.TError, wire.TOK, wire.TLoginChallenge, wire.TLoginOK, wire.TWhoamiReply,
			wire.TProfile, wire.TPong, wire.TFriends, wire.TPresence, wire.TFriendEvent, wire.TSendAck,
			wire.TSyncReply, wire.TMessage, wire.TGoodbye, wire.TGroupListReply, wire.TGroupMembersReply,
			wire.TGroupSyncReply, wire.TGroupMessage, wire.TScheduleListReply, wire.TScheduled, wire.TScheduleEvent,
			wire.TRoleListReply, wire.TSceneJoined, wire.TSceneEvent, wire.TSceneView, wire.TSceneResend:
		default:
			return 0, nil, refuse(wire.CodeNotLoggedIn)
		}
	}
	switch t {
	case wire.TLogout:
		return c.logout()
	case wire.TWhoami:
		s := c.sess
		ns, role := s.role.get()
		return wire.TWhoamiReply, &wire.WhoamiReply{User: s.user, Device: s.device, Node: c.srv.cfg.NodeID, Auth: s.auth, SinceMS: s.since.UnixMilli(),
			RoleNS: ns, Role: role}, nil
	case wire.TGetProfile:
		return c.getProfile(body.(*wire.GetProfile))
	case wire.TSetProfile:
		return c.setProfile(body.(*wire.SetProfile))
	case wire.TChangePassword:
		return c.changePassword(body.(*wire.ChangePassword))
	case wire.TDeleteAccount:
		return c.deleteAccount()
	case wire.TFriendRequest, wire.TFriendAccept, wire.TFriendDecline, wire.TFriendRemove, wire.TBlock, wire.TUnblock:
		return c.friendOp(t, body.(*wire.Peer))
	case wire.TFriendList:
		return c.friendList()
	case wire.TSetPresence:
		st := body.(*wire.SetPresence).Status
		if !validStatus(st) {
			return 0, nil, refuse(wire.CodeBadStatus)
		}
		c.srv.reg.setStatus(c.sess.user, st)
		return wire.TOK, okBody, nil
	case wire.TSend:
		return c.send(c.sess, body.(*wire.Send))
	case wire.TSync:
		return c.sync(body.(*wire.Sync))
	case wire.TGroupCreate, wire.TGroupSet, wire.TGroupJoin, wire.TGroupLeave, wire.TGroupDelete,
		wire.TGroupInvite, wire.TGroupKick, wire.TGroupRole:
		return c.groupOp(t, body)
	case wire.TGroupList:
		return c.groupList(body.(*wire.GroupList))
	case wire.TGroupMembers:
		return c.groupMembers(body.(*wire.GroupMembers))
	case wire.TGroupSend:
		return c.groupSend(c.sess, body.(*wire.GroupSend))
	case wire.TGroupSync:
		return c.groupSync(body.(*wire.GroupSync))
	case wire.TSchedule:
		return c.schedule(body.(*wire.Schedule))
	case wire.TScheduleList:
		return c.scheduleList(body.(*wire.ScheduleList))
	case wire.TScheduleGet:
		return c.scheduleGet(body.(*wire.ScheduleRef))
	case wire.TScheduleEdit:
		return c.scheduleEdit(body.(*wire.ScheduleEdit))
	case wire.TScheduleCancel, wire.TScheduleNow:
		return c.scheduleRef(t, body.(*wire.ScheduleRef))
	case wire.TRoleCreate, wire.TRoleRename, wire.TRoleDelete, wire.TRoleList, wire.TRolePick:
		return c.roleOp(t, body)
	case wire.TSceneJoin:
		return c.sceneJoin(body.(*wire.SceneJoin))
	case wire.TSceneLeave:
		return c.sceneLeave()
	case wire.TSceneSay, wire.TSceneAct:
		return c.sceneSay(body)
	case wire.TSceneZone:
		return c.sceneZone(body.(*wire.SceneZoneReq))
	}
	return 0, nil, refusef(wire.CodeBadRequest, t.String()+" is not a request")
}

// exec runs a home-register command with the request timeout.
func (c *conn) exec(cmd hlr.Cmd) (hlr.Result, error) {
	ctx, cancel := context.WithTimeout(c.srv.ctx, c.srv.cfg.RequestTimeout)
	defer cancel()
	return c.srv.home.Exec(ctx, cmd)
}

// query runs a home-register read with the request timeout.
func (c *conn) query(q hlr.Query) (*hlr.Answer, error) {
	ctx, cancel := context.WithTimeout(c.srv.ctx, c.srv.cfg.RequestTimeout)
	defer cancel()
	return c.srv.home.Query(ctx, q)
}

// reply queues a reply frame.
func (c *conn) reply(rid uint32, t wire.Type, body any) {
	c.out.enqueue(func(dst []byte) []byte {
		out, err := wire.AppendFrame(dst, t, rid, body)
		if err != nil {
			c.srv.log.Error("encode reply", "type", t, "err", err)
			return dst
		}
		return out
	})
}

func (c *conn) replyError(rid uint32, e *reqError) {
	c.reply(rid, wire.TError, &wire.Error{Code: e.code, Message: e.msg, RetryAfterMS: uint32((e.retry + time.Millisecond - 1) / time.Millisecond)})
}

// fatal answers with an error and closes the connection once it is sent.
func (c *conn) fatal(rid uint32, e *reqError) {
	c.out.closeAfter(func(dst []byte) []byte {
		out, err := wire.AppendFrame(dst, wire.TError, rid, &wire.Error{Code: e.code, Message: e.msg})
		if err != nil {
			return dst
		}
		return out
	})
}

// kick sends a goodbye and closes the connection.
func (c *conn) kick(code wire.Code, msg string) {
	c.closeWith(&wire.Goodbye{Code: code, Message: msg})
}

// goodbye tells the client the node is going away.
func (c *conn) goodbye(redirect string) {
	if redirect != "" {
		c.closeWith(&wire.Goodbye{Code: wire.CodeRedirect, Message: "reconnect to " + redirect, Redirect: redirect})
		return
	}
	c.closeWith(&wire.Goodbye{Code: wire.CodeShutdown, Message: wire.CodeShutdown.Text()})
}

func (c *conn) closeWith(g *wire.Goodbye) {
	c.out.closeAfter(func(dst []byte) []byte {
		out, err := wire.AppendFrame(dst, wire.TGoodbye, 0, g)
		if err != nil {
			return dst
		}
		return out
	})
}

// pushMessage queues an inbox message.
func (c *conn) pushMessage(rid uint32, m *hlr.Message) {
	msg := toWireMessage(m)
	if !c.out.enqueue(func(dst []byte) []byte {
		out, err := wire.AppendFrame(dst, wire.TMessage, rid, &msg)
		if err != nil {
			return dst
		}
		return out
	}) {
		c.srv.log.Debug("push dropped: connection closing or slow", "ip", c.ip)
	}
}

func (c *conn) pushPresence(user, status string) {
	c.push(wire.TPresence, &wire.Presence{User: user, Status: status})
}

func (c *conn) pushFriendEvent(event, peer string) {
	c.push(wire.TFriendEvent, &wire.FriendEvent{Event: event, User: peer})
}

func (c *conn) push(t wire.Type, body any) {
	c.out.enqueue(func(dst []byte) []byte {
		out, err := wire.AppendFrame(dst, t, 0, body)
		if err != nil {
			return dst
		}
		return out
	})
}

func toWireMessage(m *hlr.Message) wire.Message {
	return wire.Message{Seq: m.Seq, ID: m.ID, From: m.From, FromDevice: m.FromDevice, Body: m.Body, SentMS: m.SentMS, ExpiresMS: m.ExpiresMS}
}

// teardown runs when the reader stops: the session leaves the register,
// its cursor is written and its location purged.
func (c *conn) teardown() {
	// Whatever was queued (a final reply, an error, a goodbye) is still
	// written, bounded by WriteTimeout; then the socket closes.
	c.busy.end()
	c.out.closeAfter(nil)
	c.srv.forget(c)
	s := c.sess
	if s == nil || !c.loggedIn {
		return
	}
	c.srv.beginEnding(s.user, s.device)
	s.end()
	c.srv.leaveScene(s)
	c.srv.reg.detach(s)
	if c.moving.Swap(true) { // and no redirect from now on
		c.srv.movingNow.Add(-1)
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.srv.cfg.RequestTimeout)
	defer cancel()
	c.srv.flushCursor(ctx, s)
	c.srv.finishEnding(s.user, s.device)
	if !c.ended {
		if _, err := c.srv.home.Exec(ctx, hlr.Cmd{Op: hlr.OpPurge, User: s.user, Device: s.device, Epoch: s.epoch}); err != nil {
			c.srv.log.Debug("purge failed", "user", s.user, "err", err)
		}
	}
}
