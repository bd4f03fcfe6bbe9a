package vlr

import (
	"time"

	"github.com/xdg-go/scram"

	"github.com/roamhq/roam/hlr"
	"github.com/roamhq/roam/wire"
)

// Account requests: register, the SCRAM login, resume, logout, profile,
// password change and deletion.

const (
	maxDisplayName = 64
	maxAbout       = 512
)

func (c *conn) register(r *wire.Register) (wire.Type, any, error) {
	if c.loggedIn {
		return 0, nil, refuse(wire.CodeAlreadyLogged)
	}
	user, ok := canonicalName(r.User)
	if !ok {
		return 0, nil, refuse(wire.CodeBadName)
	}
	if !validCreds(&r.Credentials, c.srv.cfg.ScramIters) {
		return 0, nil, refusef(wire.CodeBadRequest, "credentials need a 16-byte salt, exactly the announced scram_iters and 32-byte keys")
	}
	if ok, wait := c.srv.limits.register.take(c.ip, c.srv.cfg.Now()); !ok {
		return 0, nil, &reqError{code: wire.CodeRateLimited, msg: "too many registrations from this address", retry: wait}
	}
	res, err := c.exec(hlr.Cmd{Op: hlr.OpRegister, User: user, Creds: toHLRCreds(&r.Credentials)})
	if err != nil {
		return 0, nil, err
	}
	switch res.Status {
	case hlr.StatusOK:
		return wire.TOK, okBody, nil
	case hlr.StatusExists:
		return 0, nil, refuse(wire.CodeNameTaken)
	}
	return 0, nil, refusef(wire.CodeBadRequest, "registration refused: "+res.Status.String())
}

// limited takes a token of user's bucket in b, or refuses with
// rate_limited and how long to wait.
func (c *conn) limited(b *buckets, key, msg string) error {
	if ok, wait := b.take(key, c.srv.cfg.Now()); !ok {
		return &reqError{code: wire.CodeRateLimited, msg: msg, retry: wait}
	}
	return nil
}

// throttled returns how long password logins for user from this
// connection's address are locked out. Only password logins: resumes have
// their own throttle (resume), so failed passwords, anyone's, never keep a
// device with a valid token out.
func (c *conn) throttled(user string, now time.Time) time.Duration {
	a := c.srv.limits.logins.blocked("ip:"+c.ip, now)
	if b := c.srv.limits.logins.blocked("user:"+user, now); b > a {
		a = b
	}
	return a
}

func (c *conn) loginFailed(user string) {
	now := c.srv.cfg.Now()
	c.srv.limits.logins.fail("ip:"+c.ip, now)
	c.srv.limits.logins.fail("user:"+user, now)
}

func (c *conn) loginStart(r *wire.LoginStart) (wire.Type, any, error) {
	if c.loggedIn {
		return 0, nil, refuse(wire.CodeAlreadyLogged)
	}
	c.login = nil
	user, ok := canonicalName(r.User)
	if !ok {
		// Not a possible account name: say so (no account can have it,
		// so this reveals nothing about which accounts exist).
		return 0, nil, refuse(wire.CodeBadName)
	}
	if !validDevice(r.Device) {
		return 0, nil, refusef(wire.CodeBadRequest, "device must be 1-64 printable ASCII characters without spaces")
	}
	now := c.srv.cfg.Now()
	if wait := c.throttled(user, now); wait > 0 {
		return 0, nil, &reqError{code: wire.CodeRateLimited, msg: "too many failed logins; try later", retry: wait}
	}
	if !checkClientFirst(r.ClientFirst) {
		return 0, nil, refusef(wire.CodeBadRequest, "client_first is not a valid SCRAM client-first-message")
	}
	ls := &loginState{user: user, device: r.Device, started: now}
	var lookupErr error
	lookup := func(name string) (scram.StoredCredentials, error) {
		if n, ok := canonicalName(name); ok && n == user {
			// Linearizable: a read of stale credentials (a new leader
			// before its barrier, a deposed one within its lease) would
			// refuse the new password just after a change was
			// acknowledged. The OpLogin's CredGen check only stops the
			// old password, not this false refusal.
			ans, err := c.query(hlr.Query{Kind: hlr.QueryAccount, User: user, Linear: true})
			if err != nil {
				lookupErr = err
				return scram.StoredCredentials{}, err
			}
			if a := ans.Account; a != nil {
				ls.credGen = a.CredGen
				return scram.StoredCredentials{
					KeyFactors: scram.KeyFactors{Salt: string(a.Salt), Iters: int(a.Iters)},
					StoredKey:  a.StoredKey, ServerKey: a.ServerKey,
				}, nil
			}
		}
		return fakeCreds(c.srv.cfg.FakeSaltSecret, user, c.srv.cfg.ScramIters), nil
	}
	srv, err := scram.SHA256.NewServer(lookup)
	if err != nil {
		return 0, nil, err
	}
	ls.conv = srv.NewConversation()
	first, err := ls.conv.Step(r.ClientFirst)
	if lookupErr != nil {
		return 0, nil, lookupErr
	}
	if err != nil {
		return 0, nil, refusef(wire.CodeBadRequest, "client_first is not a valid SCRAM client-first-message")
	}
	c.login = ls
	return wire.TLoginChallenge, &wire.LoginChallenge{ServerFirst: first}, nil
}

