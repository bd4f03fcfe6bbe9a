package client

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/roamhq/roam/node"
	"github.com/roamhq/roam/node/clustertest"
)

// backlogCluster starts a 2-node in-process cluster whose send rate lets
// one user send a backlog quickly.
func backlogCluster(t *testing.T) *clustertest.Cluster {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a real cluster")
	}
	return clustertest.New(t, 2, clustertest.Options{
		Partitions: 4,
		Configure: func(_ int, cfg *node.Config) {
			cfg.VLR.SendRate = 1e6
			cfg.VLR.SendBurst = 1e6
		},
	})
}

// befriendOn registers a and b on addr (through c), logs them in and
// makes them friends; it returns the two logged-in clients.
func befriendOn(t *testing.T, ctx context.Context, aAddr, bAddr, a, b string) (*Client, *Client) {
	t.Helper()
	acfg := testConfig(t, aAddr)
	acfg.Device = a + "-dev"
	acfg.RequestTimeout = 10 * time.Second
	ca := dialT(t, acfg)
	bcfg := testConfig(t, bAddr)
	bcfg.Device = b + "-dev"
	bcfg.RequestTimeout = 10 * time.Second
	cb := dialT(t, bcfg)
	for _, u := range []struct {
		c    *Client
		name string
	}{{ca, a}, {cb, b}} {
		if err := u.c.Register(ctx, u.name, "pw-"+u.name); err != nil {
			t.Fatalf("register %s: %v", u.name, err)
		}
		if err := u.c.Login(ctx, u.name, "pw-"+u.name); err != nil {
			t.Fatalf("login %s: %v", u.name, err)
		}
	}
	if err := ca.FriendRequest(ctx, b); err != nil {
		t.Fatal(err)
	}
	if err := cb.FriendAccept(ctx, a); err != nil {
		t.Fatal(err)
	}
	// The second half of the friendship reaches a's side asynchronously.
	waitFor(t, "the friendship on both sides", func() bool {
		f, err := ca.Friends(ctx)
		return err == nil && len(f.Friends) == 1
	})
	return ca, cb
}

// sendBacklog sends n messages of size bytes from c to user with many
// concurrent sends; message i (from 1) starts with "msg <i> ". It returns
// the bodies by inbox sequence number.
func sendBacklog(t *testing.T, ctx context.Context, c *Client, to string, n, size, workers int) map[uint64][]byte {
	t.Helper()
	var mu sync.Mutex
	bySeq := make(map[uint64][]byte, n)
	next := make(chan int)
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				body := bytes.Repeat([]byte{'x'}, size)
				copy(body, fmt.Sprintf("msg %d ", i))
				ack, err := c.Send(ctx, to, body)
				if err != nil {
					errs <- fmt.Errorf("send %d: %w", i, err)
					return
				}
				mu.Lock()
				bySeq[ack.Seq] = body
				mu.Unlock()
			}
		}()
	}
	for i := 1; i <= n; i++ {
		select {
		case next <- i:
		case err := <-errs:
			close(next)
			wg.Wait()
			t.Fatal(err)
		}
	}
	close(next)
	wg.Wait()
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
	if len(bySeq) != n {
		t.Fatalf("%d distinct sequence numbers for %d sends", len(bySeq), n)
	}
	return bySeq
}

// TestSync_BacklogLargerThanClientFrame is the regression test for issue
// 12.1: the server sent sync pages of up to 512 messages (~830 KB) to a
// client that accepts frames of 64 KiB; the client dropped the connection,
// resumed and asked again, forever. Here 2,000 messages of 1,400 bytes
// wait for a user who logs in on the other node with the default
// MaxFrame: every one must arrive once, in order, and the sync complete.
func TestSync_BacklogLargerThanClientFrame(t *testing.T) {
	cl := backlogCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	sender, rcv := befriendOn(t, ctx, cl.ClientAddr(0), cl.ClientAddr(1), "sally", "ronny")
	tok := rcv.Token()
	rcv.Close() // offline while the backlog builds up

	const n, size = 2000, 1400
	bySeq := sendBacklog(t, ctx, sender, "ronny", n, size, 32)

	cfg := testConfig(t, cl.ClientAddr(1))
	cfg.Device = "ronny-dev"
	cfg.RequestTimeout = 10 * time.Second
	if cfg.MaxFrame != DefaultConfig().MaxFrame {
		t.Fatalf("MaxFrame %d, want the default", cfg.MaxFrame)
	}
	rcv = dialT(t, cfg)
	if err := rcv.Resume(ctx, "ronny", tok); err != nil {
		t.Fatal(err)
	}
	for seq := uint64(1); seq <= n; seq++ {
		ev := nextEventTimeout(t, rcv, 15*time.Second, EventMessage, EventSynced, EventDisconnected)
		if ev.Kind != EventMessage {
			t.Fatalf("after %d messages: %v %v, want message %d", seq-1, ev.Kind, ev.Err, seq)
		}
		if ev.Message.Seq != seq || !bytes.Equal(ev.Message.Body, bySeq[seq]) {
			t.Fatalf("message %d: got seq %d body %.12q, want %.12q", seq, ev.Message.Seq, ev.Message.Body, bySeq[seq])
		}
	}
	ev := nextEventTimeout(t, rcv, 15*time.Second, EventSynced, EventMessage, EventDisconnected)
	if ev.Kind != EventSynced || ev.Cursor != n {
		t.Fatalf("after the backlog: %v cursor %d %v, want synced at %d", ev.Kind, ev.Cursor, ev.Err, n)
	}
}
