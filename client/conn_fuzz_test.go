package client

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/roamhq/roam/wire"
)

// FuzzClientConn: a server (or anyone posing as one) sends arbitrary
// bytes to a logged-in client, in two writes, while requests of several
// kinds wait for their replies; then it closes. Whatever the bytes, the
// client never panics, every request ends with its reply or a documented
// error (a refusal with its code, ErrProtocol, ErrFrameTooLarge,
// ErrConnLost, ErrTimeout, ErrBusy), and Close returns.
func FuzzClientConn(f *testing.F) {
	frame := func(t wire.Type, rid uint32, body any) []byte {
		b, err := wire.AppendFrame(nil, t, rid, body)
		if err != nil {
			f.Fatal(err)
		}
		return b
	}
	// The client's request ids: hello 1, resume 2, then its first sync and
	// the requests below in some order.
	seeds := [][]byte{
		frame(wire.TMessage, 0, &wire.Message{Seq: 1, ID: 1, From: "bob", Body: []byte("hi")}),
		frame(wire.TMessage, 0, &wire.Message{Seq: 1 << 62, ID: 1, From: "bob"}),
		frame(wire.TSyncReply, 3, &wire.SyncReply{Messages: []wire.Message{{Seq: 5}, {Seq: 2}}, Next: 1}),
		frame(wire.TWhoamiReply, 4, &wire.WhoamiReply{User: "mallory"}),
		frame(wire.TError, 5, &wire.Error{Code: wire.CodeRateLimited, RetryAfterMS: 1 << 31}),
		frame(wire.TError, 0, &wire.Error{Code: 999}),
		frame(wire.TGoodbye, 0, &wire.Goodbye{Code: wire.CodeRedirect, Redirect: "127.0.0.1:1"}),
		frame(wire.TSendAck, 6, &wire.SendAck{ID: 1, Seq: 1}),
		frame(wire.TPong, 7, &wire.Empty{}),
		frame(wire.TPresence, 0, &wire.Presence{User: "bob", Status: "away"}),
		frame(wire.TFriendEvent, 0, &wire.FriendEvent{Event: "accepted", User: "bob"}),
		frame(wire.TFriends, 8, &wire.Friends{}),
		frame(wire.TLoginOK, 9, &wire.LoginOK{User: "x"}),
		wire.AppendRaw(nil, wire.TSyncReply, 3, []byte{0xdd, 0xff, 0xff, 0xff, 0xff}),
		{0xff, 0xff, 0xff, 0xff, 3, 0, 0, 0, 5},
		{0, 0, 0, 4, 1},
	}
	seeds = append(seeds, bytes.Join(seeds[:13], nil))
	for i, s := range seeds {
		f.Add(s, uint16(i))
	}
	quiet := slog.New(slog.DiscardHandler)
	f.Fuzz(func(t *testing.T, data []byte, cut uint16) {
		cl := newFakeCluster(t, 1)
		token := bytes.Repeat([]byte{7}, 16)
		cl.mu.Lock()
		cl.users["alice"] = &fakeUser{name: "alice", cursors: map[string]uint64{}, tokens: map[string][]byte{"dev-test": token},
			dedup: map[string]wire.SendAck{}, authAt: map[string]time.Time{}}
		cl.mu.Unlock()
		cfg := testConfig(t, cl.addr(0))
		cfg.Logger = quiet
		cfg.NoReconnect = true
		cfg.MaxFrame = MinMaxFrame
		c, err := Dial(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if err := c.Resume(ctx, "alice", token); err != nil {
			t.Fatal(err)
		}
		conns := cl.nodes[0].conns("alice")
		if len(conns) != 1 {
			t.Fatalf("%d server connections for alice", len(conns))
		}
		fc := conns[0]

		// The fake's own replies wait (they need fc.wmu) until the bytes
		// are out, so the requests are still waiting when they arrive.
		fc.wmu.Lock()
		var wg sync.WaitGroup
		errs := make(chan error, 8)
		calls := []func() error{
			func() error { _, err := c.Whoami(ctx); return err },
			func() error { _, err := c.Friends(ctx); return err },
			func() error { _, err := c.Send(ctx, "bob", []byte("hi")); return err },
			func() error { _, err := c.Profile(ctx, "bob"); return err },
			func() error { return c.SetPresence(ctx, "away") },
		}
		for _, call := range calls {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs <- call()
			}()
		}
		c.mu.Lock()
		cn := c.cur
		c.mu.Unlock()
		for deadline := time.Now().Add(10 * time.Second); cn != nil && time.Now().Before(deadline); time.Sleep(100 * time.Microsecond) {
			cn.waits.mu.Lock()
			n := len(cn.waits.m)
			cn.waits.mu.Unlock()
			if n >= len(calls) {
				break
			}
		}
		at := int(cut) % (len(data) + 1)
		fc.nc.Write(data[:at])
		fc.nc.Write(data[at:])
		// The client reads everything, then the end of the stream; its
		// requests may still be written meanwhile.
		fc.nc.(*net.TCPConn).CloseWrite()
		fc.wmu.Unlock()
		wg.Wait()
		fc.nc.Close()
		close(errs)
		for err := range errs {
			var se *SendError
			if errors.As(err, &se) {
				err = se.Err
			}
			switch {
			case err == nil, CodeOf(err) != wire.CodeOK,
				errors.Is(err, ErrProtocol), errors.Is(err, ErrFrameTooLarge), errors.Is(err, ErrConnLost),
				errors.Is(err, ErrTimeout), errors.Is(err, ErrBusy), errors.Is(err, ErrTTLPassed):
			default:
				t.Fatalf("a request failed with an undocumented error: %v", err)
			}
		}
		closed := make(chan error, 1)
		go func() { closed <- c.Close() }()
		select {
		case <-closed:
		case <-time.After(20 * time.Second):
			t.Fatal("Close did not return")
		}
	})
}
