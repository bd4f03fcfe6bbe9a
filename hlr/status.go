package hlr

import "strconv"

// Status is the outcome of a command or query as decided by the state
// machine. It is stored in results that travel between nodes, so the enum is
// append-only. The client-facing error codes are chosen from it by vlr.
type Status uint8

const (
	StatusOK        Status = 0
	StatusExists    Status = 1 // the user name is taken
	StatusNotFound  Status = 2 // no such account or session (never shown to clients as such)
	StatusRefused   Status = 3 // stranger, blocked or no such user: one answer for all
	StatusNoRequest Status = 4 // accept/decline without a pending request
	StatusStale     Status = 5 // credentials changed since they were read, or epoch moved on
	StatusInvalid   Status = 6 // malformed command
	StatusExpired   Status = 7 // the session has expired
	StatusFull      Status = 8 // the group has as many members (or invites) as it may
)

var statusNames = [...]string{"ok", "exists", "not_found", "refused", "no_request", "stale", "invalid", "expired", "full"}

func (s Status) String() string {
	if int(s) < len(statusNames) {
		return statusNames[s]
	}
	return "status(" + strconv.FormatUint(uint64(s), 10) + ")"
}
