package vlr

import (
	"context"
	"strconv"
	"time"

	"github.com/roamhq/roam/hlr"
	"github.com/roamhq/roam/wire"
)

// Friends, 1:1 messages and inbox sync.

func (c *conn) friendOp(t wire.Type, p *wire.Peer) (wire.Type, any, error) {
	me := c.sess.user
	peer, ok := canonicalName(p.User)
	if !ok || peer == me {
		// No such account can exist (or it is the caller): the same
		// answer as for any other refusal.
		return 0, nil, refuse(wire.CodeRefused)
	}
	if t == wire.TBlock || t == wire.TUnblock {
		if err := c.limited(c.srv.limits.block, me, "too many blocks and unblocks; try later"); err != nil {
			return 0, nil, err
		}
	} else if err := c.limited(c.srv.limits.friend, me, "too many friend requests and changes; try later"); err != nil {
		return 0, nil, err
	}
	var cmd hlr.Cmd
	switch t {
	case wire.TFriendRequest:
		// A user who blocked the peer must unblock first; otherwise the
		// peer could accept into a friendship the asker still blocks.
		ans, err := c.query(hlr.Query{Kind: hlr.QueryEdge, User: me, Peer: peer, Linear: true})
		if err != nil {
			return 0, nil, err
		}
		if ans.Edge == hlr.EdgeBlocked {
			return 0, nil, refusef(wire.CodeRefused, "you blocked this user; unblock first")
		}
		// Applied in the peer's home partition, and answered the same
		// whether the peer exists, has blocked us or neither: the request
		// then shows as outgoing on our side, written by the peer
		// partition's outbox in every case (PROTOCOL.md §7).
		cmd = hlr.Cmd{Op: hlr.OpFriendRequest, User: peer, Peer: me}
	case wire.TFriendAccept:
		cmd = hlr.Cmd{Op: hlr.OpFriendAccept, User: me, Peer: peer}
	case wire.TFriendDecline:
		cmd = hlr.Cmd{Op: hlr.OpFriendDecline, User: me, Peer: peer}
	case wire.TFriendRemove:
		cmd = hlr.Cmd{Op: hlr.OpFriendRemove, User: me, Peer: peer}
	case wire.TBlock:
		// Blocking a name without an account answers ok and stores
		// nothing (PROTOCOL.md §7): a flood of made-up names must not
		// grow the caller's state. MaxBlocks bounds the real ones.
		ans, err := c.query(hlr.Query{Kind: hlr.QueryAccount, User: peer})
		if err != nil {
			return 0, nil, err
		}
		if ans.Account == nil {
			// Answer as a block of an existing name would, bound included.
			fr, err := c.query(hlr.Query{Kind: hlr.QueryFriends, User: me})
			if err != nil {
				return 0, nil, err
			}
			if fr.Friends != nil && len(fr.Friends.Blocked) >= c.srv.cfg.MaxBlocks {
				return 0, nil, refusef(wire.CodeRefused, "too many blocked users; unblock some first")
			}
			return wire.TOK, okBody, nil
		}
		cmd = hlr.Cmd{Op: hlr.OpBlock, User: me, Peer: peer, Limit: c.srv.cfg.MaxBlocks}
	case wire.TUnblock:
		cmd = hlr.Cmd{Op: hlr.OpUnblock, User: me, Peer: peer}
	}
	res, err := c.exec(cmd)
	if err != nil {
		return 0, nil, err
	}
	switch res.Status {
	case hlr.StatusOK:
	case hlr.StatusNoRequest:
		return 0, nil, refuse(wire.CodeNoRequest)
	case hlr.StatusRefused:
		if t == wire.TBlock {
			return 0, nil, refusef(wire.CodeRefused, "too many blocked users; unblock some first")
		}
		return 0, nil, refuse(wire.CodeRefused)
	default:
		return 0, nil, refuse(wire.CodeRefused)
	}
	switch t {
	case wire.TFriendAccept:
		c.srv.reg.friendAdded(me, peer)
	case wire.TFriendRemove, wire.TBlock:
		c.srv.reg.friendRemoved(me, peer)
	}
	return wire.TOK, okBody, nil
}

