package vlr

import (
	"sync/atomic"
	"time"

	"github.com/roamhq/roam/wire"
)

// busyPong tells a logged-in client that its node is alive while the
// connection's reader is held by one frame: an in-order request waiting
// on its home register, a lease renewal, a send waiting for a free slot
// of the connection's window. Replies and requests queue behind such a
// frame, so a client's liveness ping would go unanswered for as long;
// instead, every interval of the hold the server pushes a pong with
// request id 0 (PROTOCOL §6). A frozen or cut-off node sends nothing, so
// a client tells the two apart within about a second (client/probe.go).
//
// The reader calls begin and end around each frame; the timer's
// goroutine pushes. One timer per connection, re-armed, never made
// again.
type busyPong struct {
	every time.Duration
	push  func()
	busy  atomic.Bool
	t     *time.Timer // made by the first begin; owned by the reader
}

// begin marks the reader busy with a frame.
func (b *busyPong) begin() {
	b.busy.Store(true)
	if b.t == nil {
		b.t = time.AfterFunc(b.every, b.fire)
		return
	}
	b.t.Reset(b.every)
}

// end marks the frame handled (and, at teardown, ends the pongs for
// good). A fire racing it pushes one pong more, which is harmless.
func (b *busyPong) end() {
	b.busy.Store(false)
	if b.t != nil {
		b.t.Stop()
	}
}

func (b *busyPong) fire() {
	if !b.busy.Load() {
		return
	}
	b.push()
	b.t.Reset(b.every)
}

// pushPong queues an unsolicited pong (rid 0).
func (c *conn) pushPong() {
	c.push(wire.TPong, &wire.Pong{ServerMS: c.srv.cfg.Now().UnixMilli()})
}
