package gate

import (
	"net"
	"runtime"
	"time"
)

// outq holds the encoded frames waiting for one connection's writer. Its
// owner (a peer or a serverConn) guards it with its own lock.
type outq struct {
	buf    []byte
	frames int
	urgent bool          // holds a request or a reply: write without BatchDelay
	room   chan struct{} // closed when buf is taken; made by the first waiter
}

func (q *outq) add(frame []byte, urgent bool) {
	q.buf = append(q.buf, frame...)
	q.frames++
	q.urgent = q.urgent || urgent
}

// ready reports whether the queue should be written without lingering.
func (q *outq) ready(maxBatch int) bool {
	return q.urgent || len(q.buf) >= maxBatch
}

// take returns the queued frames and keeps spare as the new, empty buffer.
func (q *outq) take(spare []byte) (b []byte, n int) {
	b, n = q.buf, q.frames
	q.buf, q.frames, q.urgent = spare[:0], 0, false
	q.freed()
	return b, n
}

// reset empties the queue, returning how many frames it held.
func (q *outq) reset() int {
	n := q.frames
	q.buf, q.frames, q.urgent = q.buf[:0], 0, false
	q.freed()
	return n
}

// waitRoom returns a channel closed when the queue is next emptied.
func (q *outq) waitRoom() <-chan struct{} {
	if q.room == nil {
		q.room = make(chan struct{})
	}
	return q.room
}

func (q *outq) freed() {
	if q.room != nil {
		close(q.room)
		q.room = nil
	}
}

// source is the owner of an outq, seen from the writer.
type source interface {
	// take swaps the queued frames for spare, under the owner's lock. If
	// force is false and the queue is not ready it takes nothing and
	// returns ok false.
	take(spare []byte, force bool) (b []byte, n int, ok bool)
	// written runs after each successful write.
	written()
}

// keepCap is the largest write buffer a writer keeps for reuse.
const keepCap = 1 << 20

// writeLoop is a connection's writer: each time it is woken it writes
// every frame queued in one Write. While a write is in progress more frames
// queue up, so batches grow with load. With BatchDelay set, one-way items
// that arrive less than BatchDelay after the previous write wait until
// BatchDelay has passed since it (or until MaxBatchBytes are queued, or a
// request or reply joins them): a quiet connection writes at once, a busy
// one at most once per BatchDelay. It returns the first write error, or nil
// when stop is closed.
func (g *Gate) writeLoop(conn net.Conn, src source, wake, stop <-chan struct{}) error {
	var (
		spare     []byte
		timer     *time.Timer
		lastWrite time.Time
	)
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	delay := g.cfg.BatchDelay
	for {
		select {
		case <-wake:
		case <-stop:
			return nil
		}
		// Let the goroutines that are ready to queue more do so first:
		// one scheduler pass costs far less than a write system call.
		runtime.Gosched()
		wait := delay - time.Since(lastWrite)
		b, n, ok := src.take(spare, wait <= 0)
		if !ok {
			if timer == nil {
				timer = time.NewTimer(wait)
			} else {
				timer.Reset(wait)
			}
		linger:
			for {
				select {
				case <-timer.C:
					break linger
				case <-wake:
					if b, n, ok = src.take(spare, false); ok {
						timer.Stop()
						break linger
					}
				case <-stop:
					return nil
				}
			}
			if !ok {
				b, n, _ = src.take(spare, true)
			}
		}
		if n == 0 {
			spare = b
			continue
		}
		if err := conn.SetWriteDeadline(time.Now().Add(g.cfg.WriteTimeout)); err != nil {
			return err
		}
		if _, err := conn.Write(b); err != nil {
			return err
		}
		if delay > 0 {
			lastWrite = time.Now()
		}
		g.st.batch(n)
		spare = b[:0]
		if cap(spare) > keepCap {
			spare = nil
		}
		src.written()
	}
}
