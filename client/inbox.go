package client

import (
	"context"
	"errors"
	"time"

	"github.com/roamhq/roam/wire"
)

// inbox is the client's view of the user's inbox stream. It is guarded by
// Client.mu and changed by pushes (reader), syncs (session loop) and the
// dispatcher (handed).
//
// Invariants: acked <= handed <= last. Messages with seq <= last have been
// queued for the application (or expired); a message is queued only if its
// seq is last+1 or it comes from a sync, so the application sees each seq
// once and in order.
type inbox struct {
	id      uint64 // changes when the inbox changes owner (another user)
	user    string // whose inbox this is
	last    uint64 // highest seq queued (or known expired)
	handed  uint64 // highest seq the application has received
	acked   uint64 // highest seq sent in an Ack
	floor   uint64 // SetCursor: applied at the next login
	unacked int    // messages handed since the last Ack
	want    bool   // a sync is needed
	syncing bool   // a sync is running
	dropped uint64 // highest pushed seq dropped while a sync was due
	fails   int    // consecutive failed sync attempts
	limit   uint32 // Sync.limit to ask for; 0 is the server's maximum
}

// start prepares the inbox for a new session of user whose cursor at the
// server is cursor.
func (in *inbox) start(user string, cursor uint64, want bool) {
	if in.user != user {
		in.id++
		in.user = user
		in.last, in.handed = 0, 0
	}
	from := max(cursor, in.floor)
	in.floor = 0
	if from > in.last {
		in.last = from
	}
	if from > in.handed {
		in.handed = from
	}
	in.acked = cursor
	in.unacked = 0
	in.want = want
	in.syncing = false
	in.dropped = 0
	in.fails = 0
	in.limit = 0
}

// forget drops the inbox state after a logout or account deletion.
func (in *inbox) forget() {
	in.id++
	in.user = ""
	in.last, in.handed, in.acked = 0, 0, 0
	in.want, in.syncing = false, false
}

// SetCursor sets the inbox cursor the next Login or Resume starts from:
// messages with seq <= cursor are not delivered. Use it to continue from a
// cursor saved by an earlier process (Cursor). The server's own cursor for
// the device is used when it is higher.
func (c *Client) SetCursor(cursor uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.in.floor = cursor
}

// Cursor returns the highest inbox sequence number the application has
// received from Events (0 before any). Save it with the token to continue
// later (SetCursor).
func (c *Client) Cursor() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.in.handed
}

func toMessage(m *wire.Message) Message {
	return Message{
		Seq: m.Seq, ID: m.ID, From: m.From, FromDevice: m.FromDevice, Body: m.Body,
		Sent: time.UnixMilli(m.SentMS), Expires: time.UnixMilli(m.ExpiresMS),
	}
}

// queueMessageLocked hands a message to the dispatcher.
func (c *Client) queueMessageLocked(m *wire.Message) {
	c.queue.push(queued{ev: Event{Kind: EventMessage, Message: toMessage(m)}, inbox: c.in.id})
}

// onMessage handles a pushed message (on the reader of cn).
func (c *Client) onMessage(cn *conn, m *wire.Message) {
	c.mu.Lock()
	defer c.mu.Unlock()
	in := &c.in
	switch {
	case c.cur != cn || c.sess == nil:
	case m.Seq <= in.last:
		// Already delivered (or a push racing a sync): drop.
	case in.syncing || in.want:
		// A sync is due and will return it; remember it so that a sync
		// that ended before it was committed is repeated.
		in.dropped = max(in.dropped, m.Seq)
	case m.Seq == in.last+1:
		in.last = m.Seq
		c.queueMessageLocked(m)
	default:
		// A gap: read the inbox from the last delivered message.
		in.dropped = max(in.dropped, m.Seq)
		in.want = true
		c.wakeLoopLocked()
	}
}

func (c *Client) wakeLoopLocked() { c.wakeLoop() }

// maxQueuedSync bounds the synced messages waiting for the application:
// the sync asks for the next page only once fewer are queued, so a huge
// backlog flows through in pages instead of piling up in memory.
const maxQueuedSync = 1024

