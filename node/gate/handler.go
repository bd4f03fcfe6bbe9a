package gate

import (
	"context"
	"fmt"
)

// Handler serves one kind on the receiving side; OneWay and Request make
// them, and Gate.Handle registers one per kind, the way mux.Handle
// registers a stream kind. The gate decodes each frame's body into the
// Handler's type (bounded, see decodeBody) and calls its function with the
// sending node's id (from its verified hello).
type Handler struct {
	name string
	// oneWay decodes a one-way body and returns the call to make.
	oneWay func(body []byte) (func(from string), error)
	// call decodes a request body: the caller's remaining time (0: none
	// given) and the call to make.
	call func(body []byte) (ttl int64, run func(ctx context.Context, from string) (any, error), err error)
	// answer puts the response under "a" in the reply (see replyBody).
	answer bool
}

// OneWay makes the Handler of a one-way kind: fn is called with each
// decoded item from the connection's reader goroutine, in the order the
// sender queued the items, and must not block. name names the kind in
// logs and to Config.DropOneWay.
func OneWay[T any](name string, fn func(from string, item *T)) Handler {
	return Handler{name: name, oneWay: func(body []byte) (func(string), error) {
		item := new(T)
		if err := decodeBody(body, item); err != nil {
			return nil, err
		}
		return func(from string) { fn(from, item) }, nil
	}}
}

// Request makes the Handler of a request kind: fn runs in a goroutine of
// its own (at most MaxConcurrent at once), under a context that ends at
// the caller's deadline (a Req that embeds Deadline carries it; capped by
// RequestTimeout), when the connection breaks or at Close, and its
// response or error goes back to the caller of Call. Errors travel as
// codes (see the package documentation).
func Request[Req, Resp any](name string, fn func(ctx context.Context, from string, req *Req) (*Resp, error)) Handler {
	return Handler{name: name, call: func(body []byte) (int64, func(context.Context, string) (any, error), error) {
		req := new(Req)
		if err := decodeBody(body, req); err != nil {
			return 0, nil, err
		}
		var ttl int64
		if d, ok := any(req).(deadliner); ok {
			ttl = d.deadline().TTL
		}
		return ttl, func(ctx context.Context, from string) (any, error) {
			resp, err := fn(ctx, from, req)
			if err != nil || resp == nil {
				return nil, err
			}
			return resp, nil
		}, nil
	}}
}

// AsAnswer returns h with its responses carried under the reply's "a"
// field rather than "r": the layout of the query kind since the first gate
// version, which older dialers read there. Nothing else needs it.
func (h Handler) AsAnswer() Handler {
	h.answer = true
	return h
}

// Handle registers h as the Handler of kind k. Register every kind before
// Start; registering after it, twice for one kind, or for the gate's own
// kinds (0, hello, reply) panics: they are programming errors.
func (g *Gate) Handle(k Kind, h Handler) {
	switch {
	case k == 0 || byte(k) == frameHello || byte(k) == frameReply:
		panic(fmt.Sprintf("gate: kind %d is reserved", k))
	case h.oneWay == nil && h.call == nil:
		panic(fmt.Sprintf("gate: kind %d: empty Handler (use OneWay or Request)", k))
	case g.handlers[k] != nil:
		panic(fmt.Sprintf("gate: kind %d registered twice (%s, %s)", k, g.handlers[k].name, h.name))
	case g.started.Load():
		panic(fmt.Sprintf("gate: kind %d (%s) registered after Start", k, h.name))
	}
	g.handlers[k] = &h
}
