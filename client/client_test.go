package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/roamhq/roam/internal/roamdproc"
	"github.com/roamhq/roam/wire"
)

// TestMain fails the package when a goroutine outlives the tests. The waiter
// hlr.futureError starts (the in-process clusters of backlog_test.go and
// e2e_test.go) is ignored: raft never answers a future still queued in its
// apply channel when it shuts down, so that waiter stays blocked by design
// (see hlr/proposer.go).
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreAnyFunction("github.com/roamhq/roam/hlr.futureError.func1"))
}

// testLogger sends the client's logs to t.Log.
func testLogger(t *testing.T) *slog.Logger {
	return roamdproc.TestLogger(t, slog.LevelDebug)
}

func testConfig(t *testing.T, addrs ...string) Config {
	cfg := DefaultConfig(addrs...)
	cfg.Device = "dev-test"
	cfg.RequestTimeout = 2 * time.Second
	cfg.DialTimeout = time.Second
	cfg.RetryBackoff = 10 * time.Millisecond
	cfg.MaxBackoff = 50 * time.Millisecond
	cfg.AckInterval = 10 * time.Millisecond
	cfg.Logger = testLogger(t)
	return cfg
}

func dialT(t *testing.T, cfg Config) *Client {
	t.Helper()
	c, err := Dial(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// nextEvent waits for the next event of one of the kinds (others are
// skipped).
func nextEvent(t *testing.T, c *Client, kinds ...EventKind) Event {
	t.Helper()
	timeout := time.After(5 * time.Second)
	for {
		select {
		case ev, ok := <-c.Events():
			if !ok {
				t.Fatal("events closed")
			}
			for _, k := range kinds {
				if ev.Kind == k {
					return ev
				}
			}
			t.Logf("skipping event %v %+v", ev.Kind, ev)
		case <-timeout:
			t.Fatalf("no %v event", kinds)
		}
	}
}

// waitFor polls cond.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestRegisterLoginWhoami(t *testing.T) {
	cl := newFakeCluster(t, 1)
	c := dialT(t, testConfig(t, cl.addr(0)))
	ctx := ctxT(t)
	if err := c.Register(ctx, "Alice", "pw1"); err != nil {
		t.Fatal(err)
	}
	if err := c.Register(ctx, "alice", "pw1"); !errors.Is(err, ErrNameTaken) {
		t.Fatalf("second register: %v, want name_taken", err)
	}
	if _, err := c.Whoami(ctx); !errors.Is(err, ErrNotLoggedIn) {
		t.Fatalf("whoami before login: %v, want not_logged_in", err)
	}
	if err := c.Login(ctx, "alice", "wrong"); !errors.Is(err, ErrAuthFailed) {
		t.Fatalf("wrong password: %v", err)
	}
	if err := c.Login(ctx, "ALICE", "pw1"); err != nil {
		t.Fatal(err)
	}
	if len(c.Token()) != 16 {
		t.Fatalf("token %x", c.Token())
	}
	w, err := c.Whoami(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if w.User != "alice" || w.Device != "dev-test" || w.Auth != "scram" {
		t.Fatalf("whoami %+v", w)
	}
	nextEvent(t, c, EventSynced)
}

func TestLoginRejectsBadServerProof(t *testing.T) {
	cl := newFakeCluster(t, 1)
	cl.addUser(t, "alice", "pw")
	cl.badProof = true
	c := dialT(t, testConfig(t, cl.addr(0)))
	err := c.Login(ctxT(t), "alice", "pw")
	if !errors.Is(err, ErrServerProof) || !errors.Is(err, ErrAuthFailed) {
		t.Fatalf("got %v, want server proof failure", err)
	}
	if c.Token() != nil {
		t.Fatal("a session was adopted")
	}
}

func TestResumeRotatesToken(t *testing.T) {
	cl := newFakeCluster(t, 1)
	cl.addUser(t, "alice", "pw")
	ctx := ctxT(t)
	c1 := dialT(t, testConfig(t, cl.addr(0)))
	if err := c1.Login(ctx, "alice", "pw"); err != nil {
		t.Fatal(err)
	}
	tok1 := c1.Token()
	c1.Close()

	c2 := dialT(t, testConfig(t, cl.addr(0)))
	if err := c2.Resume(ctx, "alice", tok1); err != nil {
		t.Fatal(err)
	}
	tok2 := c2.Token()
	if bytes.Equal(tok1, tok2) || len(tok2) != 16 {
		t.Fatalf("token not rotated: %x → %x", tok1, tok2)
	}
	w, err := c2.Whoami(ctx)
	if err != nil || w.Auth != "resume" {
		t.Fatalf("whoami %+v %v", w, err)
	}
	c2.Close()

	c3 := dialT(t, testConfig(t, cl.addr(0)))
	if err := c3.Resume(ctx, "alice", tok1); !errors.Is(err, ErrSessionInvalid) {
		t.Fatalf("old token: %v, want session_invalid", err)
	}
	if err := c3.Resume(ctx, "alice", tok2); err != nil {
		t.Fatal(err)
	}
}

func TestSyncDeliversInOrderAndAcks(t *testing.T) {
	cl := newFakeCluster(t, 1)
	cl.addUser(t, "alice", "pw")
	const n = 250 // three pages of 100
	for i := 1; i <= n; i++ {
		cl.deliver("alice", fmt.Sprint(i))
	}
	c := dialT(t, testConfig(t, cl.addr(0)))
	ctx := ctxT(t)
	if err := c.Login(ctx, "alice", "pw"); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= n; i++ {
		ev := nextEvent(t, c, EventMessage)
		if ev.Message.Seq != uint64(i) || string(ev.Message.Body) != fmt.Sprint(i) {
			t.Fatalf("message %d: got seq %d %q", i, ev.Message.Seq, ev.Message.Body)
		}
	}
	if ev := nextEvent(t, c, EventSynced, EventMessage); ev.Kind != EventSynced || ev.Cursor != n {
		t.Fatalf("after the backlog: %+v", ev)
	}
	// Pushes follow the sync.
	cl.deliver("alice", "live")
	if ev := nextEvent(t, c, EventMessage); ev.Message.Seq != n+1 {
		t.Fatalf("push: %+v", ev)
	}
	waitFor(t, "ack of the push", func() bool { return cl.cursor("alice", "dev-test") == n+1 })
	if c.Cursor() != n+1 {
		t.Fatalf("Cursor() = %d", c.Cursor())
	}
}

func TestCursorFloorAndCloseFlushesAck(t *testing.T) {
	cl := newFakeCluster(t, 1)
	cl.addUser(t, "alice", "pw")
	for i := 1; i <= 5; i++ {
		cl.deliver("alice", fmt.Sprint(i))
	}
	cfg := testConfig(t, cl.addr(0))
	cfg.AckInterval = time.Hour // only Close sends it
	c := dialT(t, cfg)
	c.SetCursor(3) // an earlier process saw 1..3
	if err := c.Login(ctxT(t), "alice", "pw"); err != nil {
		t.Fatal(err)
	}
	for _, want := range []uint64{4, 5} {
		if ev := nextEvent(t, c, EventMessage); ev.Message.Seq != want {
			t.Fatalf("got seq %d, want %d", ev.Message.Seq, want)
		}
	}
	nextEvent(t, c, EventSynced)
	c.Close()
	waitFor(t, "ack at close", func() bool { return cl.cursor("alice", "dev-test") == 5 })
}

func TestPushGapResyncsAndDuplicatesDrop(t *testing.T) {
	cl := newFakeCluster(t, 1)
	cl.addUser(t, "alice", "pw")
	c := dialT(t, testConfig(t, cl.addr(0)))
	if err := c.Login(ctxT(t), "alice", "pw"); err != nil {
		t.Fatal(err)
	}
	nextEvent(t, c, EventSynced)
	cl.deliver("alice", "one")
	if ev := nextEvent(t, c, EventMessage); ev.Message.Seq != 1 {
		t.Fatalf("%+v", ev)
	}
	// A repeated push is dropped.
	cl.pushRaw("alice", wire.Message{Seq: 1, Body: []byte("again")})
	// A lost forward: seq 2 is committed but not pushed; 3 is pushed.
	cl.mu.Lock()
	cl.skipPush = func(seq uint64) bool { return seq == 2 }
	cl.mu.Unlock()
	cl.deliver("alice", "two")
	cl.deliver("alice", "three")
	for _, want := range []string{"two", "three"} {
		ev := nextEvent(t, c, EventMessage)
		if string(ev.Message.Body) != want {
			t.Fatalf("got %q (seq %d), want %q", ev.Message.Body, ev.Message.Seq, want)
		}
	}
	cl.mu.Lock()
	cl.skipPush = nil
	cl.mu.Unlock()
	cl.deliver("alice", "four")
	if ev := nextEvent(t, c, EventMessage); ev.Message.Seq != 4 {
		t.Fatalf("%+v", ev)
	}
}

func TestSendRetriesWithSameCMIDAfterConnectionLoss(t *testing.T) {
	cl := newFakeCluster(t, 1)
	cl.addUser(t, "alice", "pw")
	cl.addUser(t, "bob", "pw")
	cl.onSend = func(n int, s *wire.Send) fakeAction {
		if n == 1 {
			return fakeCommitDrop
		}
		return fakeNormal
	}
	c := dialT(t, testConfig(t, cl.addr(0)))
	ctx := ctxT(t)
	if err := c.Login(ctx, "alice", "pw"); err != nil {
		t.Fatal(err)
	}
	tok := c.Token()
	ack, err := c.Send(ctx, "bob", []byte("hi"))
	if err != nil {
		t.Fatal(err)
	}
	if !ack.Dup || ack.Seq != 1 {
		t.Fatalf("ack %+v, want the duplicate of seq 1", ack)
	}
	cl.mu.Lock()
	sends := append([]wire.Send(nil), cl.sends...)
	inbox := len(cl.users["bob"].inbox)
	cl.mu.Unlock()
	if len(sends) != 2 || sends[0].CMID != sends[1].CMID || sends[0].CMID != ack.CMID {
		t.Fatalf("sends %+v", sends)
	}
	if inbox != 1 {
		t.Fatalf("bob has %d messages", inbox)
	}
	if bytes.Equal(tok, c.Token()) {
		t.Fatal("the reconnect did not resume (token unchanged)")
	}
	nextEvent(t, c, EventDisconnected)
	nextEvent(t, c, EventReconnected)
}

func TestSendGivesUpBusy(t *testing.T) {
	cl := newFakeCluster(t, 1)
	cl.addUser(t, "alice", "pw")
	cl.addUser(t, "bob", "pw")
	cl.onSend = func(n int, s *wire.Send) fakeAction {
		if n%2 == 0 {
			return fakeNoReply
		}
		return fakeUnavailable
	}
	cfg := testConfig(t, cl.addr(0))
	cfg.RequestTimeout = 200 * time.Millisecond
	c := dialT(t, cfg)
	ctx := ctxT(t)
	if err := c.Login(ctx, "alice", "pw"); err != nil {
		t.Fatal(err)
	}
	_, err := c.Send(ctx, "bob", []byte("hi"))
	if !errors.Is(err, ErrBusy) {
		t.Fatalf("got %v, want busy", err)
	}
	cl.mu.Lock()
	defer cl.mu.Unlock()
	if len(cl.sends) != 5 {
		t.Fatalf("%d attempts, want 5", len(cl.sends))
	}
	for _, s := range cl.sends {
		if s.CMID != cl.sends[0].CMID {
			t.Fatalf("cmid changed: %+v", cl.sends)
		}
	}
}

func TestSendRefusalsAreNotRetried(t *testing.T) {
	cl := newFakeCluster(t, 1)
	cl.addUser(t, "alice", "pw")
	cl.onSend = func(n int, s *wire.Send) fakeAction {
		if s.To == "bob" {
			return fakeRateLimited
		}
		return fakeNormal
	}
	c := dialT(t, testConfig(t, cl.addr(0)))
	ctx := ctxT(t)
	if err := c.Login(ctx, "alice", "pw"); err != nil {
		t.Fatal(err)
	}
	_, err := c.Send(ctx, "bob", []byte("hi"))
	var e *Error
	if !errors.As(err, &e) || e.Code != wire.CodeRateLimited || e.RetryAfter != 1500*time.Millisecond {
		t.Fatalf("got %v", err)
	}
	if _, err := c.Send(ctx, "nobody", []byte("hi")); !errors.Is(err, ErrRefused) {
		t.Fatalf("got %v", err)
	}
	if _, err := c.Send(ctx, "nobody", make([]byte, 2000)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("got %v", err)
	}
	cl.mu.Lock()
	defer cl.mu.Unlock()
	if len(cl.sends) != 2 {
		t.Fatalf("%d sends, want 2", len(cl.sends))
	}
}

func TestRedirectGoodbyeReconnectsAndResumes(t *testing.T) {
	cl := newFakeCluster(t, 2)
	cl.addUser(t, "alice", "pw")
	c := dialT(t, testConfig(t, cl.addr(0)))
	ctx := ctxT(t)
	if err := c.Login(ctx, "alice", "pw"); err != nil {
		t.Fatal(err)
	}
	nextEvent(t, c, EventSynced)
	cl.mu.Lock()
	for _, o := range cl.nodes[0].conns("alice") {
		o.goodbye(wire.CodeRedirect, cl.addr(1))
	}
	cl.mu.Unlock()
	ev := nextEvent(t, c, EventGoodbye)
	if CodeOf(ev.Err) != wire.CodeRedirect || ev.Addr != cl.addr(1) {
		t.Fatalf("goodbye %+v", ev)
	}
	ev = nextEvent(t, c, EventReconnected)
	if ev.Addr != cl.addr(1) {
		t.Fatalf("reconnected to %s, want %s", ev.Addr, cl.addr(1))
	}
	w, err := c.Whoami(ctx)
	if err != nil || w.Node != "fake1" || w.Auth != "resume" {
		t.Fatalf("whoami %+v %v", w, err)
	}
	nextEvent(t, c, EventSynced)
}

func TestNodeDeathFailsOver(t *testing.T) {
	cl := newFakeCluster(t, 2)
	cl.addUser(t, "alice", "pw")
	c := dialT(t, testConfig(t, cl.addr(0)))
	ctx := ctxT(t)
	if err := c.Login(ctx, "alice", "pw"); err != nil {
		t.Fatal(err)
	}
	cl.nodes[0].stop() // the Welcome listed node 1
	nextEvent(t, c, EventDisconnected)
	nextEvent(t, c, EventReconnected)
	w, err := c.Whoami(ctx)
	if err != nil || w.Node != "fake1" {
		t.Fatalf("whoami %+v %v", w, err)
	}
}

func TestSessionReplacedEndsSession(t *testing.T) {
	cl := newFakeCluster(t, 1)
	cl.addUser(t, "alice", "pw")
	ctx := ctxT(t)
	c1 := dialT(t, testConfig(t, cl.addr(0)))
	if err := c1.Login(ctx, "alice", "pw"); err != nil {
		t.Fatal(err)
	}
	c2 := dialT(t, testConfig(t, cl.addr(0))) // same device id
	if err := c2.Login(ctx, "alice", "pw"); err != nil {
		t.Fatal(err)
	}
	ev := nextEvent(t, c1, EventSessionEnded)
	if !errors.Is(ev.Err, ErrSessionReplaced) {
		t.Fatalf("%+v", ev)
	}
	if c1.Token() != nil {
		t.Fatal("session kept")
	}
	if _, err := c1.Whoami(ctx); !errors.Is(err, ErrNotLoggedIn) {
		t.Fatalf("whoami after the end: %v", err)
	}
}

func TestReloginReplacesOwnSessionQuietly(t *testing.T) {
	cl := newFakeCluster(t, 1)
	cl.addUser(t, "alice", "pw")
	ctx := ctxT(t)
	c := dialT(t, testConfig(t, cl.addr(0)))
	if err := c.Login(ctx, "alice", "pw"); err != nil {
		t.Fatal(err)
	}
	nextEvent(t, c, EventSynced)
	if err := c.Login(ctx, "alice", "pw"); err != nil {
		t.Fatal(err)
	}
	if ev := nextEvent(t, c, EventSynced, EventSessionEnded, EventGoodbye, EventDisconnected); ev.Kind != EventSynced {
		t.Fatalf("re-login produced %+v", ev)
	}
	if _, err := c.Whoami(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestLogout(t *testing.T) {
	cl := newFakeCluster(t, 1)
	cl.addUser(t, "alice", "pw")
	ctx := ctxT(t)
	c := dialT(t, testConfig(t, cl.addr(0)))
	if err := c.Login(ctx, "alice", "pw"); err != nil {
		t.Fatal(err)
	}
	tok := c.Token()
	if err := c.Logout(ctx); err != nil {
		t.Fatal(err)
	}
	if c.Token() != nil {
		t.Fatal("token kept after logout")
	}
	// The server closed the connection: the next request redials.
	if _, err := c.Whoami(ctx); !errors.Is(err, ErrNotLoggedIn) {
		t.Fatalf("whoami after logout: %v", err)
	}
	if err := c.Resume(ctx, "alice", tok); !errors.Is(err, ErrSessionInvalid) {
		t.Fatalf("resume after logout: %v", err)
	}
}

func TestHeartbeats(t *testing.T) {
	cl := newFakeCluster(t, 1)
	cl.addUser(t, "alice", "pw")
	c := dialT(t, testConfig(t, cl.addr(0)))
	if err := c.Login(ctxT(t), "alice", "pw"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "three pings", func() bool {
		cl.mu.Lock()
		defer cl.mu.Unlock()
		return cl.pings >= 3
	})
}

func TestConcurrentRequests(t *testing.T) {
	cl := newFakeCluster(t, 1)
	cl.addUser(t, "alice", "pw")
	c := dialT(t, testConfig(t, cl.addr(0)))
	ctx := ctxT(t)
	if err := c.Login(ctx, "alice", "pw"); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if w, err := c.Whoami(ctx); err != nil || w.User != "alice" {
				errs <- fmt.Errorf("%+v %v", w, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestDialFailsAndCloseTwice(t *testing.T) {
	cfg := testConfig(t, "127.0.0.1:1")
	if _, err := Dial(context.Background(), cfg); err == nil {
		t.Fatal("dial of a closed port succeeded")
	}
	cl := newFakeCluster(t, 1)
	c, err := Dial(context.Background(), testConfig(t, cl.addr(0)))
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	c.Close()
	if _, err := c.Whoami(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("after close: %v", err)
	}
	if _, ok := <-c.Events(); ok {
		t.Fatal("events not closed")
	}
}

func TestConfigValidate(t *testing.T) {
	good := DefaultConfig("127.0.0.1:7400")
	if err := good.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, mut := range map[string]func(*Config){
		"no addrs":    func(c *Config) { c.Addrs = nil },
		"bad device":  func(c *Config) { c.Device = "has space" },
		"no attempts": func(c *Config) { c.MaxSendAttempts = 0 },
		"no timeout":  func(c *Config) { c.RequestTimeout = 0 },
		"small frame": func(c *Config) { c.MaxFrame = MinMaxFrame - 1 },
		"no probe":    func(c *Config) { c.ProbeAfter = 0 },
		"no healthy":  func(c *Config) { c.HealthyAfter = 0 },
	} {
		c := DefaultConfig("127.0.0.1:7400")
		mut(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestErrorFormatAndIs(t *testing.T) {
	e := &Error{Code: wire.CodeRateLimited, Message: "sending too fast", RetryAfter: time.Second}
	if got := e.Error(); got != "rate_limited (209): sending too fast (retry after 1s)" {
		t.Fatalf("Error() = %q", got)
	}
	wrapped := fmt.Errorf("send: %w", e)
	if !errors.Is(wrapped, ErrRateLimited) || errors.Is(wrapped, ErrRefused) {
		t.Fatal("errors.Is by code")
	}
	if CodeOf(wrapped) != wire.CodeRateLimited || CodeOf(errors.New("x")) != wire.CodeOK {
		t.Fatal("CodeOf")
	}
	if !retryable(ErrUnavailable) || retryable(ErrRefused) || !retryable(fmt.Errorf("%w: eof", ErrConnLost)) || !retryable(ErrTimeout) {
		t.Fatal("retryable")
	}
}

// TestReconnect_RevokedResumeEndsTheSession: a resume answered with a
// session-ending code (the device logged in elsewhere, the password
// changed, the account was deleted) ends the session at once, with that
// error, instead of resuming again.
func TestReconnect_RevokedResumeEndsTheSession(t *testing.T) {
	for _, code := range []wire.Code{wire.CodeSessionReplaced, wire.CodePasswordChanged, wire.CodeAccountDeleted} {
		t.Run(code.Name(), func(t *testing.T) {
			cl := newFakeCluster(t, 1)
			cl.addUser(t, "alice", "pw")
			c := dialT(t, testConfig(t, cl.addr(0)))
			if err := c.Login(ctxT(t), "alice", "pw"); err != nil {
				t.Fatal(err)
			}
			cl.mu.Lock()
			cl.resumeCode = code
			cl.mu.Unlock()
			cl.nodes[0].dropAll()
			ev := nextEvent(t, c, EventSessionEnded)
			if CodeOf(ev.Err) != code {
				t.Fatalf("session ended with %v, want %s", ev.Err, code.Name())
			}
			time.Sleep(300 * time.Millisecond) // a client that retried would have by now
			cl.mu.Lock()
			n := cl.resumes
			cl.mu.Unlock()
			if n != 1 {
				t.Fatalf("%d resumes, want 1", n)
			}
		})
	}
}

// TestEventAt_IsWhenTheFrameArrived: an event the application reads late
// carries when the client took its frame from the connection, not when it
// was read (the simulator judges the server by it: a revoked session's
// reader parked for seconds must not make an early push look late).
func TestEventAt_IsWhenTheFrameArrived(t *testing.T) {
	cl := newFakeCluster(t, 1)
	cl.addUser(t, "alice", "pw")
	c := dialT(t, testConfig(t, cl.addr(0)))
	if err := c.Login(ctxT(t), "alice", "pw"); err != nil {
		t.Fatal(err)
	}
	nextEvent(t, c, EventSynced)
	before := time.Now()
	cl.deliver("alice", "late reader")
	time.Sleep(300 * time.Millisecond) // the push arrives; nobody reads
	read := time.Now()
	ev := nextEvent(t, c, EventMessage)
	if ev.At.Before(before) || !ev.At.Before(read) {
		t.Fatalf("At %v: want after %v and before the read at %v", ev.At, before, read)
	}
}