// syncInbox reads the inbox after the last delivered message until the
// server says there is no more (on the session loop). Pushes start at the
// server once a sync has completed.
//
// Pages are bounded by the server to fit Config.MaxFrame (announced in
// Hello). A page that does not fit anyway (a server that ignores the
// announcement) fails with ErrFrameTooLarge and is asked again with a
// count small enough for full-size messages.
func (c *Client) syncInbox() {
	c.mu.Lock()
	cn, s := c.cur, c.sess
	if cn == nil || s == nil || !c.in.want || c.in.syncing {
		c.mu.Unlock()
		return
	}
	c.in.want = false
	c.in.syncing = true
	after := c.in.last
	c.mu.Unlock()

	for {
		if !c.waitQueue(cn) {
			c.mu.Lock()
			if c.sess == s {
				c.in.syncing = false
				c.in.want = true
			}
			c.mu.Unlock()
			return // the connection or the client closed; a reconnect syncs again
		}
		c.mu.Lock()
		limit := c.in.limit
		c.mu.Unlock()
		ctx, cancel := context.WithTimeoutCause(c.ctx, c.cfg.RequestTimeout, ErrTimeout)
		var r wire.SyncReply
		err := cn.roundTrip(ctx, wire.TSync, &wire.Sync{After: after, Limit: limit}, wire.TSyncReply, &r)
		err = timeoutCause(c.ctx, ctx, err)
		cancel()

		c.mu.Lock()
		if c.cur != cn || c.sess != s {
			// The connection or session changed: whoever replaced it
			// syncs again.
			if c.sess == s {
				c.in.syncing = false
			}
			c.mu.Unlock()
			return
		}
		in := &c.in
		if err == nil && r.More && r.Next <= after+1 && len(r.Messages) == 0 {
			err = errors.New("client: sync made no progress")
		}
		if safe := c.safeSyncLimit(cn); errors.Is(err, ErrFrameTooLarge) && in.limit != safe {
			in.limit = safe
			c.mu.Unlock()
			c.log.Warn("sync page larger than MaxFrame; asking for smaller pages", "limit", safe, "err", err)
			continue
		}
		if err != nil {
			in.syncing = false
			in.want = true
			in.fails++
			fails := in.fails
			c.mu.Unlock()
			if cn.closed() || c.ctx.Err() != nil {
				return // the reconnect syncs again
			}
			c.log.Warn("inbox sync failed", "err", err, "attempt", fails)
			wait := c.backoff(fails - 1)
			var e *Error
			if errors.As(err, &e) && e.RetryAfter > wait {
				wait = e.RetryAfter
			}
			if c.sleep(c.ctx, wait) != nil {
				return
			}
			c.wakeLoop()
			return
		}
		in.fails = 0
		for i := range r.Messages {
			m := &r.Messages[i]
			if m.Seq > in.last {
				in.last = m.Seq
				c.queueMessageLocked(m)
			}
		}
		if r.Next > 0 && r.Next-1 > in.last {
			in.last = r.Next - 1 // expired messages
		}
		if r.Next > 0 {
			after = r.Next - 1
		} else {
			after = in.last
		}
		if !r.More {
			in.syncing = false
			if in.dropped > in.last {
				in.want = true // a push arrived that this sync did not return
				in.dropped = 0
			} else {
				c.queue.push(queued{ev: Event{Kind: EventSynced, Cursor: in.last}})
			}
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
	}
}

// waitQueue waits until fewer than maxQueuedSync messages wait for the
// application; false if cn or the client closed meanwhile.
func (c *Client) waitQueue(cn *conn) bool {
	for c.queue.messages() >= maxQueuedSync {
		select {
		case <-c.queue.drained:
		case <-cn.done:
			return false
		case <-c.done:
			return false
		}
	}
	return !cn.closed()
}

// safeSyncLimit is a Sync.limit whose page fits MaxFrame even with
// messages of the full max_body, for servers that do not cut pages by
// size (each message takes at most max_body + 188 bytes in a page,
// PROTOCOL.md §9.2).
func (c *Client) safeSyncLimit(cn *conn) uint32 {
	body := int(cn.welcome.MaxBody)
	if body <= 0 {
		body = 1440
	}
	return uint32(max((c.cfg.MaxFrame-64)/(body+200), 1))
}

// handed records that the application received message seq of inbox id,
// and schedules an Ack.
func (c *Client) handed(id, seq uint64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	in := &c.in
	if id != in.id || seq <= in.handed {
		return
	}
	in.handed = seq
	in.unacked++
	c.scheduleAckLocked(in.unacked)
}

// scheduleAckLocked arranges for the acknowledgements to be sent: at once
// when pending (the entries of one stream handed since its last
// acknowledgement) reaches AckBatch, else within AckInterval.
func (c *Client) scheduleAckLocked(pending int) {
	if pending >= c.cfg.AckBatch {
		if c.cur != nil {
			c.cur.kickAck()
		}
		return
	}
	if c.ackArmed {
		return
	}
	c.ackArmed = true
	if c.ackTimer == nil {
		c.ackTimer = time.AfterFunc(c.cfg.AckInterval, c.ackTimerFired)
	} else {
		c.ackTimer.Reset(c.cfg.AckInterval)
	}
}

func (c *Client) ackTimerFired() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.ackArmed = false
	if c.cur != nil && !c.closed {
		c.cur.kickAck()
	}
}

// flushAck sends the acknowledgement cursors on cn that moved: the
// inbox's (Ack) and each group's (GroupAck).
func (c *Client) flushAck(cn *conn) {
	c.mu.Lock()
	in := &c.in
	if c.cur != cn || c.sess == nil {
		c.mu.Unlock()
		return
	}
	var seq uint64
	if in.handed > in.acked {
		seq = in.handed
		in.acked = seq
		in.unacked = 0
	}
	gacks := c.groupAcksLocked()
	c.mu.Unlock()
	if seq > 0 {
		if err := cn.send(wire.TAck, cn.nextRID(), &wire.Ack{Seq: seq}); err != nil {
			c.log.Debug("ack not sent", "seq", seq, "err", err)
			// The next session's start() resets acked to the server's cursor,
			// so the ack is sent again after the reconnect.
		}
	}
	for i, a := range gacks {
		if err := cn.send(wire.TGroupAck, cn.nextRID(), &a); err != nil {
			c.log.Debug("group ack not sent", "group", a.Group, "seq", a.Seq, "err", err)
			c.mu.Lock()
			c.groupAckFailedLocked(gacks[i:])
			c.mu.Unlock()
			return
		}
	}
}
