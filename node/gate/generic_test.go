package gate

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/roamhq/roam/hlr"
	"github.com/roamhq/roam/node/mux"
)

// kindExtra is a kind newer than every test kind: only peers whose welcome
// lists it get it.
const kindExtra Kind = 11

type extraBody struct {
	Deadline `msgpack:",inline"`
	N        int `msgpack:"n"`
}

type extraResp struct {
	N    int    `msgpack:"n"`
	From string `msgpack:"f"`
	TTL  int64  `msgpack:"t"`
}

// TestKind_NewKindOnlyToPeersThatServeIt: a Call and a Send of a kind that
// a peer's welcome lists reach its Handler (the request with the caller's
// deadline and the sender's id); a peer that does not list it gets
// neither — the Call fails with ErrUnsupported, the item is dropped and
// counted — and its connection stays up for the kinds it does serve.
func TestKind_NewKindOnlyToPeersThatServeIt(t *testing.T) {
	withExtra := func(g *Gate) {
		g.Handle(kindExtra, Request("extra", func(ctx context.Context, from string, b *extraBody) (*extraResp, error) {
			dl, _ := ctx.Deadline()
			return &extraResp{N: b.N + 1, From: from, TTL: min(b.TTL, time.Until(dl).Milliseconds()+1)}, nil
		}))
	}
	b := startNodeWith(t, "b", "", nil, nil, withExtra)
	c := startNode(t, "c", "", nil, nil) // does not serve kindExtra
	a := startNode(t, "a", "", nil, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	// The first call on a new connection may come before the welcome.
	var resp extraResp
	waitFor(t, 5*time.Second, "the call of the new kind", func() bool {
		err := a.gate.Call(ctx, b.addr, kindExtra, &extraBody{N: 41}, &resp)
		if err != nil && !errors.Is(err, ErrUnsupported) {
			t.Fatal(err)
		}
		return err == nil
	})
	if resp.N != 42 || resp.From != "a" || resp.TTL <= 0 || resp.TTL > 5000 {
		t.Fatalf("response %+v (want n 42 from a, the caller's ttl)", resp)
	}

	// c: exec works, so the welcome is in; the new kind is refused.
	if _, err := a.gate.Exec(ctx, c.addr, 1, hlrCmd()); err != nil {
		t.Fatal(err)
	}
	err := a.gate.Call(ctx, c.addr, kindExtra, &extraBody{N: 1}, &resp)
	if !errors.Is(err, ErrUnsupported) {
		t.Fatalf("call of a kind c does not serve: %v, want ErrUnsupported", err)
	}
	before := a.gate.Stats().Drops
	a.gate.Send(c.addr, kindExtra, &extraBody{N: 1})
	if d := a.gate.Stats().Drops - before; d != 1 {
		t.Fatalf("%d drops for an item of a kind c does not serve, want 1", d)
	}
	if _, err := a.gate.Exec(ctx, c.addr, 1, hlrCmd()); err != nil {
		t.Fatal(err)
	}
	if st := a.gate.Stats(); st.ConnsLost != 0 {
		t.Fatalf("connections lost: %d", st.ConnsLost)
	}
}

// TestKind_MismatchedIDClosesConnection: a one-way kind sent with a
// request id, or a request kind without one, is a protocol error: the
// connection closes and nothing reaches a Handler.
func TestKind_MismatchedIDClosesConnection(t *testing.T) {
	b := startNode(t, "b", "", nil, nil)
	for name, frame := range map[string]func() []byte{
		"one-way with an id": func() []byte { f, _ := appendFrame(nil, frameCancel, 9, &cancelBody{User: "u"}, minFrameCap); return f },
		"request without id": func() []byte { f, _ := appendFrame(nil, frameExec, 0, &execBody{PID: 1}, minFrameCap); return f },
	} {
		t.Run(name, func(t *testing.T) {
			before := b.gate.Stats().BadFrames
			sendRaw(t, "a", b.addr, frame())
			waitFor(t, 5*time.Second, "the bad frame to be counted", func() bool { return b.gate.Stats().BadFrames == before+1 })
			if n := b.h.count(); n != 0 {
				t.Fatalf("%d items reached the handler", n)
			}
		})
	}
}

// TestHandle_RefusesMistakes: registering a reserved kind, a kind twice,
// an empty Handler or anything after Start panics.
func TestHandle_RefusesMistakes(t *testing.T) {
	one := OneWay("x", func(string, *cancelBody) {})
	for name, fn := range map[string]func(g *Gate){
		"reserved hello": func(g *Gate) { g.Handle(Kind(frameHello), one) },
		"reserved reply": func(g *Gate) { g.Handle(Kind(frameReply), one) },
		"kind zero":      func(g *Gate) { g.Handle(0, one) },
		"twice":          func(g *Gate) { g.Handle(20, one); g.Handle(20, one) },
		"empty":          func(g *Gate) { g.Handle(21, Handler{}) },
		"after start":    func(g *Gate) { g.started.Store(true); g.Handle(22, one) },
	} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if r := recover(); r == nil || !strings.HasPrefix(r.(string), "gate: ") {
					t.Fatalf("no panic (or a foreign one: %v)", r)
				}
			}()
			fn(&Gate{})
		})
	}
}

func hlrCmd() hlr.Cmd { return hlr.Cmd{Op: hlr.OpSend, User: "u"} }

// sendRaw dials addr as node id, says hello and writes frame, then reads
// until the connection closes (or 5 s pass).
func sendRaw(t *testing.T, id, addr string, frame []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := mux.Dial(ctx, testSec(t, id), addr, mux.KindGate, protoVersion)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	hello, _ := appendFrame(nil, frameHello, 0, &helloBody{Node: id}, minFrameCap)
	if _, err := c.Write(append(hello, frame...)); err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 4096)
	for {
		if _, err := c.Read(buf); err != nil {
			return
		}
	}
}
