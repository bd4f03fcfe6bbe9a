package raftnet

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/hashicorp/raft"
)

// ErrPipelineBroken is returned by a pipeline's AppendEntries once one of
// its appends failed: raft abandons the pipeline then and goes back to
// plain AppendEntries.
var ErrPipelineBroken = errors.New("raftnet: pipeline broken by a failed append")

// The pipeline deadlock of raft v1.7.3's NetworkTransport (see node.go
// where pipelining used to be turned off): raft's pipelineDecode stops
// reading the futures after the first failed one, while its sender may be
// blocked in AppendEntries waiting for room that only the decoder's
// reading would make. Here the room is freed as futures are delivered,
// and once a failed future has been delivered (raft's decoder returns on
// it) the pipeline is broken: a waiting or later AppendEntries returns
// ErrPipelineBroken at once, so the sender leaves its loop and closes the
// pipeline. Waiting for room is also bounded by Config.Timeout.

var _ raft.AppendPipeline = (*pipeline)(nil)

type pipeline struct {
	t      *Transport
	p      *peer
	slots  chan struct{} // one per append awaiting delivery
	doneCh chan raft.AppendFuture
	kick   chan struct{}
	ctx    context.Context // cancelled by Close (or the transport's Close)
	cancel context.CancelFunc

	broken    chan struct{}
	breakOnce sync.Once
	mu        sync.Mutex
	fifo      []*future
}

type future struct {
	start time.Time
	args  *raft.AppendEntriesRequest
	resp  *raft.AppendEntriesResponse
	c     *call
}

func (f *future) Error() error                          { <-f.c.done; return f.c.err }
func (f *future) Start() time.Time                      { return f.start }
func (f *future) Request() *raft.AppendEntriesRequest   { return f.args }
func (f *future) Response() *raft.AppendEntriesResponse { return f.resp }

// failed reports whether raft's decoder stops at f.
func (f *future) failed() bool {
	return f.c.err != nil || !f.resp.Success || f.resp.Term > f.args.Term
}

// AppendEntriesPipeline returns a pipeline to target, or
// raft.ErrPipelineReplicationNotSupported with MaxInFlight 1.
func (t *Transport) AppendEntriesPipeline(_ raft.ServerID, target raft.ServerAddress) (raft.AppendPipeline, error) {
	if t.n.cfg.MaxInFlight < 2 {
		return nil, raft.ErrPipelineReplicationNotSupported
	}
	p, err := t.peer(target)
	if err != nil {
		return nil, err
	}
	pl := &pipeline{t: t, p: p, slots: make(chan struct{}, t.n.cfg.MaxInFlight),
		doneCh: make(chan raft.AppendFuture), kick: make(chan struct{}, 1), broken: make(chan struct{})}
	pl.ctx, pl.cancel = context.WithCancel(t.ctx)
	t.n.goFunc(pl.deliver)
	return pl, nil
}

// AppendEntries queues an append; it waits while MaxInFlight appends
// await delivery.
func (pl *pipeline) AppendEntries(args *raft.AppendEntriesRequest, resp *raft.AppendEntriesResponse) (raft.AppendFuture, error) {
	if err := pl.usable(); err != nil {
		return nil, err
	}
	timer := time.NewTimer(pl.t.n.cfg.Timeout)
	defer timer.Stop()
	select {
	case pl.slots <- struct{}{}:
	case <-pl.broken:
		return nil, ErrPipelineBroken
	case <-pl.ctx.Done():
		return nil, raft.ErrPipelineShutdown
	case <-timer.C:
		pl.breakNow()
		return nil, ErrTimeout
	}
	f := &future{start: time.Now(), args: args, resp: resp, c: newCall(tAppend, pl.t.pid, resp)}
	f.c.notify = pl.signal
	pl.mu.Lock()
	pl.fifo = append(pl.fifo, f)
	pl.mu.Unlock()
	if err := pl.p.send(f.c, func(dst []byte) []byte { return appendAppendReq(dst, args) }); err != nil {
		f.c.finish(nil, err) // delivered as failed, in order
		return nil, err
	}
	return f, nil
}

func (pl *pipeline) usable() error {
	select {
	case <-pl.broken:
		return ErrPipelineBroken
	case <-pl.ctx.Done():
		return raft.ErrPipelineShutdown
	default:
		return nil
	}
}

func (pl *pipeline) signal() {
	select {
	case pl.kick <- struct{}{}:
	default:
	}
}

func (pl *pipeline) breakNow() { pl.breakOnce.Do(func() { close(pl.broken) }) }

// Consumer returns the answered appends, in the order they were sent.
func (pl *pipeline) Consumer() <-chan raft.AppendFuture { return pl.doneCh }

// Close stops the pipeline; appends in flight are answered to nobody.
func (pl *pipeline) Close() error {
	pl.cancel()
	return nil
}

// deliver hands answered futures to the consumer in order, timing out
// the oldest when it waits too long.
func (pl *pipeline) deliver() {
	timeout := pl.t.n.cfg.Timeout
	for {
		pl.mu.Lock()
		var head *future
		if len(pl.fifo) > 0 {
			head = pl.fifo[0]
		}
		pl.mu.Unlock()
		if head == nil {
			select {
			case <-pl.kick:
				continue
			case <-pl.ctx.Done():
				return
			}
		}
		timer := time.NewTimer(time.Until(head.start.Add(timeout)))
		select {
		case <-head.c.done:
		case <-timer.C:
			pl.p.timedOut(head.c, timeout)
			head.c.finish(nil, ErrTimeout)
		case <-pl.ctx.Done():
			timer.Stop()
			return
		}
		timer.Stop()
		pl.mu.Lock()
		pl.fifo = pl.fifo[1:]
		pl.mu.Unlock()
		select {
		case <-pl.broken:
			<-pl.slots // nobody reads any more
			continue
		default:
		}
		select {
		case pl.doneCh <- head:
		case <-pl.ctx.Done():
			return
		}
		if head.failed() {
			pl.breakNow()
		}
		<-pl.slots
	}
}
