package vlr

import (
	"net"
	"time"
)

// frameClock is the reader a connection's wire.Reader reads through. It
// enforces Config.FrameTimeout without a timer of its own: the
// connection's read deadline is its idle deadline (the login deadline, the
// pre-login frame timeout, or the heartbeat deadline) until the first
// byte of a frame arrives, and is tightened to that byte's arrival plus
// FrameTimeout only when the frame turns out to need a further read. A
// frame that arrives in one read costs nothing extra.
//
// Owned by the connection's reader goroutine.
type frameClock struct {
	nc      net.Conn
	timeout time.Duration
	idle    time.Time // the deadline while no frame is in progress
	start   time.Time // when the frame in progress began; zero: none
	tight   bool      // the frame deadline is in force
	last    time.Time // when the last bytes arrived
}

func (k *frameClock) Read(p []byte) (int, error) {
	if !k.start.IsZero() && !k.tight {
		k.tight = true
		if d := k.start.Add(k.timeout); d.Before(k.idle) {
			k.nc.SetReadDeadline(d)
		}
	}
	n, err := k.nc.Read(p)
	if n > 0 {
		k.last = time.Now()
		if k.start.IsZero() {
			k.start = k.last
		}
	}
	return n, err
}

// next prepares for reading the next frame with idle as the deadline
// while none is in progress. buffered tells whether bytes of the next
// frame have already arrived (with the previous one): its clock then runs
// from their arrival.
func (k *frameClock) next(idle time.Time, buffered bool) {
	k.idle, k.tight, k.start = idle, false, time.Time{}
	d := idle
	if buffered {
		k.start, k.tight = k.last, true
		if fd := k.start.Add(k.timeout); fd.Before(d) {
			d = fd
		}
	}
	k.nc.SetReadDeadline(d)
}

// inFrame reports whether part of a frame has arrived (so a timeout is the
// frame's, not the connection's idle one).
func (k *frameClock) inFrame() bool { return !k.start.IsZero() }
