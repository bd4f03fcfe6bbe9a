package hlr

import (
	"context"
	"fmt"
	"sync"

	"github.com/hashicorp/raft"
)

// verifier coalesces concurrent VerifyLeader calls: a caller joins the next
// round that starts after it arrived, so every caller's read is preceded by
// a confirmation of leadership that began after the caller asked, yet many
// readers share one round of heartbeats.
type verifier struct {
	mu   sync.Mutex
	cur  *verifyRound
	next *verifyRound
}

type verifyRound struct {
	done chan struct{}
	err  error
}

func (v *verifier) verify(ctx context.Context, r *raft.Raft, stop <-chan struct{}) error {
	v.mu.Lock()
	if v.next == nil {
		v.next = &verifyRound{done: make(chan struct{})}
	}
	rd := v.next
	if v.cur == nil {
		v.startLocked(r, stop)
	}
	v.mu.Unlock()
	select {
	case <-rd.done:
		return rd.err
	case <-ctx.Done():
		return fmt.Errorf("%w: verifying leadership: %v", ErrTimeout, ctx.Err())
	}
}

func (v *verifier) startLocked(r *raft.Raft, stop <-chan struct{}) {
	rd := v.next
	v.cur, v.next = rd, nil
	go func() {
		err := futureError(r.VerifyLeader(), stop)
		v.mu.Lock()
		rd.err = err
		close(rd.done)
		v.cur = nil
		if v.next != nil {
			v.startLocked(r, stop)
		}
		v.mu.Unlock()
	}()
}
