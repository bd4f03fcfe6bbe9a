package roamdproc

import "errors"

// The errors of this package; the returned errors wrap them with details.
var (
	// ErrExited: the process exited before it printed its ready line.
	ErrExited = errors.New("roamdproc: exited before it was ready")
	// ErrNotReady: no ready line came within Config.ReadyTimeout.
	ErrNotReady = errors.New("roamdproc: not ready in time")
	// ErrNotStopped: the process had not exited when the wait's context
	// ended; it was killed.
	ErrNotStopped = errors.New("roamdproc: did not stop in time")
)