func (c *conn) loginFinish(r *wire.LoginFinish) (wire.Type, any, error) {
	if c.loggedIn {
		return 0, nil, refuse(wire.CodeAlreadyLogged)
	}
	ls := c.login
	c.login = nil
	if ls == nil {
		return 0, nil, refuse(wire.CodeLoginStep)
	}
	now := c.srv.cfg.Now()
	if now.Sub(ls.started) > c.srv.cfg.NonceTTL {
		return 0, nil, refuse(wire.CodeNonceExpired)
	}
	if !checkClientFinal(r.ClientFinal) {
		c.loginFailed(ls.user)
		return 0, nil, refuse(wire.CodeAuthFailed)
	}
	final, err := ls.conv.Step(r.ClientFinal)
	if err != nil || !ls.conv.Valid() || ls.credGen == 0 {
		c.loginFailed(ls.user)
		return 0, nil, refuse(wire.CodeAuthFailed)
	}
	// The proof is valid: whoever this is knows the password, so the
	// user's own login budget is spent (a stranger cannot reach it).
	if err := c.limited(c.srv.limits.login, ls.user, "too many logins for this user; try later"); err != nil {
		return 0, nil, err
	}
	token, hash := newToken()
	here, sent := c.srv.deviceHere(ls.user, ls.device), c.srv.cfg.Now()
	res, err := c.exec(hlr.Cmd{
		Op: hlr.OpLogin, User: ls.user, Device: ls.device, Node: c.srv.cfg.NodeID,
		Token: hash, TTLMS: c.srv.cfg.SessionTTL.Milliseconds(), CredGen: ls.credGen,
		Limit: c.srv.cfg.MaxDevices,
	})
	if err != nil {
		return 0, nil, err
	}
	if res.Status != hlr.StatusOK {
		// The account was deleted or its password changed meanwhile.
		c.loginFailed(ls.user)
		return 0, nil, refuse(wire.CodeAuthFailed)
	}
	c.srv.limits.logins.success("user:" + ls.user)
	// Another session of the device may have attached here meanwhile.
	here = here || c.srv.deviceHere(ls.user, ls.device)
	ok, err := c.attach(ls.user, ls.device, res, hash, "scram", sent, here)
	if err != nil {
		return 0, nil, err
	}
	ok.ServerFinal = final
	ok.Token = token
	return wire.TLoginOK, ok, nil
}

