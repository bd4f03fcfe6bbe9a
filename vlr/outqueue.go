package vlr

import (
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/roamhq/roam/wire"
)

// outQueue serialises everything written to one client. Frames are
// appended to a buffer under a mutex; a writer goroutine is started only
// while there is something to write, and it writes everything queued with
// one system call. An idle connection therefore costs no goroutine and no
// buffer on the write side.
//
// Every byte queued (appended and not yet written) is counted in the
// node's budget. A client that does not read is disconnected as a slow
// consumer when its queue would pass max, or when it holds the most output
// and the budget is full; its queue is then dropped at once.
type outQueue struct {
	mu      sync.Mutex
	w       io.Writer // where frames go; nil until the connection is ready (TLS handshake done)
	raw     net.Conn  // the socket: deadlines, and the close that stops everything
	buf     []byte
	acct    int          // bytes of buf and of the write in progress counted in budget
	size    atomic.Int64 // acct, for the budget's lock-free victim scan
	running bool
	writing bool // a write is in progress (the client is mid-frame)
	closing bool // close the connection once the buffer is written
	quick   bool // the last write is a slow consumer's goodbye: goodbyeTimeout
	closed  bool
	max     int
	timeout time.Duration
	spawn   func(func()) // starts a tracked goroutine
	budget  *budget
}

// goodbyeTimeout bounds the write of a slow consumer's goodbye.
const goodbyeTimeout = 500 * time.Millisecond

// maxEvictions bounds how many other connections one enqueue disconnects
// to make room in the budget before it gives up its own.
const maxEvictions = 4

// ready sets the writer once the connection may carry frames.
func (q *outQueue) ready(w io.Writer) {
	q.mu.Lock()
	q.w = w
	q.mu.Unlock()
}

// enqueue appends one frame produced by encode. It returns false when the
// queue is closed or the client is too slow (the connection is then
// closed; the client resyncs from its cursor).
func (q *outQueue) enqueue(encode func([]byte) []byte) bool {
	for attempt := 0; ; attempt++ {
		q.mu.Lock()
		if q.closed || q.closing || q.w == nil {
			q.mu.Unlock()
			return false
		}
		old := len(q.buf)
		q.buf = encode(q.buf)
		n := len(q.buf) - old
		if q.acct+n > q.max {
			q.buf = q.buf[:old]
			q.slowLocked()
			q.mu.Unlock()
			return false
		}
		if q.budget.reserve(n) {
			q.acct += n
			q.size.Store(int64(q.acct))
			q.startLocked()
			q.mu.Unlock()
			return true
		}
		// The budget is full: undo the append (encode only appends), and
		// disconnect whoever holds the most, unless that is this queue.
		q.buf = q.buf[:old]
		q.mu.Unlock()
		if attempt >= maxEvictions || !q.budget.evictFor(q) {
			q.evict()
			return false
		}
	}
}

// evict disconnects a slow consumer (see slowLocked).
func (q *outQueue) evict() {
	q.mu.Lock()
	q.slowLocked()
	q.mu.Unlock()
}

// slowLocked disconnects a slow consumer: everything queued is dropped and
// released from the budget at once. If no write is in progress, a goodbye
// slow_consumer is written (bounded by goodbyeTimeout) before the close;
// if one is, the client is mid-frame and not reading, so the socket
// closes now.
func (q *outQueue) slowLocked() {
	if q.closed {
		return
	}
	q.budget.slow.Add(1)
	q.releaseLocked()
	q.buf = nil
	if q.writing || q.closing || q.w == nil {
		q.closed = true
		q.raw.Close()
		return
	}
	q.buf = slowGoodbye
	q.closing, q.quick = true, true
	q.startLocked()
}

// slowGoodbye is the final frame of a slow consumer (not counted in the
// budget: it is shared and tiny).
var slowGoodbye = func() []byte {
	b, err := wire.AppendFrame(nil, wire.TGoodbye, 0, &wire.Goodbye{Code: wire.CodeSlowConsumer, Message: wire.CodeSlowConsumer.Text()})
	if err != nil {
		panic(err)
	}
	return b[:len(b):len(b)]
}()

// releaseLocked returns everything this queue holds to the budget.
func (q *outQueue) releaseLocked() {
	q.budget.release(q.acct)
	q.acct = 0
	q.size.Store(0)
}

// closeAfter queues a final frame (if encode is non-nil) and closes the
// connection once everything before it has been written. The final frame
// is not held to the budget (it is small, and must not fail).
func (q *outQueue) closeAfter(encode func([]byte) []byte) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed || q.closing {
		return
	}
	if q.w == nil {
		// Not ready for frames (TLS handshake, PROXY header): just close.
		q.closed = true
		q.raw.Close()
		return
	}
	if encode != nil {
		q.buf = encode(q.buf)
	}
	q.closing = true
	if len(q.buf) == 0 {
		q.closed = true
		q.raw.Close()
		return
	}
	q.startLocked()
}

// close closes the connection at once, dropping anything queued.
func (q *outQueue) close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.closed {
		q.closed = true
		q.buf = nil
		q.releaseLocked()
		q.raw.Close()
	}
}

func (q *outQueue) startLocked() {
	if q.running || len(q.buf) == 0 {
		return
	}
	q.running = true
	q.spawn(q.flush)
}

func (q *outQueue) flush() {
	var spare []byte
	for {
		q.mu.Lock()
		if q.closed || len(q.buf) == 0 {
			q.running = false
			q.buf = nil // an idle connection keeps no buffer
			if q.closing && !q.closed {
				q.closed = true
				q.raw.Close()
			}
			q.releaseLocked() // 0 unless dropped
			q.mu.Unlock()
			return
		}
		b, w := q.buf, q.w
		q.buf = spare[:0]
		q.writing = true
		timeout, last := q.timeout, q.quick
		if last {
			timeout = min(timeout, goodbyeTimeout)
		}
		q.mu.Unlock()

		q.raw.SetWriteDeadline(time.Now().Add(timeout))
		_, err := w.Write(b)

		q.mu.Lock()
		q.writing = false
		// Frames are counted before the final one; a dropped queue has
		// nothing left to count.
		done := min(q.acct, len(b))
		q.acct -= done
		q.size.Store(int64(q.acct))
		q.budget.release(done)
		q.mu.Unlock()
		if err != nil {
			q.close()
			continue
		}
		// Keep one buffer for the next round only while busy; a big one
		// is released so idle connections stay small.
		if cap(b) <= 16<<10 && !last {
			spare = b[:0]
		} else {
			spare = nil
		}
	}
}
