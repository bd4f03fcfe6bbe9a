package hlr

import "context"

// Effects are what a partition leader does after a command commits:
// forward a message to its recipient's devices, end a session held on
// another node (Cancel Location), tell devices of a friend event. They are
// values: the apply functions (apply*.go) decide them, deterministically,
// from the command and the state inside the same apply, and append them to
// Result.Effects; the leader hands them to the node (Effects.Run), which
// routes each kind to the nodes holding the targets. Followers apply the
// same commands and compute the same effects, and drop them.
//
// A new kind is a type here with an isEffect method, the apply code that
// appends it, and the node's router for it (ARCHITECTURE.md, "The internal
// bus").
type Effect interface{ isEffect() }

// DeliverEffect forwards a committed message to User's devices at Locs
// (their attached locations at commit time). A duplicate send has none.
type DeliverEffect struct {
	User string
	Locs []Location
	Msg  *Message
}

// CancelEffect tells the node at Loc that the session of (User,
// Loc.Device) at epoch Loc.Epoch is no longer valid. Reason is a Status
// name: "session_replaced" (the device logged in elsewhere, or was evicted
// to make room), "password_changed" or "account_deleted".
type CancelEffect struct {
	User   string
	Loc    Location
	Reason string
}

// FriendEffect pushes a friend event ("request", "accepted", "declined",
// "removed") about Peer to User's devices at Locs.
type FriendEffect struct {
	User  string
	Locs  []Location
	Event string
	Peer  string
}

func (DeliverEffect) isEffect() {}
func (CancelEffect) isEffect()  {}
func (FriendEffect) isEffect()  {}

// Effects carries a leader's effects out of the home register. The node
// implements it. Run is called once per executed command that has effects,
// with the partition that committed it, from the goroutine that executed
// the command; it must not block (it queues).
type Effects interface {
	Run(pid uint16, effs []Effect)
}

// NopEffects ignores every effect.
type NopEffects struct{}

// Run implements Effects.
func (NopEffects) Run(uint16, []Effect) {}

// Router executes a command at the leader of whatever partition is home to
// cmd.Key(), wherever that is. The outbox uses it to reach other
// partitions.
type Router interface {
	Exec(ctx context.Context, cmd Cmd) (Result, error)
}

// Cancel reasons (Status names) an apply function gives CancelEffect.
const (
	reasonReplaced        = "session_replaced"
	reasonPasswordChanged = "password_changed"
	reasonAccountDeleted  = "account_deleted"
)

// cancels returns a CancelEffect for each of user's locations.
func cancels(effs []Effect, user string, locs []Location, reason string) []Effect {
	for _, l := range locs {
		effs = append(effs, CancelEffect{User: user, Loc: l, Reason: reason})
	}
	return effs
}
