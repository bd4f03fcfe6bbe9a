package vlr

// Presence statuses. "offline" is never set by a client; it is what others
// see when a user has no session, or has chosen "invisible".
const (
	StatusOnline    = "online"
	StatusAway      = "away"
	StatusBusy      = "busy"
	StatusInvisible = "invisible"
	StatusOffline   = "offline"
)

// validStatus reports whether a client may set s.
func validStatus(s string) bool {
	switch s {
	case StatusOnline, StatusAway, StatusBusy, StatusInvisible:
		return true
	}
	return false
}

// visible maps a user's chosen status to what friends see.
func visible(s string) string {
	if s == "" || s == StatusInvisible {
		return StatusOffline
	}
	return s
}

// PresenceUpdate is one user's presence as announced by the node that holds
// the user's sessions. Seq orders the announcements of one origin node.
type PresenceUpdate struct {
	User   string `msgpack:"u"`
	Status string `msgpack:"s"` // visible status: offline for invisible users
}

// PresenceBus carries this node's presence changes to the other nodes of
// the cluster. A single node uses NopBus.
type PresenceBus interface {
	Publish(u PresenceUpdate)
}

// NopBus publishes nothing.
type NopBus struct{}

// Publish implements PresenceBus.
func (NopBus) Publish(PresenceUpdate) {}