func (c *conn) friendList() (wire.Type, any, error) {
	ans, err := c.query(hlr.Query{Kind: hlr.QueryFriends, User: c.sess.user, Linear: true})
	if err != nil {
		return 0, nil, err
	}
	out := &wire.Friends{Friends: []wire.Friend{}, Incoming: []string{}, Outgoing: []string{}, Blocked: []string{}}
	if fs := ans.Friends; fs != nil {
		for _, f := range fs.Friends {
			out.Friends = append(out.Friends, wire.Friend{User: f, Status: c.srv.reg.statusOf(f)})
		}
		out.Incoming = append(out.Incoming, fs.Incoming...)
		out.Outgoing = append(out.Outgoing, fs.Outgoing...)
		out.Blocked = append(out.Blocked, fs.Blocked...)
	}
	return wire.TFriends, out, nil
}

// checkMessage checks a message's body, cmid and TTL (ttlMS 0: the
// default) and returns the TTL, or the refusal.
func (c *conn) checkMessage(body []byte, cmid uint64, ttlMS uint32) (time.Duration, error) {
	cfg := &c.srv.cfg
	if len(body) > cfg.MaxBody {
		return 0, refusef(wire.CodeTooLarge, "message body is limited to "+strconv.Itoa(cfg.MaxBody)+" bytes")
	}
	if len(body) == 0 || cmid == 0 {
		return 0, refusef(wire.CodeBadRequest, "a message needs a body and a non-zero cmid")
	}
	ttl := time.Duration(ttlMS) * time.Millisecond
	if ttl == 0 {
		ttl = cfg.MessageTTL
	}
	if ttl < time.Second || ttl > cfg.MessageTTL {
		return 0, refusef(wire.CodeBadTTL, "ttl_ms must be between 1000 and "+strconv.FormatInt(cfg.MessageTTL.Milliseconds(), 10))
	}
	return ttl, nil
}

// send commits a message from session s (it may run on its own goroutine:
// it reads only s's fixed fields and the server's thread-safe parts).
func (c *conn) send(s *session, m *wire.Send) (wire.Type, any, error) {
	cfg := &c.srv.cfg
	ttl, err := c.checkMessage(m.Body, m.CMID, m.TTLMS)
	if err != nil {
		return 0, nil, err
	}
	to, ok := canonicalName(m.To)
	if !ok {
		return 0, nil, refuse(wire.CodeRefused)
	}
	if ok, wait := c.srv.limits.send.take(s.user, cfg.Now()); !ok {
		return 0, nil, &reqError{code: wire.CodeRateLimited, msg: "sending too fast", retry: wait}
	}
	if err := s.awaitLease(); err != nil { // bounded revocation (lease.go)
		return 0, nil, err
	}
	res, err := c.exec(hlr.Cmd{
		Op: hlr.OpSend, User: to, Peer: s.user, Device: s.device,
		CMID: m.CMID, Body: m.Body, TTLMS: ttl.Milliseconds(),
	})
	if err != nil {
		return 0, nil, err
	}
	if res.Status != hlr.StatusOK {
		return 0, nil, refuse(wire.CodeRefused)
	}
	return wire.TSendAck, &wire.SendAck{ID: res.MsgID, Seq: res.Seq, Dup: res.Dup}, nil
}

// sync reads one page of the inbox for the client. The page is bounded by
// count (Limit, at most hlr.MaxInboxPage) and by size: it never makes a
// frame larger than the connection's outMax (the client's max_frame).
func (c *conn) sync(r *wire.Sync) (wire.Type, any, error) {
	s := c.sess
	limit := int(r.Limit)
	if limit <= 0 || limit > hlr.MaxInboxPage {
		limit = hlr.MaxInboxPage
	}
	budget := syncBudget(c.outMax)
	s.beginSync()
	ans, err := s.homeQuery(hlr.Query{Kind: hlr.QueryInbox, After: r.After, Limit: limit, MaxBytes: budget, Linear: true}) // session-bound: checks the session
	if err != nil || ans.Inbox == nil {
		s.endSync(r.After+1, false)
		if err == nil {
			err = refuse(wire.CodeInternal)
		}
		return 0, nil, err
	}
	out := pageFor(ans.Inbox, r.After, budget)
	s.endSync(out.Next, !out.More)
	return wire.TSyncReply, out, nil
}

// reasonCode maps a Cancel Location reason to the goodbye code.
func reasonCode(reason string) wire.Code {
	switch reason {
	case "password_changed":
		return wire.CodePasswordChanged
	case "account_deleted":
		return wire.CodeAccountDeleted
	case "logged_out":
		return wire.CodeLoggedOut
	}
	return wire.CodeSessionReplaced
}

// flushCursorNow writes the session's cursor before a logout.
func (s *Server) flushCursorNow(sess *session) {
	ctx, cancel := context.WithTimeout(s.ctx, s.cfg.RequestTimeout)
	defer cancel()
	s.flushCursor(ctx, sess)
}
