package vlr

import (
	"net"
	"sync"
	"time"
)

// outQueue serialises everything written to one client. Frames are
// appended to a buffer under a mutex; a writer goroutine is started only
// while there is something to write, and it writes everything queued with
// one system call. An idle connection therefore costs no goroutine and no
// buffer on the write side.
type outQueue struct {
	mu      sync.Mutex
	nc      net.Conn
	buf     []byte
	running bool
	closing bool // close the connection once the buffer is written
	closed  bool
	max     int
	timeout time.Duration
	spawn   func(func()) // starts a tracked goroutine
}

// enqueue appends one frame produced by encode. It returns false when the
// queue is closed or the client is too slow (the connection is then
// closed; the client resyncs from its cursor).
func (q *outQueue) enqueue(encode func([]byte) []byte) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed || q.closing {
		return false
	}
	q.buf = encode(q.buf)
	if len(q.buf) > q.max {
		q.closed = true
		q.buf = nil
		q.nc.Close()
		return false
	}
	q.startLocked()
	return true
}

// closeAfter queues a final frame (if encode is non-nil) and closes the
// connection once everything before it has been written.
func (q *outQueue) closeAfter(encode func([]byte) []byte) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed || q.closing {
		return
	}
	if encode != nil {
		q.buf = encode(q.buf)
	}
	q.closing = true
	if len(q.buf) == 0 {
		q.closed = true
		q.nc.Close()
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
		q.nc.Close()
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
				q.nc.Close()
			}
			q.mu.Unlock()
			return
		}
		b := q.buf
		q.buf = spare[:0]
		q.mu.Unlock()

		q.nc.SetWriteDeadline(time.Now().Add(q.timeout))
		_, err := q.nc.Write(b)
		if err != nil {
			q.close()
			continue
		}
		// Keep one buffer for the next round only while busy; a big one
		// is released so idle connections stay small.
		if cap(b) <= 16<<10 {
			spare = b[:0]
		} else {
			spare = nil
		}
	}
}
