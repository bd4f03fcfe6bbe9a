package client

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/xdg-go/scram"

	"github.com/roamhq/roam/wire"
)

// MinScramIters is the smallest PBKDF2 iteration count the client uses
// for new credentials (RFC 7677 asks for at least 4096), whatever the
// server announces.
const MinScramIters = 4096

// SaltSize is the size of the random salt of new credentials.
const SaltSize = 16

// DeriveCredentials derives SCRAM-SHA-256 credentials for a new password
// (RFC 5802 §3) with a fresh random salt: SaltedPassword =
// PBKDF2-HMAC-SHA-256(SASLprep(password), salt, iters), StoredKey =
// SHA-256(HMAC(SaltedPassword, "Client Key")), ServerKey =
// HMAC(SaltedPassword, "Server Key"). Only these travel to the server; the
// password does not.
func DeriveCredentials(user, password string, iters uint32) (wire.Credentials, error) {
	salt := make([]byte, SaltSize)
	if _, err := rand.Read(salt); err != nil {
		return wire.Credentials{}, err
	}
	return deriveWithSalt(user, password, salt, iters)
}

func deriveWithSalt(user, password string, salt []byte, iters uint32) (wire.Credentials, error) {
	if iters < MinScramIters {
		iters = MinScramIters
	}
	sc, err := scram.SHA256.NewClient(canonicalUser(user), password, "")
	if err != nil {
		return wire.Credentials{}, fmt.Errorf("client: password not usable: %w", err)
	}
	sk := sc.GetStoredCredentials(scram.KeyFactors{Salt: string(salt), Iters: int(iters)})
	return wire.Credentials{
		Salt:      append([]byte(nil), salt...),
		Iters:     iters,
		StoredKey: sk.StoredKey,
		ServerKey: sk.ServerKey,
	}, nil
}

// canonicalUser lowercases a user name: names are case-insensitive.
func canonicalUser(u string) string { return strings.ToLower(strings.TrimSpace(u)) }

// Register creates an account. The password is turned into SCRAM
// credentials here; it never crosses the wire. Register does not log in.
func (c *Client) Register(ctx context.Context, user, password string) error {
	user = canonicalUser(user)
	rctx, cancel := c.withTimeout(ctx)
	defer cancel()
	cn, release, err := c.sessionlessConn(rctx)
	if err != nil {
		return timeoutCause(ctx, rctx, err)
	}
	defer release()
	creds, err := DeriveCredentials(user, password, cn.welcome.ScramIters)
	if err != nil {
		return err
	}
	err = cn.roundTrip(rctx, wire.TRegister, &wire.Register{User: user, Credentials: creds}, wire.TOK, nil)
	return timeoutCause(ctx, rctx, err)
}

// sessionlessConn returns a connection without a session: the current
// one if the client is not logged in, else a temporary one that release
// closes.
func (c *Client) sessionlessConn(ctx context.Context) (*conn, func(), error) {
	c.mu.Lock()
	hasSess := c.sess != nil
	addrs := c.candidatesLocked()
	c.mu.Unlock()
	if !hasSess {
		cn, err := c.getConn(ctx)
		return cn, func() {}, err
	}
	cn, err := c.dialAny(ctx, addrs)
	if err != nil {
		return nil, nil, err
	}
	return cn, func() { cn.close(errors.New("done")) }, nil
}

// Login logs in with a password (SCRAM-SHA-256): the server proves it
// knows the password's keys too, and a server that cannot is refused with
// an error matching both ErrAuthFailed and ErrServerProof. On success the
// client syncs the inbox and starts heartbeats. Logging in again while
// logged in (for a password change, say) opens a new connection and
// replaces the old session.
func (c *Client) Login(ctx context.Context, user, password string) error {
	user = canonicalUser(user)
	sc, err := scram.SHA256.NewClient(user, password, "")
	if err != nil {
		return fmt.Errorf("client: password not usable: %w", err)
	}
	return c.establish(ctx, "scram", func(ctx context.Context, cn *conn) (*wire.LoginOK, error) {
		return c.loginOn(ctx, cn, sc, user)
	})
}

// Resume logs in again with a session token saved from Token (from this
// process or an earlier one). The server answers with a new token and the
// old one stops working: save Token again afterwards.
func (c *Client) Resume(ctx context.Context, user string, token []byte) error {
	user = canonicalUser(user)
	token = append([]byte(nil), token...)
	return c.establish(ctx, "resume", func(ctx context.Context, cn *conn) (*wire.LoginOK, error) {
		return c.resumeOn(ctx, cn, user, token)
	})
}

