package vlr

import (
	"context"
	"sync"
	"time"

	"github.com/roamhq/roam/hlr"
)

// Cursors acknowledged by clients are written to the home register lazily:
// every CursorFlushInterval the flusher writes the cursors that moved, in
// parallel so that the partitions' proposers pack many into one Raft entry.
// A session's cursor is also written when it ends.

// maxCursorWriters bounds the flusher's concurrent home-register calls.
const maxCursorWriters = 256

func (s *Server) markDirty(sess *session) {
	s.dirtyMu.Lock()
	s.dirty[sess] = struct{}{}
	s.dirtyMu.Unlock()
}

func (s *Server) cursorLoop() {
	t := time.NewTicker(s.cfg.CursorFlushInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			s.flushCursors()
		case <-s.stopping:
			return // sessions flush their own cursors as they end
		}
	}
}

func (s *Server) flushCursors() {
	s.dirtyMu.Lock()
	batch := s.dirty
	s.dirty = make(map[*session]struct{}, len(batch))
	s.dirtyMu.Unlock()
	if len(batch) == 0 {
		return
	}
	sem := make(chan struct{}, maxCursorWriters)
	var wg sync.WaitGroup
	for sess := range batch {
		sem <- struct{}{}
		wg.Add(1)
		go func(sess *session) {
			defer func() { <-sem; wg.Done() }()
			s.flushCursor(s.ctx, sess)
		}(sess)
	}
	wg.Wait()
}

// flushCursor writes sess's cursor, and its cursors in groups, if they
// moved.
func (s *Server) flushCursor(ctx context.Context, sess *session) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.RequestTimeout)
	defer cancel()
	for _, gc := range sess.groupCursorsToFlush() {
		if _, err := s.home.Exec(ctx, hlr.Cmd{Op: hlr.OpGroupCursor, Group: gc.group, User: sess.user, Device: sess.device, Seq: gc.seq}); err != nil {
			s.log.Debug("group cursor write failed; will retry", "user", sess.user, "group", gc.group, "err", err)
			s.markDirty(sess)
			continue
		}
		sess.markGroupFlushed(gc.group, gc.seq)
	}
	seq, ok := sess.cursorToFlush()
	if !ok {
		return
	}
	if _, err := s.home.Exec(ctx, hlr.Cmd{Op: hlr.OpCursor, User: sess.user, Device: sess.device, Seq: seq}); err != nil {
		s.log.Debug("cursor write failed; will retry", "user", sess.user, "err", err)
		s.markDirty(sess)
		return
	}
	sess.markFlushed(seq)
}
