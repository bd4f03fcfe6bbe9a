package client

import (
	"context"
	"crypto/rand"
	"encoding/binary"
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

// DefaultTTL is the message lifetime the server applies when Send has no
// WithTTL (PROTOCOL.md §9.1); Send's retries stop within it.
const DefaultTTL = 24 * time.Hour

// SendOption changes one Send.
type SendOption func(*sendArgs)

// sendArgs is one Send's request and options.
type sendArgs struct {
	req   wire.Send
	first time.Time // WithFirstAttempt
}

// WithTTL sets the message's lifetime (the server's default, DefaultTTL,
// otherwise). It is rounded up to a millisecond.
func WithTTL(d time.Duration) SendOption {
	return func(a *sendArgs) {
		ms := (d + time.Millisecond - 1) / time.Millisecond
		if ms > 1<<32-1 {
			ms = 1<<32 - 1
		}
		if ms < 0 {
			ms = 0
		}
		a.req.TTLMS = uint32(ms)
	}
}

// WithCMID sets the client message id instead of taking the next one.
// Use it to resend a message whose outcome is unknown (a *SendError's
// CMID, or one saved by an earlier process): the server deduplicates on
// (user, device, cmid). Pass WithFirstAttempt too.
func WithCMID(cmid uint64) SendOption {
	return func(a *sendArgs) { a.req.CMID = cmid }
}

// WithFirstAttempt says that the message was first sent at t (a
// *SendError's First): Send is a retry, and makes no attempt once the
// message's TTL since t has (nearly) passed, returning ErrTTLPassed.
// Without it, a Send counts the TTL from its own first attempt.
func WithFirstAttempt(t time.Time) SendOption {
	return func(a *sendArgs) { a.first = t }
}

// NextCMID returns a fresh client message id. Each Client starts at 64
// random bits and counts up by one (skipping 0), so ids never depend on
// the clock and do not repeat after a clock step or a restart: two runs
// of n1 and n2 ids overlap with probability below (n1+n2)/2^64, and the
// server only compares cmids within one TTL (a day). Even a device that
// restarts 10,000 times a day and sends 100,000 messages each time has a
// chance below 1e-5 per year of a repeat.
func (c *Client) NextCMID() uint64 {
	for {
		if id := c.cmid.Add(1); id != 0 {
			return id
		}
	}
}

// randomCMIDBase returns 64 random bits to start the cmids at.
func randomCMIDBase() uint64 {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("client: no randomness for message ids: " + err.Error())
	}
	return binary.BigEndian.Uint64(b[:])
}

// retryMargin is how long before the end of a message's TTL Send stops
// retrying: an attempt sent just before the end could reach the server
// after the original expired (and its cmid with it), and be stored again.
func retryMargin(ttl, requestTimeout time.Duration) time.Duration {
	return min(ttl/10, requestTimeout)
}

// Send sends body to a friend and returns once the message is durable.
//
// When an attempt gets no reply in RequestTimeout, loses the connection
// or is answered unavailable/internal, Send tries again with the same
// client message id (after reconnecting and resuming if needed), so the
// server acknowledges a message it already has as a duplicate instead of
// delivering it twice. After MaxSendAttempts attempts it returns an error
// matching ErrBusy. It never retries once the message's TTL since the
// first attempt has nearly passed (ErrTTLPassed). Refusals (ErrRefused:
// not a friend, ErrTooLarge, ErrBadTTL, ErrRateLimited with RetryAfter,
// ...) are returned at once.
//
// Every error is a *SendError with the cmid and the time of the first
// attempt: to retry later (after ErrBusy, a cancelled context, a restart),
// pass them back with WithCMID and WithFirstAttempt.
func (c *Client) Send(ctx context.Context, to string, body []byte, opts ...SendOption) (Ack, error) {
	args := c.sendArgs(wire.Send{To: canonicalUser(to), Body: body}, opts)
	return c.sendLoop(ctx, &args, wire.TSend, &args.req)
}

// sendArgs applies a send's options to req and gives it a cmid if none
// was set.
func (c *Client) sendArgs(req wire.Send, opts []SendOption) sendArgs {
	args := sendArgs{req: req}
	for _, o := range opts {
		o(&args)
	}
	if args.req.CMID == 0 {
		args.req.CMID = c.NextCMID()
	}
	return args
}

// sendLoop sends body (a TSend or a TGroupSend carrying args.req's cmid,
// body and TTL) with the retry rules of Send: the same cmid on every
// attempt, at most MaxSendAttempts attempts (then ErrBusy), none once the
// message's TTL since the first attempt has nearly passed (ErrTTLPassed);
// every error a *SendError.
func (c *Client) sendLoop(ctx context.Context, args *sendArgs, t wire.Type, body any) (Ack, error) {
	req := &args.req
	retry := !args.first.IsZero()
	first := args.first
	if !retry {
		first = c.now()
	}
	fail := func(attempts int, err error) (Ack, error) {
		return Ack{}, &SendError{CMID: req.CMID, First: first, Attempts: attempts, Err: err}
	}
	if lim := c.maxBody(); lim > 0 && len(req.Body) > lim {
		return fail(0, &Error{Code: wire.CodeTooLarge, Message: "message body is limited to " + strconv.Itoa(lim) + " bytes"})
	}
	ttl := DefaultTTL
	if req.TTLMS > 0 {
		ttl = time.Duration(req.TTLMS) * time.Millisecond
	}
	stop := first.Add(ttl - retryMargin(ttl, c.cfg.RequestTimeout))
	var last error
	for attempt := 1; ; attempt++ {
		if (attempt > 1 || retry) && !c.now().Before(stop) {
			if last != nil {
				return fail(attempt-1, fmt.Errorf("%w (last attempt: %w)", ErrTTLPassed, last))
			}
			return fail(attempt-1, ErrTTLPassed)
		}
		var a wire.SendAck
		err := c.call(ctx, t, body, wire.TSendAck, &a)
		if err == nil {
			return Ack{ID: a.ID, Seq: a.Seq, Dup: a.Dup, CMID: req.CMID}, nil
		}
		if ctx.Err() != nil || errors.Is(err, ErrClosed) || !retryable(err) {
			return fail(attempt, err)
		}
		last = err
		if attempt >= c.cfg.MaxSendAttempts {
			return fail(attempt, fmt.Errorf("%w: %w", ErrBusy, last))
		}
		c.log.Debug("send failed; retrying", "type", t, "cmid", req.CMID, "attempt", attempt, "err", err)
		wait := min(c.backoff(attempt-1), max(stop.Sub(c.now()), 0))
		if err := c.sleep(ctx, wait); err != nil {
			return fail(attempt, err)
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