// establish runs a login exchange and makes its session the client's. With
// no session it uses the current connection; with one, a fresh
// connection (a connection holds one session), which replaces the old.
func (c *Client) establish(ctx context.Context, auth string, do func(context.Context, *conn) (*wire.LoginOK, error)) error {
	rctx, cancel := c.withTimeout(ctx)
	defer cancel()
	c.mu.Lock()
	fresh := c.sess != nil
	old := c.cur
	addrs := c.candidatesLocked()
	c.establishing++
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.establishing--
		c.broadcastLocked()
		c.mu.Unlock()
	}()
	var cn *conn
	var err error
	if fresh {
		cn, err = c.dialAny(rctx, addrs)
		if err == nil && old != nil {
			// The new login cancels the old session's location: its
			// goodbye (session_replaced) is expected, not news.
			old.retiring.Store(true)
		}
	} else {
		cn, err = c.getConn(rctx)
	}
	if err != nil {
		return timeoutCause(ctx, rctx, err)
	}
	lok, err := do(rctx, cn)
	if err == nil {
		err = c.adopt(cn, lok, auth, 0)
		if errors.Is(err, errAdoptedLost) {
			// The login succeeded; the session loop reconnects.
			err = nil
		}
		if err == nil {
			c.mu.Lock()
			c.streak = 0 // a fresh start for the reconnect backoff
			c.mu.Unlock()
		}
	}
	var serr *Error
	if err != nil && !fresh && !errors.As(err, &serr) {
		// No answer (a timeout, a broken connection): the server may
		// have bound a session to this connection after all, one this
		// client knows nothing of. Drop the connection so that the next
		// attempt starts clean instead of meeting already_logged_in.
		cn.close(err)
	}
	if err != nil && fresh {
		cn.close(err)
		if old != nil {
			old.retiring.Store(false)
			if old.closed() {
				c.wakeLoop() // it died meanwhile: let the session loop reconnect
			}
		}
	}
	return timeoutCause(ctx, rctx, err)
}

// loginOn runs the SCRAM exchange on cn.
func (c *Client) loginOn(ctx context.Context, cn *conn, sc *scram.Client, user string) (*wire.LoginOK, error) {
	conv := sc.NewConversation()
	first, err := conv.Step("")
	if err != nil {
		return nil, fmt.Errorf("client: scram: %w", err)
	}
	var ch wire.LoginChallenge
	if err := cn.roundTrip(ctx, wire.TLoginStart, &wire.LoginStart{User: user, Device: c.cfg.Device, ClientFirst: first}, wire.TLoginChallenge, &ch); err != nil {
		return nil, err
	}
	final, err := conv.Step(ch.ServerFirst)
	if err != nil {
		// A malformed challenge, or fewer iterations than RFC 7677 allows.
		return nil, fmt.Errorf("%w: %w: %v", ErrAuthFailed, ErrServerProof, err)
	}
	var lok wire.LoginOK
	if err := cn.roundTrip(ctx, wire.TLoginFinish, &wire.LoginFinish{ClientFinal: final}, wire.TLoginOK, &lok); err != nil {
		return nil, err
	}
	if _, err := conv.Step(lok.ServerFinal); err != nil || !conv.Valid() {
		// The server does not know the password's keys: do not trust it
		// with the session it just opened.
		err = fmt.Errorf("%w: %w", ErrAuthFailed, ErrServerProof)
		cn.close(err)
		return nil, err
	}
	if len(lok.Token) == 0 {
		return nil, fmt.Errorf("%w: login_ok without a token", ErrProtocol)
	}
	return &lok, nil
}

// resumeOn sends Resume on cn.
func (c *Client) resumeOn(ctx context.Context, cn *conn, user string, token []byte) (*wire.LoginOK, error) {
	var lok wire.LoginOK
	if err := cn.roundTrip(ctx, wire.TResume, &wire.Resume{User: user, Device: c.cfg.Device, Token: token}, wire.TLoginOK, &lok); err != nil {
		return nil, err
	}
	if len(lok.Token) == 0 {
		return nil, fmt.Errorf("%w: login_ok without a token", ErrProtocol)
	}
	return &lok, nil
}

// errSuperseded: a background resume finished after the application
// logged in anew.
var errSuperseded = errors.New("client: session superseded")

// errAdoptedLost: the session was adopted but its connection had closed
// meanwhile; the session loop reconnects with the new token.
var errAdoptedLost = fmt.Errorf("%w: right after the login", ErrConnLost)

