package hlr

import "context"

// Effects is what the leader of a partition does after a command commits.
// The node implements it: it forwards messages through the jump gates,
// sends Cancel Location to the node holding a stale session, and pushes
// friend events. Implementations must not block for long; they queue.
type Effects interface {
	// Deliver forwards a committed message to the devices of its recipient
	// at the given locations.
	Deliver(user string, locs []Location, m *Message)
	// Cancel tells the node at loc that the session of (user, loc.Device)
	// at epoch loc.Epoch is no longer valid; reason is a Status name.
	Cancel(user string, loc Location, reason string)
	// Notify pushes a friend event ("request", "accepted", "declined",
	// "removed") about peer to user's devices at locs.
	Notify(user string, locs []Location, event, peer string)
}

// Router executes a command at the leader of whatever partition is home to
// cmd.User, wherever that is. The outbox uses it to reach other partitions.
type Router interface {
	Exec(ctx context.Context, cmd Cmd) (Result, error)
}

// NopEffects ignores every effect.
type NopEffects struct{}

func (NopEffects) Deliver(string, []Location, *Message)      {}
func (NopEffects) Cancel(string, Location, string)           {}
func (NopEffects) Notify(string, []Location, string, string) {}
