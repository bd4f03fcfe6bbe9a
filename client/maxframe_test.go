package client

import (
	"bytes"
	"context"
	"net"
	"testing"
	"time"

	"github.com/roamhq/roam/wire"
)

// rawConn is a bare protocol connection whose reader enforces a frame
// limit: a frame above it fails the read.
type rawConn struct {
	t   *testing.T
	nc  net.Conn
	rd  *wire.Reader
	rid uint32
}

func dialRawLimit(t *testing.T, addr string, limit int) *rawConn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	return &rawConn{t: t, nc: nc, rd: wire.NewReader(nc, limit)}
}

func (r *rawConn) write(typ wire.Type, body any) uint32 {
	r.t.Helper()
	r.rid++
	b, err := wire.AppendFrame(nil, typ, r.rid, body)
	if err != nil {
		r.t.Fatal(err)
	}
	if _, err := r.nc.Write(b); err != nil {
		r.t.Fatal(err)
	}
	return r.rid
}

// read returns the next frame, failing on any frame above the limit.
func (r *rawConn) read() wire.Frame {
	r.t.Helper()
	r.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	f, err := r.rd.ReadFrame()
	if err != nil {
		r.t.Fatalf("read: %v", err)
	}
	f.Body = append([]byte(nil), f.Body...)
	return f
}

// reply reads frames up to the reply to rid, returning the pushes before it.
func (r *rawConn) reply(rid uint32, want wire.Type, out any) []wire.Frame {
	r.t.Helper()
	var pushes []wire.Frame
	for {
		f := r.read()
		if f.RID == 0 {
			pushes = append(pushes, f)
			continue
		}
		if f.RID != rid || f.Type != want {
			r.t.Fatalf("got %s rid %d (%x), want %s rid %d", f.Type, f.RID, f.Body, want, rid)
		}
		if err := wire.Decode(f.Body, out); err != nil {
			r.t.Fatal(err)
		}
		return pushes
	}
}

// TestSync_PagesFitAnnouncedMaxFrame: a client that announces the
// smallest max_frame (4096) gets every sync page and every push within
// it, with full-size messages; one that announces less is refused at the
// handshake.
func TestSync_PagesFitAnnouncedMaxFrame(t *testing.T) {
	n := startNode(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	sender, rcv := befriendOn(t, ctx, n.ClientAddr(), n.ClientAddr(), "pat", "quinn")
	tok := rcv.Token()
	rcv.Close()
	const backlog = 8 // within the default send burst (10)
	body := bytes.Repeat([]byte{0xee}, int(1440))
	for i := 0; i < backlog; i++ {
		if _, err := sender.Send(ctx, "quinn", body); err != nil {
			t.Fatal(err)
		}
	}

	small := dialRawLimit(t, n.ClientAddr(), 1<<20)
	small.write(wire.THello, &wire.Hello{Proto: wire.Magic, Version: wire.Version, MaxFrame: 1000})
	var e wire.Error
	if f := small.read(); f.Type != wire.TError || wire.Decode(f.Body, &e) != nil || e.Code != wire.CodeBadHandshake {
		t.Fatalf("hello with max_frame 1000: %s %+v, want bad_handshake", f.Type, e)
	}

	r := dialRawLimit(t, n.ClientAddr(), MinMaxFrame)
	var w wire.Welcome
	r.reply(r.write(wire.THello, &wire.Hello{Proto: wire.Magic, Version: wire.Version, MaxFrame: MinMaxFrame}), wire.TWelcome, &w)
	var lok wire.LoginOK
	r.reply(r.write(wire.TResume, &wire.Resume{User: "quinn", Device: "quinn-dev", Token: tok}), wire.TLoginOK, &lok)
	var after uint64
	pages, got := 0, 0
	for {
		var rep wire.SyncReply
		r.reply(r.write(wire.TSync, &wire.Sync{After: after}), wire.TSyncReply, &rep)
		pages++
		for _, m := range rep.Messages {
			if m.Seq != after+1 || !bytes.Equal(m.Body, body) {
				t.Fatalf("page %d: seq %d after %d", pages, m.Seq, after)
			}
			after = m.Seq
			got++
		}
		if !rep.More {
			break
		}
	}
	if got != backlog || pages < backlog/2 {
		t.Fatalf("%d messages in %d pages, want %d in pages of at most 2", got, pages, backlog)
	}
	// Pushes fit too.
	if _, err := sender.Send(ctx, "quinn", body); err != nil {
		t.Fatal(err)
	}
	for {
		f := r.read()
		if f.Type != wire.TMessage {
			continue
		}
		var m wire.Message
		if err := wire.Decode(f.Body, &m); err != nil || m.Seq != backlog+1 {
			t.Fatalf("push %+v %v, want seq %d", m, err, backlog+1)
		}
		break
	}
}
