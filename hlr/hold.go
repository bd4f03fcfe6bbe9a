package hlr

import (
	"sync"
	"time"
)

// Hold pauses the outbox of every partition this node leads, for a
// backup or a restore of the cluster (node/backup). A hold has a deadline:
// the tool that set it renews it while it runs, and a tool that dies
// leaves nothing held for long.
type Hold uint8

const (
	// HoldNone: the outbox runs.
	HoldNone Hold = iota
	// HoldDone: items are delivered but kept, not completed. While a
	// backup takes the partitions one after another, an item delivered
	// after its target was taken is then still in its sender's file, and
	// a restored cluster delivers it again (deliveries are idempotent).
	HoldDone
	// HoldAll: nothing is delivered, and the node fires no scheduled
	// message. While a restore installs the partitions one after another,
	// a restored partition's items would otherwise reach targets not
	// restored yet, find no account and be dropped.
	HoldAll
)

// holdState is the host's current hold.
type holdState struct {
	mu    sync.Mutex
	kind  Hold
	until time.Time
}

// SetHold holds the outbox of this node's partitions as kind says until
// until (HoldNone releases it).
func (h *Host) SetHold(kind Hold, until time.Time) {
	h.hold.mu.Lock()
	h.hold.kind, h.hold.until = kind, until
	h.hold.mu.Unlock()
	if kind == HoldNone {
		h.kick()
	}
}

// Held returns the hold in force now.
func (h *Host) Held() Hold {
	h.hold.mu.Lock()
	defer h.hold.mu.Unlock()
	if h.hold.kind == HoldNone || !h.cfg.Now().Before(h.hold.until) {
		return HoldNone
	}
	return h.hold.kind
}
