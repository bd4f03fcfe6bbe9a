package gate

import (
	"context"

	"github.com/roamhq/roam/hlr"
	"github.com/roamhq/roam/vlr"
)

// The tests speak the node's kinds, with the node's frame types and
// bodies (node/kinds.go and the node's kind files hold the real ones), so
// that what they check is what a node sends: Exec and Query as requests,
// the one-way effects, presence and delivery repair.
const (
	frameExec     byte = 2
	frameQuery    byte = 3
	frameDeliver  byte = 5
	frameCancel   byte = 6
	frameNotify   byte = 7
	framePresence byte = 8
	frameNotice   byte = 9
	frameAck      byte = 10
)

var testKindNames = map[byte]string{
	frameHello: "hello", frameReply: "reply", frameExec: "exec", frameQuery: "query",
	frameDeliver: "deliver", frameCancel: "cancel", frameNotify: "notify",
	framePresence: "presence", frameNotice: "notice", frameAck: "ack",
}

// frameName names a frame type of the tests' kinds.
func frameName(t byte) string {
	if n, ok := testKindNames[t]; ok {
		return n
	}
	return "unknown"
}

type execBody struct {
	Deadline `msgpack:",inline"`
	PID      uint16  `msgpack:"p"`
	Cmd      hlr.Cmd `msgpack:"c"`
}

type queryBody struct {
	Deadline `msgpack:",inline"`
	PID      uint16    `msgpack:"p"`
	Query    hlr.Query `msgpack:"q"`
}

type deliverBody struct {
	User string         `msgpack:"u"`
	Locs []hlr.Location `msgpack:"l"`
	Msg  *hlr.Message   `msgpack:"m"`
}

type cancelBody struct {
	User   string       `msgpack:"u"`
	Loc    hlr.Location `msgpack:"l"`
	Reason string       `msgpack:"r,omitempty"`
}

type notifyBody struct {
	User  string         `msgpack:"u"`
	Locs  []hlr.Location `msgpack:"l"`
	Event string         `msgpack:"e"`
	Peer  string         `msgpack:"p,omitempty"`
}

type presenceBody struct {
	Ups  []vlr.PresenceUpdate `msgpack:"u"`
	Full bool                 `msgpack:"f,omitempty"`
}

type noticeBody struct {
	Notices []vlr.Notice `msgpack:"n"`
}

type ackBody struct {
	Acks []vlr.DeliveryAck `msgpack:"a"`
}

// chunk sizes of the lists, as the node's
const (
	repairChunk   = 4096
	presenceChunk = 4096
)

// testHandler is the receiving side the tests register: the node's
// handlers in the shape of the fake (or the example's) node.
type testHandler interface {
	Exec(ctx context.Context, pid uint16, cmd hlr.Cmd) (hlr.Result, error)
	Query(ctx context.Context, pid uint16, q hlr.Query) (*hlr.Answer, error)
	Deliver(from, user string, locs []hlr.Location, m *hlr.Message)
	Cancel(user string, loc hlr.Location, reason string)
	Notify(user string, locs []hlr.Location, event, peer string)
	Presence(from string, ups []vlr.PresenceUpdate, full bool)
	Notice(from string, ns []vlr.Notice)
	Ack(from string, acks []vlr.DeliveryAck)
}

// registerTestKinds registers every test kind on g, served by h.
func registerTestKinds(g *Gate, h testHandler) {
	g.Handle(Kind(frameExec), Request("exec", func(ctx context.Context, _ string, b *execBody) (*hlr.Result, error) {
		res, err := h.Exec(ctx, b.PID, b.Cmd)
		if err != nil {
			return nil, err
		}
		return &res, nil
	}))
	g.Handle(Kind(frameQuery), Request("query", func(ctx context.Context, _ string, b *queryBody) (*hlr.Answer, error) {
		return h.Query(ctx, b.PID, b.Query)
	}).AsAnswer())
	g.Handle(Kind(frameDeliver), OneWay("deliver", func(from string, b *deliverBody) { h.Deliver(from, b.User, b.Locs, b.Msg) }))
	g.Handle(Kind(frameCancel), OneWay("cancel", func(_ string, b *cancelBody) { h.Cancel(b.User, b.Loc, b.Reason) }))
	g.Handle(Kind(frameNotify), OneWay("notify", func(_ string, b *notifyBody) { h.Notify(b.User, b.Locs, b.Event, b.Peer) }))
	g.Handle(Kind(framePresence), OneWay("presence", func(from string, b *presenceBody) { h.Presence(from, b.Ups, b.Full) }))
	g.Handle(Kind(frameNotice), OneWay("notice", func(from string, b *noticeBody) { h.Notice(from, b.Notices) }))
	g.Handle(Kind(frameAck), OneWay("ack", func(from string, b *ackBody) { h.Ack(from, b.Acks) }))
}

// kindGate is a Gate with the tests' kinds as methods: what the node's
// callers do with Send and Call.
type kindGate struct{ *Gate }

func (g kindGate) Exec(ctx context.Context, addr string, pid uint16, cmd hlr.Cmd) (hlr.Result, error) {
	var res hlr.Result
	err := g.Call(ctx, addr, Kind(frameExec), &execBody{PID: pid, Cmd: cmd}, &res)
	if err != nil {
		return hlr.Result{}, err
	}
	return res, nil
}

func (g kindGate) Query(ctx context.Context, addr string, pid uint16, q hlr.Query) (*hlr.Answer, error) {
	ans := &hlr.Answer{}
	if err := g.Call(ctx, addr, Kind(frameQuery), &queryBody{PID: pid, Query: q}, ans); err != nil {
		return nil, err
	}
	return ans, nil
}

func (g kindGate) Deliver(addr, user string, locs []hlr.Location, m *hlr.Message) {
	g.Send(addr, Kind(frameDeliver), &deliverBody{User: user, Locs: locs, Msg: m})
}

func (g kindGate) Cancel(addr, user string, loc hlr.Location, reason string) {
	g.Send(addr, Kind(frameCancel), &cancelBody{User: user, Loc: loc, Reason: reason})
}

func (g kindGate) Notify(addr, user string, locs []hlr.Location, event, peer string) {
	g.Send(addr, Kind(frameNotify), &notifyBody{User: user, Locs: locs, Event: event, Peer: peer})
}

func (g kindGate) Presence(addr string, ups []vlr.PresenceUpdate, full bool) {
	Chunks(ups, presenceChunk, func(first bool, ups []vlr.PresenceUpdate) {
		g.Send(addr, Kind(framePresence), &presenceBody{Ups: ups, Full: full && first})
	})
}

func (g kindGate) Notice(addr string, ns []vlr.Notice) {
	if len(ns) == 0 {
		return
	}
	Chunks(ns, repairChunk, func(_ bool, ns []vlr.Notice) { g.Send(addr, Kind(frameNotice), &noticeBody{Notices: ns}) })
}

func (g kindGate) Ack(addr string, acks []vlr.DeliveryAck) {
	if len(acks) == 0 {
		return
	}
	Chunks(acks, repairChunk, func(_ bool, acks []vlr.DeliveryAck) { g.Send(addr, Kind(frameAck), &ackBody{Acks: acks}) })
}