// adopt makes the session opened on cn the client's session, and cn the
// current connection. expectGen, when non-zero, is the generation of the
// session being resumed: if it changed meanwhile the result is dropped.
//
// If cn closed after its LoginOK arrived, the session is adopted all the
// same (the server rotated the token: the old one is dead) without a
// connection, the session loop reconnects, and adopt returns
// errAdoptedLost.
func (c *Client) adopt(cn *conn, lok *wire.LoginOK, auth string, expectGen uint64) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return ErrClosed
	}
	if expectGen != 0 && (c.sess == nil || c.sess.gen != expectGen) {
		c.mu.Unlock()
		return errSuperseded
	}
	lost := cn.closed()
	old := c.cur
	if old != cn {
		if old != nil {
			old.retiring.Store(true)
		}
		if lost {
			c.cur = nil
		} else {
			c.install(cn)
		}
	}
	hb := time.Duration(lok.HeartbeatMS) * time.Millisecond
	if hb <= 0 {
		hb = time.Duration(cn.welcome.HeartbeatMS) * time.Millisecond
	}
	if hb <= 0 {
		hb = 30 * time.Second
	}
	user := lok.User
	if user == "" && c.sess != nil {
		user = c.sess.user
	}
	var role wire.RoleRef
	if auth == "resume" && c.sess != nil {
		role = c.sess.role // picked again on cn (resumeSession)
	}
	c.gen++
	c.sess = &session{
		user: user, device: c.cfg.Device, token: append([]byte(nil), lok.Token...),
		heartbeat: hb, epoch: lok.Epoch, auth: auth, authAt: time.Now(), gen: c.gen, role: role,
	}
	c.in.start(user, lok.Cursor, !c.cfg.SkipInbox)
	c.startGroupsLocked(!c.cfg.SkipInbox && !c.cfg.SkipGroups)
	c.broadcastLocked()
	if !lost {
		cn.sessAt.Store(time.Now().UnixNano())
		cn.keeperOnce.Do(func() {
			c.goFuncLocked(func() { cn.keeper(hb) })
		})
	}
	c.mu.Unlock()
	if old != nil && old != cn {
		old.close(errors.New("replaced by a new session"))
	}
	c.wakeLoop()
	if lost {
		return errAdoptedLost
	}
	return nil
}

// Logout ends the session: the token stops working and the server closes
// the connection (the client reconnects on the next request).
func (c *Client) Logout(ctx context.Context) error {
	return c.endingCall(ctx, wire.TLogout, wire.CodeLoggedOut)
}

// endingCall sends a request after which the server ends the session and
// closes the connection (logout, account deletion). A goodbye with the
// code bye, when the reply itself is lost, counts as success: the server
// said it is done.
func (c *Client) endingCall(ctx context.Context, t wire.Type, bye wire.Code) error {
	rctx, cancel := c.withTimeout(ctx)
	defer cancel()
	cn, err := c.getConn(rctx)
	if err != nil {
		return timeoutCause(ctx, rctx, err)
	}
	c.flushAck(cn)
	cn.expectBye.Store(true)
	err = cn.roundTrip(rctx, t, &wire.Empty{}, wire.TOK, nil)
	if err != nil && errors.Is(err, ErrConnLost) && wire.Code(cn.byeCode.Load()) == bye {
		err = nil
	}
	if err != nil {
		cn.expectBye.Store(false)
		if cn.closed() {
			c.wakeLoop() // it died meanwhile: let the session loop reconnect
		}
		return timeoutCause(ctx, rctx, err)
	}
	c.mu.Lock()
	if c.cur == cn {
		c.cur = nil // the server closes it; the next request redials
		if c.sess != nil {
			c.endSessionLocked()
		}
		c.broadcastLocked()
	}
	c.in.forget()
	c.forgetGroupsLocked()
	c.mu.Unlock()
	cn.close(errors.New("session ended"))
	return nil
}

// ChangePassword replaces the password. The server wants a password login
// within the last few minutes, so when old is not empty the client first
// logs in again with it (this also checks it); with old empty it tries
// with the current session and may get ErrReauth. Every other session of
// the user ends (they get a password_changed goodbye).
func (c *Client) ChangePassword(ctx context.Context, old, new string) error {
	user := c.User()
	if user == "" {
		return ErrNotLoggedIn
	}
	if old != "" {
		if err := c.Login(ctx, user, old); err != nil {
			return err
		}
	}
	creds, err := DeriveCredentials(user, new, c.scramIters())
	if err != nil {
		return err
	}
	return c.call(ctx, wire.TChangePassword, &wire.ChangePassword{Credentials: creds}, wire.TOK, nil)
}

// DeleteAccount deletes the account and ends the session. Like
// ChangePassword it needs a recent password login: with password not
// empty the client logs in again with it first.
func (c *Client) DeleteAccount(ctx context.Context, password string) error {
	user := c.User()
	if user == "" {
		return ErrNotLoggedIn
	}
	if password != "" {
		if err := c.Login(ctx, user, password); err != nil {
			return err
		}
	}
	return c.endingCall(ctx, wire.TDeleteAccount, wire.CodeAccountDeleted)
}

// scramIters is the iteration count new credentials use.
func (c *Client) scramIters() uint32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cur != nil && c.cur.welcome.ScramIters > MinScramIters {
		return c.cur.welcome.ScramIters
	}
	return MinScramIters
}