func (c *conn) resume(r *wire.Resume) (wire.Type, any, error) {
	if c.loggedIn {
		return 0, nil, refuse(wire.CodeAlreadyLogged)
	}
	user, ok := canonicalName(r.User)
	if !ok || !validDevice(r.Device) || len(r.Token) != 16 {
		return 0, nil, refuse(wire.CodeSessionInvalid)
	}
	// Resumes have their own throttles. Failed password logins (anyone's,
	// from this address or against this name) never block a resume: a
	// device with a valid token gets in. Failed resumes lock the address
	// out of resumes; successful ones spend the user's resume budget,
	// which is only checked before, so a stranger's made-up tokens cannot
	// use it up.
	now := c.srv.cfg.Now()
	if wait := c.srv.limits.resumes.blocked(c.ip, now); wait > 0 {
		return 0, nil, &reqError{code: wire.CodeRateLimited, msg: "too many failed resumes from this address; try later", retry: wait}
	}
	if ok, wait := c.srv.limits.resume.check(user, now); !ok {
		return 0, nil, &reqError{code: wire.CodeRateLimited, msg: "too many resumes for this user; try later", retry: wait}
	}
	token, hash := rotateToken(c.srv.cfg.TokenSecret, r.Token)
	here, sent := c.srv.deviceHere(user, r.Device), c.srv.cfg.Now()
	res, err := c.exec(hlr.Cmd{
		Op: hlr.OpResume, User: user, Device: r.Device, Node: c.srv.cfg.NodeID,
		Token: hashToken(r.Token), NewToken: hash, TTLMS: c.srv.cfg.SessionTTL.Milliseconds(),
		Limit: c.srv.cfg.MaxDevices, TryMS: now.UnixMilli(),
	})
	if err != nil {
		return 0, nil, err
	}
	if res.Status == hlr.StatusStale {
		// A later attempt of this resume, elsewhere, holds the session:
		// the client left this one (it is not waiting here any more, or
		// it may try again, which is then the latest).
		return 0, nil, refusef(wire.CodeUnavailable, "a later attempt of this resume holds the session; try again")
	}
	if res.Status != hlr.StatusOK {
		c.srv.limits.resumes.fail(c.ip, c.srv.cfg.Now())
		return 0, nil, refuse(wire.CodeSessionInvalid)
	}
	c.srv.limits.resume.spend(user, c.srv.cfg.Now())
	here = here || c.srv.deviceHere(user, r.Device) // one may have attached meanwhile
	lok, err := c.attach(user, r.Device, res, hash, "resume", sent, here)
	if err != nil {
		return 0, nil, err
	}
	lok.Token = token
	return wire.TLoginOK, lok, nil
}

// attach makes the connection's session live, for the login or resume
// that res answered (its command sent at sent): it needs the friend list
// and the device's cursor, and the session's lease starts from a contact
// with the home register that saw the session valid. The leader's answer
// carries all of that (res.Login, read right after the command), unless
// another session of this device is on this node (here): its last cursor
// write may land after the command, so the cursor is read after that
// session's teardown (ending.go), as is the friend list, with a
// session-bound read (the leader checks the session first). A login
// cancelled before it attaches (its Cancel Location already here, or the
// leader's records already moved on) is refused with the cancellation's
// code.
func (c *conn) attach(user, device string, res hlr.Result, tokenHash []byte, auth string, sent time.Time, here bool) (*wire.LoginOK, error) {
	now := c.srv.cfg.Now()
	s := &session{c: c, user: user, device: device, epoch: res.Epoch, credGen: res.CredGen, token: tokenHash, auth: auth, authAt: now, since: now}
	var fs *hlr.FriendSet
	var cursor uint64
	if lv := res.Login; lv != nil && !here && lv.Revoked != hlr.NotYet {
		if lv.Revoked != "" {
			return nil, refusef(reasonCode(lv.Revoked), "session ended: "+lv.Revoked)
		}
		s.lease.grant(sent)
		fs, cursor = lv.Friends, lv.Cursor
	} else {
		fr, err := c.query(hlr.Query{Kind: hlr.QueryFriends, User: user})
		if err != nil {
			return nil, err
		}
		// An old session of this device that is still writing its last
		// cursor here goes first (see ending.go).
		c.srv.waitEnding(user, device, c.srv.cfg.RequestTimeout)
		cur, err := c.attachCursor(s)
		if err != nil {
			return nil, err
		}
		fs, cursor = fr.Friends, cur.Cursor
	}
	s.acked, s.flushed = cursor, cursor
	var friends []string
	if fs != nil {
		friends = fs.Friends
	}
	if reason := c.srv.reg.attach(s, friends, c.srv.cfg.Now()); reason != "" {
		return nil, refusef(reasonCode(reason), "session ended: "+reason)
	}
	c.sess = s
	c.loggedIn = true
	return &wire.LoginOK{
		User: user, Device: device, Epoch: res.Epoch, Cursor: cursor,
		HeartbeatMS: uint32(c.srv.cfg.HeartbeatInterval / time.Millisecond),
	}, nil
}

func (c *conn) logout() (wire.Type, any, error) {
	s := c.sess
	c.srv.flushCursorNow(s)
	if _, err := c.exec(hlr.Cmd{Op: hlr.OpLogout, User: s.user, Device: s.device, Token: s.token, Epoch: s.epoch}); err != nil {
		return 0, nil, err
	}
	c.ended = true
	return wire.TOK, okBody, nil
}

