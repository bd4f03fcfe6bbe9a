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
	// Scheduled messages: each refusal of a limit has its own status.
	StatusTooSoon    Status = 9  // the fire time is closer than the minimum ahead
	StatusTooFar     Status = 10 // the fire time is further than the maximum ahead
	StatusConvFull   Status = 11 // the conversation has as many pending schedules as it may
	StatusUserFull   Status = 12 // the user has as many pending schedules as it may
	StatusNotPending Status = 13 // the schedule has fired, failed, or is firing
)

var statusNames = [...]string{"ok", "exists", "not_found", "refused", "no_request", "stale", "invalid", "expired", "full",
	"too_soon", "too_far", "conv_full", "user_full", "not_pending"}

func (s Status) String() string {
	if int(s) < len(statusNames) {
		return statusNames[s]
	}
	return "status(" + strconv.FormatUint(uint64(s), 10) + ")"
}
