package gate

import (
	"context"
	"errors"
	"fmt"
	"net"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/roamhq/roam/hlr"
	"github.com/roamhq/roam/node/mux"
	"github.com/roamhq/roam/vlr"
)

func TestExecQuery_RoundTrip(t *testing.T) {
	var gotPID atomic.Uint32
	var gotCmd hlr.Cmd
	var mu sync.Mutex
	name := "Ann"
	want := hlr.Result{
		Status: hlr.StatusOK, MsgID: 7, Seq: 42, Dup: true, Epoch: 3, CredGen: 4, More: true,
	}
	wantAns := &hlr.Answer{Inbox: &hlr.Inbox{Messages: []hlr.Message{{Seq: 1, ID: 2, From: "x", To: "y", Body: []byte{0, 1}}}, Head: 5, More: true}}
	h := &fakeHandler{
		exec: func(_ context.Context, pid uint16, cmd hlr.Cmd) (hlr.Result, error) {
			gotPID.Store(uint32(pid))
			mu.Lock()
			gotCmd = cmd
			mu.Unlock()
			return want, nil
		},
		query: func(_ context.Context, pid uint16, q hlr.Query) (*hlr.Answer, error) {
			if q.Kind != hlr.QueryInbox || q.User != "ann" || q.After != 3 || !q.Linear || pid != 9 {
				return nil, fmt.Errorf("unexpected query %+v at %d", q, pid)
			}
			return wantAns, nil
		},
	}
	b := startNode(t, "b", "", h, nil)
	a := startNode(t, "a", "", nil, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	cmd := hlr.Cmd{Op: hlr.OpSend, User: "ann", Peer: "bob", Device: "d1", CMID: 99, Body: []byte("hi"), Name: &name}
	res, err := a.gate.Exec(ctx, b.addr, 12, cmd)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(res, want) {
		t.Fatalf("result\n got %+v\nwant %+v", res, want)
	}
	mu.Lock()
	if gotPID.Load() != 12 || !reflect.DeepEqual(gotCmd, cmd) {
		t.Fatalf("handler got pid %d cmd %+v, want 12 %+v", gotPID.Load(), gotCmd, cmd)
	}
	mu.Unlock()

	ans, err := a.gate.Query(ctx, b.addr, 9, hlr.Query{Kind: hlr.QueryInbox, User: "ann", After: 3, Linear: true})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(ans, wantAns) {
		t.Fatalf("answer\n got %+v\nwant %+v", ans, wantAns)
	}
	st := a.gate.Stats()
	if st.Requests != 2 || st.RequestErrors != 0 || st.Dials != 1 || st.Peers != 1 {
		t.Fatalf("client stats %+v", st)
	}
	if st := b.gate.Stats(); st.Served != 2 {
		t.Fatalf("server stats %+v", st)
	}
}

func TestExec_RemoteErrorsMapToSentinels(t *testing.T) {
	h := &fakeHandler{
		exec: func(_ context.Context, pid uint16, _ hlr.Cmd) (hlr.Result, error) {
			switch pid {
			case 1:
				return hlr.Result{}, fmt.Errorf("partition 1: %w", &NotLeaderError{LeaderID: "n3", LeaderAddr: "10.0.0.3:7001"})
			case 2:
				return hlr.Result{}, hlr.ErrNotLeader
			case 3:
				return hlr.Result{}, fmt.Errorf("p3: %w", hlr.ErrUnknownPartition)
			case 4:
				return hlr.Result{}, fmt.Errorf("%w: context deadline exceeded", hlr.ErrTimeout)
			case 5:
				return hlr.Result{}, hlr.ErrClosed
			case 6:
				return hlr.Result{}, hlr.ErrTooLarge
			case 7:
				return hlr.Result{}, errors.New("disk on fire")
			case 8:
				panic("handler bug")
			}
			return hlr.Result{}, nil
		},
		query: func(_ context.Context, pid uint16, _ hlr.Query) (*hlr.Answer, error) {
			return nil, &NotLeaderError{LeaderID: "q", LeaderAddr: "qa"}
		},
	}
	b := startNode(t, "b", "", h, nil)
	a := startNode(t, "a", "", nil, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	_, err := a.gate.Exec(ctx, b.addr, 1, hlr.Cmd{Op: hlr.OpSend})
	var nl *NotLeaderError
	if !errors.Is(err, hlr.ErrNotLeader) || !errors.As(err, &nl) || nl.LeaderID != "n3" || nl.LeaderAddr != "10.0.0.3:7001" {
		t.Fatalf("pid 1: got %v (%#v), want NotLeaderError with hint", err, nl)
	}
	_, err = a.gate.Exec(ctx, b.addr, 2, hlr.Cmd{})
	if !errors.Is(err, hlr.ErrNotLeader) || !errors.As(err, &nl) || nl.LeaderID != "" {
		t.Fatalf("pid 2: got %v, want NotLeaderError without hint", err)
	}
	for pid, want := range map[uint16]error{3: hlr.ErrUnknownPartition, 4: hlr.ErrTimeout, 5: hlr.ErrClosed, 6: hlr.ErrTooLarge, 7: ErrRemote, 8: ErrRemote} {
		_, err := a.gate.Exec(ctx, b.addr, pid, hlr.Cmd{})
		if !errors.Is(err, want) {
			t.Errorf("pid %d: got %v, want %v", pid, err, want)
		}
		if errors.Is(err, ErrUnreachable) {
			t.Errorf("pid %d: remote error %v reported as a transport failure", pid, err)
		}
	}
	if _, err := a.gate.Query(ctx, b.addr, 1, hlr.Query{}); !errors.As(err, &nl) || nl.LeaderID != "q" {
		t.Fatalf("query: got %v", err)
	}
	// The connection survived all of it.
	if _, err := a.gate.Exec(ctx, b.addr, 100, hlr.Cmd{}); err != nil {
		t.Fatal(err)
	}
	if st := a.gate.Stats(); st.Dials != 1 || st.RequestErrors != 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestExec_ConcurrentRequestsArePipelinedAndBatched(t *testing.T) {
	const n = 1000
	var inside, most atomic.Int64
	h := &fakeHandler{exec: func(_ context.Context, pid uint16, cmd hlr.Cmd) (hlr.Result, error) {
		cur := inside.Add(1)
		defer inside.Add(-1)
		for m := most.Load(); cur > m && !most.CompareAndSwap(m, cur); m = most.Load() {
		}
		time.Sleep(time.Millisecond)
		return hlr.Result{Seq: cmd.Seq, MsgID: uint64(pid)}, nil
	}}
	b := startNode(t, "b", "", h, nil)
	a := startNode(t, "a", "", nil, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := a.gate.Exec(ctx, b.addr, uint16(i%64), hlr.Cmd{Op: hlr.OpSend, User: "u", Seq: uint64(i)})
			if err == nil && (res.Seq != uint64(i) || res.MsgID != uint64(i%64)) {
				err = fmt.Errorf("request %d got the reply %+v", i, res)
			}
			if err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	elapsed := time.Since(start)
	ca, cb := a.gate.Stats(), b.gate.Stats()
	t.Logf("%d requests in %v; most in the handler at once %d; client %d writes (%.1f frames each, max %d); server %d writes (%.1f frames each, max %d)",
		n, elapsed, most.Load(), ca.Batches, ca.FramesPerBatch(), ca.MaxBatch, cb.Batches, cb.FramesPerBatch(), cb.MaxBatch)
	if ca.Requests != n || cb.Served != n || ca.Dials != 1 {
		t.Fatalf("client %+v server %+v", ca, cb)
	}
	if most.Load() < 2 {
		t.Errorf("requests were served one at a time (most in flight %d)", most.Load())
	}
	if ca.Batches >= n || cb.Batches >= n {
		t.Errorf("no batching: %d client writes and %d server writes for %d requests", ca.Batches, cb.Batches, n)
	}
	if elapsed > 5*time.Second { // one at a time would take at least n ms
		t.Errorf("%d requests of 1ms took %v", n, elapsed)
	}
}

func TestOneWay_InOrderAndBatched(t *testing.T) {
	for _, delay := range []time.Duration{0, 2 * time.Millisecond} {
		t.Run(fmt.Sprintf("BatchDelay=%v", delay), func(t *testing.T) {
			b := startNode(t, "b", "", nil, nil)
			a := startNode(t, "a", "", nil, func(c *Config) { c.BatchDelay = delay })
			const n = 4000
			var want []item
			for i := range n {
				user := fmt.Sprintf("u%d", i)
				locs := []hlr.Location{{Device: "d", Node: "b", Epoch: uint64(i)}}
				switch i % 4 {
				case 0:
					m := &hlr.Message{Seq: uint64(i), ID: uint64(i), From: "f", To: user, Body: []byte{byte(i)}}
					a.gate.Deliver(b.addr, user, locs, m)
					want = append(want, item{Kind: "deliver", From: "a", User: user, Locs: locs, Msg: m})
				case 1:
					a.gate.Cancel(b.addr, user, locs[0], "session_replaced")
					want = append(want, item{Kind: "cancel", User: user, Loc: locs[0], Reason: "session_replaced"})
				case 2:
					a.gate.Notify(b.addr, user, locs, "request", "p")
					want = append(want, item{Kind: "notify", User: user, Locs: locs, Event: "request", Peer: "p"})
				case 3:
					ups := []vlr.PresenceUpdate{{User: user, Status: "online"}}
					a.gate.Presence(b.addr, ups, i == 3)
					want = append(want, item{Kind: "presence", From: "a", Ups: ups, Full: i == 3})
				}
			}
			waitFor(t, 10*time.Second, "all items", func() bool { return b.h.count() >= n })
			got := b.h.received()
			if len(got) != n {
				t.Fatalf("got %d items, want %d", len(got), n)
			}
			for i := range got {
				if !reflect.DeepEqual(got[i], want[i]) {
					t.Fatalf("item %d:\n got %+v\nwant %+v", i, got[i], want[i])
				}
			}
			st := a.gate.Stats()
			t.Logf("%d items in %d writes (%.1f frames each, max %d)", n, st.Batches, st.FramesPerBatch(), st.MaxBatch)
			if st.Sent != n || st.Drops != 0 || b.gate.Stats().Received != n {
				t.Fatalf("client %+v server %+v", st, b.gate.Stats())
			}
			if st.Batches >= n/2 {
				t.Errorf("%d writes for %d items: not batched", st.Batches, n)
			}
		})
	}
}

func TestOneWay_BatchDelayCoalescesATrickle(t *testing.T) {
	b := startNode(t, "b", "", nil, nil)
	a := startNode(t, "a", "", nil, func(c *Config) { c.BatchDelay = 50 * time.Millisecond })
	a.gate.Cancel(b.addr, "u0", hlr.Location{}, "x") // connect first
	waitFor(t, 5*time.Second, "first item", func() bool { return b.h.count() == 1 })
	before := a.gate.Stats().Batches
	for i := range 10 {
		a.gate.Cancel(b.addr, fmt.Sprint("u", i+1), hlr.Location{}, "x")
		time.Sleep(time.Millisecond)
	}
	waitFor(t, 5*time.Second, "all items", func() bool { return b.h.count() == 11 })
	if n := a.gate.Stats().Batches - before; n > 3 {
		t.Errorf("10 items 1ms apart took %d writes with a 50ms BatchDelay", n)
	}
}

func TestPresence_LongListIsChunked(t *testing.T) {
	b := startNode(t, "b", "", nil, nil)
	a := startNode(t, "a", "", nil, nil)
	ups := make([]vlr.PresenceUpdate, 2*presenceChunk+5)
	for i := range ups {
		ups[i] = vlr.PresenceUpdate{User: fmt.Sprint("user", i), Status: "away"}
	}
	a.gate.Presence(b.addr, ups, true)
	a.gate.Presence(b.addr, nil, true) // an empty full snapshot still travels
	waitFor(t, 5*time.Second, "presence frames", func() bool { return b.h.count() == 4 })
	got := b.h.received()
	var all []vlr.PresenceUpdate
	for i, it := range got[:3] {
		if it.From != "a" || it.Full != (i == 0) {
			t.Fatalf("chunk %d: from %q full %v", i, it.From, it.Full)
		}
		all = append(all, it.Ups...)
	}
	if !reflect.DeepEqual(all, ups) {
		t.Fatal("chunks do not add up to the list")
	}
	if !got[3].Full || len(got[3].Ups) != 0 {
		t.Fatalf("empty snapshot arrived as %+v", got[3])
	}
}

func TestPeerRestart_ClientRedials(t *testing.T) {
	b := startNode(t, "b", "", nil, nil)
	a := startNode(t, "a", "", nil, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := a.gate.Exec(ctx, b.addr, 1, hlr.Cmd{}); err != nil {
		t.Fatal(err)
	}
	addr := b.addr
	b.stop()

	h2 := &fakeHandler{}
	b2 := startNode(t, "b", addr, h2, nil)
	var attempts int
	for {
		attempts++
		rctx, rcancel := context.WithTimeout(ctx, time.Second)
		res, err := a.gate.Exec(rctx, addr, 2, hlr.Cmd{Seq: 5})
		rcancel()
		if err == nil {
			if res.Seq != 5 {
				t.Fatalf("reply %+v", res)
			}
			break
		}
		if !errors.Is(err, ErrUnreachable) {
			t.Fatalf("attempt %d: %v, want ErrUnreachable while the peer restarts", attempts, err)
		}
		if ctx.Err() != nil {
			t.Fatalf("never reconnected: %v", err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	a.gate.Deliver(addr, "u", nil, &hlr.Message{ID: 1})
	waitFor(t, 5*time.Second, "delivery after restart", func() bool { return h2.count() == 1 })
	st := a.gate.Stats()
	t.Logf("reconnected after %d attempts; stats %+v", attempts, st)
	if st.Dials < 2 {
		t.Fatalf("dials %d, want a redial", st.Dials)
	}
	_ = b2
}

func TestUnreachable_FailsFast(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	a := startNode(t, "a", "", nil, nil)

	for i := range 3 { // the first dials; the others fail during the backoff or dial again
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		start := time.Now()
		_, err := a.gate.Exec(ctx, dead, 1, hlr.Cmd{})
		cancel()
		if !errors.Is(err, ErrUnreachable) {
			t.Fatalf("attempt %d: got %v, want ErrUnreachable", i, err)
		}
		if d := time.Since(start); d > time.Second {
			t.Fatalf("attempt %d took %v", i, d)
		}
	}
	a.gate.Deliver(dead, "u", nil, &hlr.Message{})
	waitFor(t, 5*time.Second, "the item to be dropped", func() bool { return a.gate.Stats().Drops == 1 })
	if st := a.gate.Stats(); st.RequestErrors != 3 || st.DialErrors == 0 {
		t.Fatalf("stats %+v", st)
	}
}

func TestUnreachable_BlackholeEndsAtTheDeadline(t *testing.T) {
	fd := &faultDialer{block: true}
	a := startNode(t, "a", "", nil, func(c *Config) { c.Dial = fd.dial; c.DialTimeout = 10 * time.Second })
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, err := a.gate.Exec(ctx, "192.0.2.1:7000", 1, hlr.Cmd{})
	if !errors.Is(err, ErrUnreachable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got %v, want ErrUnreachable and DeadlineExceeded", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("took %v with a 100ms deadline", d)
	}
}

func TestInFlight_ConnectionDiesFailsTheRequest(t *testing.T) {
	entered := make(chan struct{}, 1)
	h := &fakeHandler{exec: func(ctx context.Context, _ uint16, _ hlr.Cmd) (hlr.Result, error) {
		entered <- struct{}{}
		<-ctx.Done() // the server cancels it when the connection goes
		return hlr.Result{}, ctx.Err()
	}}
	b := startNode(t, "b", "", h, nil)
	fd := &faultDialer{}
	a := startNode(t, "a", "", nil, func(c *Config) { c.Dial = fd.dial })

	errc := make(chan error, 1)
	go func() {
		_, err := a.gate.Exec(context.Background(), b.addr, 1, hlr.Cmd{})
		errc <- err
	}()
	<-entered
	fd.breakAll()
	select {
	case err := <-errc:
		if !errors.Is(err, ErrUnreachable) {
			t.Fatalf("got %v, want ErrUnreachable", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("request in flight hangs after its connection died")
	}
	// The server side notices too and cancels the handler.
	waitFor(t, 5*time.Second, "the server to drop the connection", func() bool {
		b.gate.mu.Lock()
		defer b.gate.mu.Unlock()
		return len(b.gate.conns) == 0
	})
}

func TestInFlight_PeerMuxClosesFailsTheRequest(t *testing.T) {
	entered := make(chan struct{}, 1)
	h := &fakeHandler{exec: func(ctx context.Context, _ uint16, _ hlr.Cmd) (hlr.Result, error) {
		entered <- struct{}{}
		<-ctx.Done()
		return hlr.Result{}, ctx.Err()
	}}
	b := startNode(t, "b", "", h, nil)
	a := startNode(t, "a", "", nil, nil)
	errc := make(chan error, 1)
	go func() {
		_, err := a.gate.Exec(context.Background(), b.addr, 1, hlr.Cmd{})
		errc <- err
	}()
	<-entered
	b.mux.Close() // before the gate: the mux waits for the gate's handler
	select {
	case err := <-errc:
		if !errors.Is(err, ErrUnreachable) {
			t.Fatalf("got %v, want ErrUnreachable", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("request in flight hangs after the peer went away")
	}
}

func TestClose_TwiceAndAfterwards(t *testing.T) {
	b := startNode(t, "b", "", nil, nil)
	a := startNode(t, "a", "", nil, nil)
	if _, err := a.gate.Exec(context.Background(), b.addr, 1, hlr.Cmd{}); err != nil {
		t.Fatal(err)
	}
	if err := a.gate.Close(); err != nil {
		t.Fatal(err)
	}
	if err := a.gate.Close(); err != nil {
		t.Fatal(err)
	}
	_, err := a.gate.Exec(context.Background(), b.addr, 1, hlr.Cmd{})
	if !errors.Is(err, ErrClosed) || !errors.Is(err, hlr.ErrClosed) {
		t.Fatalf("Exec after Close: %v", err)
	}
	a.gate.Deliver(b.addr, "u", nil, nil)
	a.gate.Presence(b.addr, nil, true)
	if st := a.gate.Stats(); st.Drops != 2 {
		t.Fatalf("drops %d after Close, want 2", st.Drops)
	}
	// b still serves others.
	c := startNode(t, "c", "", nil, nil)
	if _, err := c.gate.Exec(context.Background(), b.addr, 1, hlr.Cmd{}); err != nil {
		t.Fatal(err)
	}
}

func TestClose_FailsRequestsInFlight(t *testing.T) {
	entered := make(chan struct{}, 1)
	release := make(chan struct{})
	h := &fakeHandler{exec: func(ctx context.Context, _ uint16, _ hlr.Cmd) (hlr.Result, error) {
		entered <- struct{}{}
		select {
		case <-release:
		case <-ctx.Done():
		}
		return hlr.Result{}, nil
	}}
	b := startNode(t, "b", "", h, nil)
	a := startNode(t, "a", "", nil, nil)
	errc := make(chan error, 1)
	go func() {
		_, err := a.gate.Exec(context.Background(), b.addr, 1, hlr.Cmd{})
		errc <- err
	}()
	<-entered
	a.gate.Close()
	if err := <-errc; !errors.Is(err, ErrClosed) {
		t.Fatalf("got %v, want ErrClosed", err)
	}
	close(release)
}

func TestClose_CancelsHandlersInProgress(t *testing.T) {
	entered := make(chan struct{}, 1)
	h := &fakeHandler{exec: func(ctx context.Context, _ uint16, _ hlr.Cmd) (hlr.Result, error) {
		entered <- struct{}{}
		<-ctx.Done()
		return hlr.Result{}, ctx.Err()
	}}
	b := startNode(t, "b", "", h, nil)
	a := startNode(t, "a", "", nil, nil)
	errc := make(chan error, 1)
	go func() {
		_, err := a.gate.Exec(context.Background(), b.addr, 1, hlr.Cmd{})
		errc <- err
	}()
	<-entered
	done := make(chan struct{})
	go func() { b.gate.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close waits forever for a handler")
	}
	if err := <-errc; !errors.Is(err, ErrUnreachable) {
		t.Fatalf("got %v, want ErrUnreachable", err)
	}
}

func TestForget_ClosesAndRedialsLater(t *testing.T) {
	b := startNode(t, "b", "", nil, nil)
	a := startNode(t, "a", "", nil, nil)
	ctx := context.Background()
	if _, err := a.gate.Exec(ctx, b.addr, 1, hlr.Cmd{}); err != nil {
		t.Fatal(err)
	}
	a.gate.Forget(b.addr)
	a.gate.Forget(b.addr)
	a.gate.Forget("nobody:1")
	waitFor(t, 5*time.Second, "b to see the connection close", func() bool {
		b.gate.mu.Lock()
		defer b.gate.mu.Unlock()
		return len(b.gate.conns) == 0
	})
	if st := a.gate.Stats(); st.Peers != 0 {
		t.Fatalf("peers %d after Forget", st.Peers)
	}
	if _, err := a.gate.Exec(ctx, b.addr, 1, hlr.Cmd{}); err != nil {
		t.Fatal(err)
	}
	if st := a.gate.Stats(); st.Dials != 2 {
		t.Fatalf("dials %d, want 2", st.Dials)
	}
}

func TestQueueFull_DropsAndResyncs(t *testing.T) {
	// A peer that accepts and never reads: writes block, the queue fills.
	var (
		mu      sync.Mutex
		servers []net.Conn
	)
	resync := make(chan string, 10)
	a := startNode(t, "a", "", nil, func(c *Config) {
		c.MaxFrameBytes = minFrameCap
		c.MaxQueueBytes = minFrameCap
		c.WriteTimeout = time.Hour
		c.Resync = func(addr string) { resync <- addr }
		c.Dial = func(ctx context.Context, addr string) (net.Conn, error) {
			cli, srv := net.Pipe()
			mu.Lock()
			servers = append(servers, srv)
			mu.Unlock()
			return cli, nil
		}
	})
	defer func() {
		mu.Lock()
		for _, c := range servers {
			c.Close()
		}
		mu.Unlock()
	}()
	body := make([]byte, 100)
	for i := 0; a.gate.Stats().Drops == 0; i++ {
		if i > 1000 {
			t.Fatal("nothing dropped")
		}
		a.gate.Deliver("pipe", "u", nil, &hlr.Message{Body: body})
	}
	// A request waits for room and gives up at its deadline.
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := a.gate.Exec(ctx, "pipe", 1, hlr.Cmd{Body: make([]byte, 3000)}); !errors.Is(err, hlr.ErrTimeout) {
		t.Fatalf("got %v, want a timeout", err)
	}
	select {
	case addr := <-resync:
		t.Fatalf("resync of %s while the queue is still full", addr)
	default:
	}
	// Let the peer read (and discard) everything: the queue drains and
	// the node is asked to resynchronise.
	mu.Lock()
	for _, c := range servers {
		go func() {
			buf := make([]byte, 4096)
			for {
				if _, err := c.Read(buf); err != nil {
					return
				}
			}
		}()
	}
	mu.Unlock()
	select {
	case addr := <-resync:
		if addr != "pipe" {
			t.Fatalf("resync of %q", addr)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no resync after drops")
	}
}

func TestServer_SurvivesGarbage(t *testing.T) {
	b := startNode(t, "b", "", nil, nil)
	a := startNode(t, "a", "", nil, nil)
	hello, _ := appendFrame(nil, frameHello, 0, &helloBody{Node: "x"}, minFrameCap)
	exec, _ := appendFrame(nil, frameExec, 1, &execBody{PID: 1}, minFrameCap)
	badExec := []byte{0, 0, 0, 10, frameExec, 0, 0, 0, 2, 0xdd, 0xff, 0xff, 0xff, 0xff} // array bomb as the body
	cases := map[string]struct {
		version uint16
		data    []byte
		replies bool // the connection answers the exec before closing
	}{
		"bad version":        {version: 9, data: hello},
		"no hello":           {version: protoVersion, data: exec},
		"huge length":        {version: protoVersion, data: append(append([]byte{}, hello...), 0xff, 0xff, 0xff, 0xff, 1)},
		"short length":       {version: protoVersion, data: append(append([]byte{}, hello...), 0, 0, 0, 1, 1)},
		"unknown type":       {version: protoVersion, data: append(append([]byte{}, hello...), 0, 0, 0, 6, 99, 0, 0, 0, 0, 0xc0)},
		"reply to server":    {version: protoVersion, data: append(append([]byte{}, hello...), 0, 0, 0, 6, frameReply, 0, 0, 0, 0, 0xc0)},
		"bad one-way body":   {version: protoVersion, data: append(append([]byte{}, hello...), 0, 0, 0, 7, frameDeliver, 0, 0, 0, 0, 0xda, 0xff)},
		"bad request body":   {version: protoVersion, data: append(append([]byte{}, hello...), badExec...), replies: true},
		"random":             {version: protoVersion, data: []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")},
		"hello without node": {version: protoVersion, data: func() []byte { f, _ := appendFrame(nil, frameHello, 0, &helloBody{}, minFrameCap); return f }()},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			c, err := mux.Dial(ctx, testSec(t, "x"), b.addr, mux.KindGate, tc.version)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if _, err := c.Write(tc.data); err != nil {
				t.Fatal(err)
			}
			c.SetReadDeadline(time.Now().Add(5 * time.Second))
			d := newDecoder(minFrameCap)
			var replies int
			for {
				for {
					f, ok, err := d.next()
					if err != nil {
						t.Fatal(err)
					}
					if !ok {
						break
					}
					var r replyBody
					if f.typ == frameReply && f.id == 0 && decodeBody(f.body, &r) == nil && r.Level == gateLevel {
						continue // the welcome
					}
					if f.typ != frameReply || decodeBody(f.body, &r) != nil || r.Code != codeBadRequest {
						t.Fatalf("unexpected frame %d %+v", f.typ, r)
					}
					replies++
					c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
				}
				if _, err := d.fill(c); err != nil {
					var ne net.Error
					if errors.As(err, &ne) && ne.Timeout() && tc.replies {
						break // the connection stays up after a bad request body
					}
					if errors.As(err, &ne) && ne.Timeout() {
						t.Fatal("server kept the connection open")
					}
					break
				}
			}
			if tc.replies != (replies == 1) {
				t.Fatalf("%d replies", replies)
			}
		})
	}
	if _, err := a.gate.Exec(context.Background(), b.addr, 1, hlr.Cmd{}); err != nil {
		t.Fatalf("after garbage: %v", err)
	}
	if st := b.gate.Stats(); st.BadFrames < 7 {
		t.Fatalf("bad frames %d", st.BadFrames)
	}
}

func TestConfig_Validate(t *testing.T) {
	m, err := mux.New(mustListen(t), testSec(t, "n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ok := DefaultConfig()
	ok.NodeID, ok.Mux = "n", m
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for name, mod := range map[string]func(*Config){
		"no node id":      func(c *Config) { c.NodeID = "" },
		"no mux":          func(c *Config) { c.Mux = nil },
		"zero timeout":    func(c *Config) { c.RequestTimeout = 0 },
		"negative delay":  func(c *Config) { c.BatchDelay = -1 },
		"tiny frame":      func(c *Config) { c.MaxFrameBytes = 100 },
		"queue < frame":   func(c *Config) { c.MaxQueueBytes = c.MaxFrameBytes - 1 },
		"no concurrency":  func(c *Config) { c.MaxConcurrent = 0 },
		"backoff reverse": func(c *Config) { c.RedialMax = c.RedialMin / 2 },
		"zero batch":      func(c *Config) { c.MaxBatchBytes = 0 },
	} {
		c := ok
		mod(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
		if _, err := New(c); err == nil {
			t.Errorf("%s: New accepted", name)
		}
	}
}

func mustListen(t *testing.T) net.Listener {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

func TestFlappingPeer_BacksOff(t *testing.T) {
	// A peer that accepts connections and drops them at once.
	ln := mustListen(t)
	var accepted atomic.Int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			c.Close()
		}
	}()
	defer func() { ln.Close(); wg.Wait() }()
	a := startNode(t, "a", "", nil, nil)
	for start := time.Now(); time.Since(start) < 300*time.Millisecond; {
		a.gate.Deliver(ln.Addr().String(), "u", nil, &hlr.Message{})
		time.Sleep(time.Millisecond)
	}
	st := a.gate.Stats()
	t.Logf("%d dials, %d accepted, %d connections lost, %d drops in 300ms", st.Dials, accepted.Load(), st.ConnsLost, st.Drops)
	if st.Dials > 30 {
		t.Fatalf("%d dials in 300ms to a peer that drops every connection", st.Dials)
	}
}
