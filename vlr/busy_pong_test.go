package vlr_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/roamhq/roam/hlr"
	"github.com/roamhq/roam/wire"
)

// slowHome is fakeHome whose friend-list reads take hold once set.
type slowHome struct {
	fakeHome
	hold atomic.Int64 // nanoseconds
}

func (h *slowHome) Query(ctx context.Context, q hlr.Query) (*hlr.Answer, error) {
	if d := time.Duration(h.hold.Load()); d > 0 && q.Kind == hlr.QueryFriends {
		select {
		case <-time.After(d):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	return h.fakeHome.Query(ctx, q)
}

// TestBusyPong_HeldRequestSignsLife: while an in-order request holds the
// connection's reader (its home register is slow), the server pushes
// pongs with request id 0, so a client's liveness ping queued behind it
// does not take the live node for a frozen one; the request's reply and
// the ping's pong follow, in order. Without the busy pongs nothing at
// all arrives during the hold, as from a SIGSTOPped node, and a client
// must allow the whole storage timeout before it leaves a frozen one
// (the 10-minute sim's 8.2 s pause waits).
func TestBusyPong_HeldRequestSignsLife(t *testing.T) {
	home := &slowHome{}
	srv := homeServer(t, "bp", home)
	c, rd := helloConn(t, srv)
	if f := exchange(t, c, rd, wire.TResume, 2, &wire.Resume{User: "alice", Device: "d1", Token: fuzzToken}); f.Type != wire.TLoginOK {
		t.Fatalf("resume: %s", f.Type)
	}
	const hold = 1500 * time.Millisecond
	home.hold.Store(int64(hold))
	var out []byte
	for _, rq := range []struct {
		t   wire.Type
		rid uint32
	}{{wire.TFriendList, 3}, {wire.TPing, 4}} {
		var err error
		if out, err = wire.AppendFrame(out, rq.t, rq.rid, &wire.Empty{}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := c.Write(out); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	c.SetReadDeadline(start.Add(10 * time.Second))
	var busy []time.Duration
	for {
		f, err := rd.ReadFrame()
		if err != nil {
			t.Fatalf("after %v: %v", time.Since(start), err)
		}
		switch {
		case f.Type == wire.TPong && f.RID == 0:
			busy = append(busy, time.Since(start))
			continue
		case f.RID == 0:
			continue // another push
		case f.RID == 3:
			if f.Type != wire.TFriends {
				t.Fatalf("friend list answered %s", f.Type)
			}
			if took := time.Since(start); took < hold {
				t.Fatalf("the friend list came after %v, before the hold of %v ended", took, hold)
			}
			if len(busy) < 2 {
				t.Fatalf("busy pongs during a %v hold: at %v, want at least 2 (one per 400 ms)", hold, busy)
			}
			if busy[0] > 700*time.Millisecond {
				t.Fatalf("the first busy pong came %v into the hold", busy[0])
			}
			continue
		case f.RID == 4:
			if f.Type != wire.TPong || len(busy) < 2 {
				t.Fatalf("the ping got %s after %d busy pongs", f.Type, len(busy))
			}
			// Idle again: no more busy pongs.
			home.hold.Store(0)
			n := len(busy)
			c.SetReadDeadline(time.Now().Add(time.Second))
			if f, err := rd.ReadFrame(); err == nil {
				t.Fatalf("idle connection got %s rid %d (after %d busy pongs)", f.Type, f.RID, n)
			}
			return
		default:
			t.Fatalf("unexpected %s rid %d", f.Type, f.RID)
		}
	}
}
