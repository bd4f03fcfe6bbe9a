package client

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/roamhq/roam/wire"
)

// Ack acknowledges a durable send: the message is committed in the
// recipient's home register.
type Ack struct {
	ID   uint64 // cluster-unique message id
	Seq  uint64 // position in the recipient's inbox
	Dup  bool   // a retry of a message the server already had
	CMID uint64 // the client message id the send used
}

// SendOption changes one Send.
type SendOption func(*wire.Send)

// WithTTL sets the message's lifetime (the server's default, one day,
// otherwise). It is rounded up to a millisecond.
func WithTTL(d time.Duration) SendOption {
	return func(s *wire.Send) {
		ms := (d + time.Millisecond - 1) / time.Millisecond
		if ms > 1<<32-1 {
			ms = 1<<32 - 1
		}
		if ms < 0 {
			ms = 0
		}
		s.TTLMS = uint32(ms)
	}
}

// WithCMID sets the client message id instead of taking the next one.
// Use it to resend, from another process, a message whose outcome is
// unknown: the server deduplicates on (user, device, cmid).
func WithCMID(cmid uint64) SendOption {
	return func(s *wire.Send) { s.CMID = cmid }
}

// NextCMID returns a fresh client message id. Ids start from the clock in
// nanoseconds and increase by one, so that separate processes of one
// device do not collide.
func (c *Client) NextCMID() uint64 {
	for {
		if id := c.cmid.Add(1); id != 0 {
			return id
		}
	}
}

// Send sends body to a friend and returns once the message is durable.
//
// When an attempt gets no reply in RequestTimeout, loses the connection
// or is answered unavailable/internal, Send tries again with the same
// client message id (after reconnecting and resuming if needed), so the
// server acknowledges a message it already has as a duplicate instead of
// delivering it twice. After MaxSendAttempts attempts it returns an error
// matching ErrBusy. Refusals (ErrRefused: not a friend, ErrTooLarge,
// ErrBadTTL, ErrRateLimited with RetryAfter, ...) are returned at once.
func (c *Client) Send(ctx context.Context, to string, body []byte, opts ...SendOption) (Ack, error) {
	req := wire.Send{To: canonicalUser(to), Body: body}
	for _, o := range opts {
		o(&req)
	}
	if req.CMID == 0 {
		req.CMID = c.NextCMID()
	}
	if lim := c.maxBody(); lim > 0 && len(body) > lim {
		return Ack{}, &Error{Code: wire.CodeTooLarge, Message: "message body is limited to " + strconv.Itoa(lim) + " bytes"}
	}
	var last error
	for attempt := 1; ; attempt++ {
		var a wire.SendAck
		err := c.call(ctx, wire.TSend, &req, wire.TSendAck, &a)
		if err == nil {
			return Ack{ID: a.ID, Seq: a.Seq, Dup: a.Dup, CMID: req.CMID}, nil
		}
		if ctx.Err() != nil || errors.Is(err, ErrClosed) || !retryable(err) {
			return Ack{}, err
		}
		last = err
		if attempt >= c.cfg.MaxSendAttempts {
			return Ack{}, fmt.Errorf("%w (cmid %d, %d attempts): %w", ErrBusy, req.CMID, attempt, last)
		}
		c.log.Debug("send failed; retrying", "cmid", req.CMID, "attempt", attempt, "err", err)
		if err := c.sleep(ctx, c.backoff(attempt-1)); err != nil {
			return Ack{}, err
		}
	}
}

// maxBody is the body limit the server announced (0 if unknown).
func (c *Client) maxBody() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cur == nil {
		return 0
	}
	return int(c.cur.welcome.MaxBody)
}