func (c *conn) getProfile(r *wire.GetProfile) (wire.Type, any, error) {
	user := c.sess.user
	if r.User != "" {
		u, ok := canonicalName(r.User)
		if !ok {
			return 0, nil, refuse(wire.CodeRefused)
		}
		if u != user {
			ans, err := c.query(hlr.Query{Kind: hlr.QueryEdge, User: user, Peer: u, Linear: true})
			if err != nil {
				return 0, nil, err
			}
			if ans.Edge != hlr.EdgeFriend {
				return 0, nil, refuse(wire.CodeRefused)
			}
		}
		user = u
	}
	ans, err := c.query(hlr.Query{Kind: hlr.QueryAccount, User: user, Linear: true})
	if err != nil {
		return 0, nil, err
	}
	a := ans.Account
	if a == nil {
		return 0, nil, refuse(wire.CodeRefused)
	}
	return wire.TProfile, &wire.Profile{User: a.User, DisplayName: a.DisplayName, About: a.About, CreatedMS: a.CreatedMS}, nil
}

func (c *conn) setProfile(r *wire.SetProfile) (wire.Type, any, error) {
	if r.DisplayName != nil && len(*r.DisplayName) > maxDisplayName || r.About != nil && len(*r.About) > maxAbout {
		return 0, nil, refusef(wire.CodeBadRequest, "display_name is limited to 64 bytes and about to 512")
	}
	if err := c.limitProfile(); err != nil {
		return 0, nil, err
	}
	res, err := c.exec(hlr.Cmd{Op: hlr.OpSetProfile, User: c.sess.user, Name: r.DisplayName, About: r.About})
	if err != nil {
		return 0, nil, err
	}
	if res.Status != hlr.StatusOK {
		return 0, nil, refuse(wire.CodeSessionInvalid)
	}
	return wire.TOK, okBody, nil
}

// limitProfile spends a token of the user's profile-change budget
// (set_profile, change_password, delete_account).
func (c *conn) limitProfile() error {
	return c.limited(c.srv.limits.profile, c.sess.user, "too many profile changes; try later")
}

// recentAuth checks that the session comes from a password login within
// RecentAuth.
func (c *conn) recentAuth() error {
	s := c.sess
	if s.auth != "scram" || c.srv.cfg.Now().Sub(s.authAt) > c.srv.cfg.RecentAuth {
		return refuse(wire.CodeReauth)
	}
	return nil
}

func (c *conn) changePassword(r *wire.ChangePassword) (wire.Type, any, error) {
	if err := c.recentAuth(); err != nil {
		return 0, nil, err
	}
	if !validCreds(&r.Credentials, c.srv.cfg.ScramIters) {
		return 0, nil, refusef(wire.CodeBadRequest, "credentials need a 16-byte salt, exactly the announced scram_iters and 32-byte keys")
	}
	if err := c.limitProfile(); err != nil {
		return 0, nil, err
	}
	s := c.sess
	res, err := c.exec(hlr.Cmd{Op: hlr.OpSetCreds, User: s.user, Device: s.device, Token: s.token, Creds: toHLRCreds(&r.Credentials)})
	if err != nil {
		return 0, nil, err
	}
	if res.Status != hlr.StatusOK {
		return 0, nil, refuse(wire.CodeSessionInvalid)
	}
	// Other sessions of this device elsewhere were cancelled by the home
	// register; other local sessions of the user end here too.
	for _, o := range c.srv.reg.all() {
		if o.user == s.user && o != s {
			o.end()
			o.c.kick(wire.CodePasswordChanged, "the password was changed")
		}
	}
	return wire.TOK, okBody, nil
}

func (c *conn) deleteAccount() (wire.Type, any, error) {
	if err := c.recentAuth(); err != nil {
		return 0, nil, err
	}
	if err := c.limitProfile(); err != nil {
		return 0, nil, err
	}
	s := c.sess
	res, err := c.exec(hlr.Cmd{Op: hlr.OpDeleteAccount, User: s.user, Device: s.device})
	if err != nil {
		return 0, nil, err
	}
	if res.Status != hlr.StatusOK {
		return 0, nil, refuse(wire.CodeSessionInvalid)
	}
	c.ended = true
	for _, o := range c.srv.reg.all() {
		if o.user == s.user && o != s {
			o.end()
			o.c.kick(wire.CodeAccountDeleted, "the account was deleted")
		}
	}
	return wire.TOK, okBody, nil
}
