package vlr

import (
	"context"

	"github.com/roamhq/roam/hlr"
	"github.com/roamhq/roam/wire"
)

// revokeWith ends a revoked session's connection: what is queued for the
// client and not yet being written is dropped (a revoked session receives
// nothing more), then the goodbye is written and the connection closes.
func (c *conn) revokeWith(code wire.Code, msg string) {
	c.out.discardAndClose(func(dst []byte) []byte {
		out, err := wire.AppendFrame(dst, wire.TGoodbye, 0, &wire.Goodbye{Code: code, Message: msg})
		if err != nil {
			return dst
		}
		return out
	})
}

// discardAndClose drops everything queued and not yet taken by a write,
// queues a final frame (not held to the budget, like closeAfter's) and
// closes the connection once it is written.
func (q *outQueue) discardAndClose(encode func([]byte) []byte) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed || q.closing {
		return
	}
	if q.w == nil {
		q.closed = true
		q.raw.Close()
		return
	}
	// acct counts buf and the write in progress; only buf goes.
	n := min(len(q.buf), q.acct)
	q.acct -= n
	q.size.Store(int64(q.acct))
	q.budget.release(n)
	q.buf = encode(q.buf[:0])
	q.closing = true
	if len(q.buf) == 0 {
		q.closed = true
		q.raw.Close()
		return
	}
	q.startLocked()
}

// leaseGated reports whether a logged-in session's request of type t
// waits for a fresh lease. Heartbeats, acks and logout never wait; a sync
// is checked by the leader itself (its inbox read is session-bound), and a
// send waits in its own goroutine (conn_messages.go), so that a renewal
// never holds up the reader behind it.
func leaseGated(t wire.Type) bool {
	switch t {
	case wire.TPing, wire.TAck, wire.TLogout, wire.TSync, wire.TSend, wire.TGroupSend, wire.TGroupAck, wire.TSceneMove, wire.TSceneLeave:
		return false
	}
	return true
}

// attachCursor reads the device's cursor for a session being attached, as
// a session-bound read: it grants the session's first lease, or refuses a
// session the leader no longer holds valid.
func (c *conn) attachCursor(s *session) (*hlr.Answer, error) {
	srv := c.srv
	ctx, cancel := context.WithTimeout(srv.ctx, srv.cfg.RequestTimeout)
	defer cancel()
	sent := srv.cfg.Now()
	ans, err := srv.home.Query(ctx, hlr.Query{Kind: hlr.QueryCursor, User: s.user, Device: s.device, Epoch: s.epoch, Node: srv.cfg.NodeID, CredGen: s.credGen})
	switch {
	case err != nil:
		return nil, err
	case ans.Revoked == hlr.NotYet:
		return nil, refusef(wire.CodeUnavailable, "the home register has not caught up with this login yet; try again")
	case ans.Revoked != "":
		return nil, refusef(reasonCode(ans.Revoked), "session ended: "+ans.Revoked)
	}
	s.lease.grant(sent)
	return ans, nil
}
