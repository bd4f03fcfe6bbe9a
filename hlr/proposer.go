package hlr

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	"github.com/vmihailenco/msgpack/v5"

	"github.com/roamhq/roam/hist"
)

// proposer turns many concurrent commands into few Raft entries. One
// goroutine collects whatever commands are waiting (up to maxCmds commands
// or maxBytes of payload) into one entry and hands it to raft.Apply; a
// second goroutine waits for the entries in order and answers each command.
// At most maxInflight entries are proposed and not yet applied at any time:
// while they are being committed the next batch fills up, so the batch size
// grows with the load by itself. There is no timer and no added latency
// when the system is idle. (Without the bound, raft's buffered apply queue
// would accept one small entry per command and nothing would be batched.)
type proposer struct {
	r        *raft.Raft
	in       chan *proposal
	inflight chan *pendingBatch
	slots    chan struct{} // one token per entry in flight
	maxCmds  int
	maxBytes int
	now      func() time.Time
	done     chan struct{} // closed when the partition shuts down
	stopped  chan struct{} // closed once collect and wait have returned

	batches *hist.Histogram // commands per entry (batchstats.go); nil: not counted

	// refusedSince is when raft began refusing this leader's entries
	// because a leadership transfer is in progress (Unix ns; 0: it is
	// not). See Partition.TransferStuck.
	refusedSince atomic.Int64
}

// maxInflight bounds the entries proposed but not yet applied. Each may
// carry maxCmds commands, so a few are enough to keep raft's pipeline busy.
const maxInflight = 4

type proposal struct {
	cmd  Cmd
	size int
	res  Result
	err  error
	done chan struct{}
}

type pendingBatch struct {
	f     raft.ApplyFuture
	props []*proposal
}

// enqueueTimeout bounds how long raft.Apply may block on a full apply queue.
const enqueueTimeout = 5 * time.Second

func newProposer(r *raft.Raft, maxCmds, maxBytes int, now func() time.Time) *proposer {
	return &proposer{
		r:        r,
		in:       make(chan *proposal, maxCmds),
		inflight: make(chan *pendingBatch, maxInflight),
		slots:    make(chan struct{}, maxInflight),
		maxCmds:  maxCmds,
		maxBytes: maxBytes,
		now:      now,
		done:     make(chan struct{}),
		stopped:  make(chan struct{}),
	}
}

// cmdOverhead is a generous estimate of a command's encoded size apart from
// its variable-length fields (field names, integers, length prefixes).
const cmdOverhead = 192

// estimateSize is an upper bound of c's encoded size, used to bound the
// entry size without encoding twice.
func estimateSize(c *Cmd) int {
	n := cmdOverhead + len(c.Body) + len(c.User) + len(c.Peer) + len(c.Device) + len(c.Node) +
		len(c.Token) + len(c.NewToken) + len(c.Reason)
	if c.Creds != nil {
		n += 32 + len(c.Creds.Salt) + len(c.Creds.StoredKey) + len(c.Creds.ServerKey)
	}
	if c.Name != nil {
		n += len(*c.Name)
	}
	if c.About != nil {
		n += len(*c.About)
	}
	return n
}

// propose submits c and waits for its result.
func (p *proposer) propose(ctx context.Context, c Cmd) (Result, error) {
	size := estimateSize(&c)
	if size > p.maxBytes {
		return Result{}, ErrTooLarge
	}
	pr := &proposal{cmd: c, size: size, done: make(chan struct{})}
	select {
	case p.in <- pr:
	case <-ctx.Done():
		return Result{}, fmt.Errorf("%w: %v", ErrTimeout, ctx.Err())
	case <-p.done:
		return Result{}, ErrClosed
	}
	select {
	case <-pr.done:
		return pr.res, pr.err
	case <-ctx.Done():
		// The command may still commit; callers retry idempotently.
		return Result{}, fmt.Errorf("%w: %v", ErrTimeout, ctx.Err())
	case <-p.stopped:
		// Nobody will answer a proposal that arrived after the collector
		// drained its queue; one that was answered in time keeps its answer.
		select {
		case <-pr.done:
			return pr.res, pr.err
		default:
			return Result{}, ErrClosed
		}
	}
}

