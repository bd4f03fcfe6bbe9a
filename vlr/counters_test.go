package vlr

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/roamhq/roam/hlr"
	"github.com/roamhq/roam/wire"
)

// TestRequestCounts_ByTypeAndCode: answers are counted under the code the
// client is sent (a home-register timeout is unavailable, anything
// unexpected internal), duplicates and latencies of sends apart.
func TestRequestCounts_ByTypeAndCode(t *testing.T) {
	rc := newRequestCounts()
	start := time.Now().Add(-30 * time.Millisecond)
	rc.done(wire.TSend, &wire.SendAck{Seq: 1}, nil, start)
	rc.done(wire.TSend, &wire.SendAck{Seq: 1, Dup: true}, nil, start)
	rc.done(wire.TSend, nil, refuse(wire.CodeRefused), start)
	rc.done(wire.TSend, nil, fmt.Errorf("router: %w", hlr.ErrTimeout), start)
	rc.done(wire.TLoginFinish, nil, refuse(wire.CodeAuthFailed), time.Time{})
	rc.done(wire.TLoginFinish, nil, errors.New("disk on fire"), time.Time{})
	rc.done(wire.TSync, &wire.SyncReply{}, nil, time.Time{})
	rc.pushed(&hlr.Message{SentMS: time.Now().Add(-20 * time.Millisecond).UnixMilli()}, true)
	rc.pushed(&hlr.Message{SentMS: time.Now().Add(-time.Hour).UnixMilli()}, false) // a catch-up: no latency

	s := &Server{counts: rc}
	c := s.Counters()
	for _, w := range []struct {
		t    wire.Type
		code wire.Code
		n    uint64
	}{
		{wire.TSend, wire.CodeOK, 2}, {wire.TSend, wire.CodeRefused, 1}, {wire.TSend, wire.CodeUnavailable, 1},
		{wire.TLoginFinish, wire.CodeAuthFailed, 1}, {wire.TLoginFinish, wire.CodeInternal, 1}, {wire.TSync, wire.CodeOK, 1},
		{wire.TLoginFinish, wire.CodeOK, 0},
	} {
		if got := c.Count(w.t, w.code); got != w.n {
			t.Errorf("%s %s: %d, want %d", w.t, w.code.Name(), got, w.n)
		}
	}
	if len(c.Requests) != 6 {
		t.Errorf("%d (type, code) pairs, want the 6 seen: %+v", len(c.Requests), c.Requests)
	}
	if c.Deduplicated != 1 || c.Delivered != 2 {
		t.Errorf("dedup %d delivered %d, want 1 and 2", c.Deduplicated, c.Delivered)
	}
	if n := c.SendCommit.Count(); n != 2 {
		t.Errorf("send→commit observations %d, want the 2 acknowledged sends", n)
	}
	if c.SendCommit.Sum < int64(30*time.Millisecond) {
		t.Errorf("send→commit sum %v below the 2×30ms observed", time.Duration(c.SendCommit.Sum))
	}
	if n := c.CommitDelivery.Count(); n != 1 || c.CommitDelivery.Sum > int64(time.Second) {
		t.Errorf("commit→delivery %d observations, sum %v: want the live push only", n, time.Duration(c.CommitDelivery.Sum))
	}
}

func TestErrCode_AsTheClientIsAnswered(t *testing.T) {
	for _, c := range []struct {
		err  error
		want wire.Code
	}{
		{refuse(wire.CodeRateLimited), wire.CodeRateLimited},
		{fmt.Errorf("wrapped: %w", refuse(wire.CodeReauth)), wire.CodeReauth},
		{hlr.ErrNotLeader, wire.CodeUnavailable},
		{hlr.ErrClosed, wire.CodeUnavailable},
		{errors.New("boom"), wire.CodeInternal},
	} {
		if got := errCode(c.err); got != c.want {
			t.Errorf("errCode(%v) = %s, want %s", c.err, got.Name(), c.want.Name())
		}
	}
}
