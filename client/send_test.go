package client

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/roamhq/roam/wire"
)

// sendRig is a fake cluster with alice logged in and bob to write to.
func sendRig(t *testing.T, cfg func(*Config)) (*fakeCluster, *Client) {
	t.Helper()
	cl := newFakeCluster(t, 1)
	cl.addUser(t, "alice", "pw")
	cl.addUser(t, "bob", "pw")
	c0 := testConfig(t, cl.addr(0))
	if cfg != nil {
		cfg(&c0)
	}
	c := dialT(t, c0)
	if err := c.Login(ctxT(t), "alice", "pw"); err != nil {
		t.Fatal(err)
	}
	return cl, c
}

// sentCMIDs returns the cmid of every TSend the fake server received.
func sentCMIDs(cl *fakeCluster) []uint64 {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	var out []uint64
	for _, s := range cl.sends {
		out = append(out, s.CMID)
	}
	return out
}

// TestSend_ErrBusyCarriesCMIDForRetry is the regression test for issue
// 12.5: after ErrBusy (or a cancelled context) the caller had no cmid to
// retry with, so a retry got a new id and could be delivered twice. The
// error now carries the cmid and the time of the first attempt, and a
// retry with them is deduplicated by the server.
func TestSend_ErrBusyCarriesCMIDForRetry(t *testing.T) {
	cl, c := sendRig(t, func(cfg *Config) { cfg.MaxSendAttempts = 2 })
	cl.mu.Lock()
	cl.onSend = func(n int, s *wire.Send) fakeAction {
		switch {
		case n == 1:
			return fakeCommitDrop // stored, but the ack is lost
		case n <= 3:
			return fakeUnavailable
		}
		return fakeNormal
	}
	cl.mu.Unlock()
	ctx := ctxT(t)
	_, err := c.Send(ctx, "bob", []byte("hello"))
	if !errors.Is(err, ErrBusy) || !errors.Is(err, ErrUnavailable) {
		t.Fatalf("got %v, want busy after unavailable", err)
	}
	var se *SendError
	if !errors.As(err, &se) || se.CMID == 0 || se.First.IsZero() || se.Attempts != 2 {
		t.Fatalf("error %v (%#v) carries no cmid, first attempt or attempt count", err, se)
	}
	// The application retries later with the same cmid: one message.
	ack, err := c.Send(ctx, "bob", []byte("hello"), WithCMID(se.CMID), WithFirstAttempt(se.First))
	if err != nil {
		t.Fatalf("retry: %v", err)
	}
	if ack.CMID != se.CMID || !ack.Dup || ack.Seq != 1 {
		t.Fatalf("retry ack %+v, want the duplicate of seq 1 with cmid %d", ack, se.CMID)
	}
	for i, id := range sentCMIDs(cl) {
		if id != se.CMID {
			t.Fatalf("attempt %d used cmid %d, want %d", i+1, id, se.CMID)
		}
	}
	cl.mu.Lock()
	stored := len(cl.users["bob"].inbox)
	cl.mu.Unlock()
	if stored != 1 {
		t.Fatalf("bob has %d messages, want 1", stored)
	}

	// A send whose context ends while it waits carries its cmid too.
	cl.mu.Lock()
	cl.onSend = func(int, *wire.Send) fakeAction { return fakeNoReply }
	cl.mu.Unlock()
	cctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	_, err = c.Send(cctx, "bob", []byte("again"))
	if !errors.Is(err, context.DeadlineExceeded) || !errors.As(err, &se) {
		t.Fatalf("got %v, want the context's deadline in a *SendError", err)
	}
	ids := sentCMIDs(cl)
	if last := ids[len(ids)-1]; se.CMID != last || last == ack.CMID {
		t.Fatalf("error cmid %d, want the new message's %d", se.CMID, last)
	}
}

// TestSend_RetryStopsAtTTL is the regression test for issue 12.5's third
// part: the retry loop ignored the message's TTL, so a retry could be
// stored again after the original had expired (the server forgets a cmid
// with its message). Retries now stop once the TTL since the first
// attempt has (nearly) passed, and a later retry from the application
// counts from the first attempt it passes in.
func TestSend_RetryStopsAtTTL(t *testing.T) {
	const ttl = 2 * time.Second
	cl, c := sendRig(t, func(cfg *Config) {
		cfg.MaxSendAttempts = 1000
		cfg.RetryBackoff = 50 * time.Millisecond
		cfg.MaxBackoff = 100 * time.Millisecond
	})
	cl.mu.Lock()
	cl.onSend = func(int, *wire.Send) fakeAction { return fakeUnavailable }
	cl.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := c.Send(ctx, "bob", []byte("short-lived"), WithTTL(ttl))
	var se *SendError
	if !errors.Is(err, ErrTTLPassed) || errors.Is(err, ErrBusy) || !errors.As(err, &se) {
		t.Fatalf("got %v, want ErrTTLPassed (and not ErrBusy) in a *SendError", err)
	}
	cl.mu.Lock()
	at := append([]time.Time(nil), cl.sendAt...)
	cl.mu.Unlock()
	if len(at) < 3 {
		t.Fatalf("%d attempts, want retries before the TTL", len(at))
	}
	if span := at[len(at)-1].Sub(at[0]); span >= ttl {
		t.Fatalf("the last attempt came %v after the first, TTL %v", span, ttl)
	}

	// Retries from the application count from the first attempt.
	for _, tc := range []struct {
		name string
		opts []SendOption
	}{
		{"explicit TTL", []SendOption{WithCMID(se.CMID), WithTTL(ttl), WithFirstAttempt(se.First)}},
		{"server default TTL", []SendOption{WithCMID(se.CMID), WithFirstAttempt(time.Now().Add(-DefaultTTL))}},
	} {
		before := len(sentCMIDs(cl))
		if _, err := c.Send(ctx, "bob", []byte("short-lived"), tc.opts...); !errors.Is(err, ErrTTLPassed) {
			t.Fatalf("%s: retry after the TTL: %v, want ErrTTLPassed", tc.name, err)
		}
		if after := len(sentCMIDs(cl)); after != before {
			t.Fatalf("%s: %d attempts after the TTL had passed", tc.name, after-before)
		}
	}
}