// collect runs in its own goroutine until stop.
func (p *proposer) collect() {
	defer close(p.inflight)
	for {
		var first *proposal
		select {
		case first = <-p.in:
		case <-p.done:
			p.drainClosed()
			return
		}
		// Wait for a free slot before filling the batch: whatever arrives
		// meanwhile joins it.
		select {
		case p.slots <- struct{}{}:
		case <-p.done:
			finish([]*proposal{first}, nil, ErrClosed)
			p.drainClosed()
			return
		}
		batch := []*proposal{first}
		bytes := first.size
	fill:
		for len(batch) < p.maxCmds {
			select {
			case pr := <-p.in:
				if bytes+pr.size > p.maxBytes {
					p.submit(batch)
					// The overflowing command starts the next batch,
					// which needs a slot of its own.
					select {
					case p.slots <- struct{}{}:
					case <-p.done:
						finish([]*proposal{pr}, nil, ErrClosed)
						p.drainClosed()
						return
					}
					batch, bytes = nil, 0
				}
				batch = append(batch, pr)
				bytes += pr.size
			default:
				break fill
			}
		}
		p.submit(batch)
	}
}

func (p *proposer) submit(batch []*proposal) {
	e := entry{TimeMS: p.now().UnixMilli(), Cmds: make([]Cmd, len(batch))}
	for i, pr := range batch {
		e.Cmds[i] = pr.cmd
	}
	data, err := encodeEntry(&e)
	if err != nil {
		<-p.slots
		finish(batch, nil, fmt.Errorf("hlr: encode entry: %w", err))
		return
	}
	f := p.r.Apply(data, enqueueTimeout)
	p.countBatch(len(batch))
	// inflight has room for every slot, so this never blocks.
	p.inflight <- &pendingBatch{f: f, props: batch}
}

// wait runs in its own goroutine; it answers batches in commit order.
func (p *proposer) wait() {
	for pb := range p.inflight {
		err := futureError(pb.f, p.done)
		<-p.slots
		if errors.Is(err, raft.ErrLeadershipTransferInProgress) {
			p.refusedSince.CompareAndSwap(0, p.now().UnixNano())
		} else if err == nil {
			p.refusedSince.Store(0)
		}
		if err != nil {
			finish(pb.props, nil, mapRaftErr(err))
			continue
		}
		switch resp := pb.f.Response().(type) {
		case []Result:
			finish(pb.props, resp, nil)
		case error:
			finish(pb.props, nil, resp)
		default:
			finish(pb.props, nil, fmt.Errorf("hlr: unexpected apply response %T", resp))
		}
	}
}

func (p *proposer) drainClosed() {
	for {
		select {
		case pr := <-p.in:
			finish([]*proposal{pr}, nil, ErrClosed)
		default:
			return
		}
	}
}

func finish(props []*proposal, res []Result, err error) {
	for i, pr := range props {
		if err != nil {
			pr.err = err
		} else if i < len(res) {
			pr.res = res[i]
		} else {
			pr.err = errors.New("hlr: missing result")
		}
		close(pr.done)
	}
}

// futureError waits for f. Raft does not answer every future when it shuts
// down (one still queued in a channel is dropped), so a bare f.Error() can
// block forever; once stop is closed (after raft has shut down) an answer
// that has not arrived within a short grace period never will.
func futureError(f raft.Future, stop <-chan struct{}) error {
	ch := make(chan error, 1)
	go func() { ch <- f.Error() }() // may stay blocked if raft never answers
	select {
	case err := <-ch:
		return err
	case <-stop:
	}
	t := time.NewTimer(50 * time.Millisecond)
	defer t.Stop()
	select {
	case err := <-ch:
		return err
	case <-t.C:
		return raft.ErrRaftShutdown
	}
}

// mapRaftErr turns raft's errors into the package's. Leadership lost means
// the outcome is unknown; the caller must retry idempotently.
func mapRaftErr(err error) error {
	switch {
	case errors.Is(err, raft.ErrNotLeader), errors.Is(err, raft.ErrLeadershipLost),
		errors.Is(err, raft.ErrLeadershipTransferInProgress):
		return fmt.Errorf("%w: %v", ErrNotLeader, err)
	case errors.Is(err, raft.ErrRaftShutdown):
		return ErrClosed
	case errors.Is(err, raft.ErrEnqueueTimeout):
		return fmt.Errorf("%w: %v", ErrTimeout, err)
	}
	return err
}

// encodedSize is used by tests to check the size estimate stays an upper bound.
func encodedSize(c *Cmd) int {
	b, _ := msgpack.Marshal(c)
	return len(b)
}
