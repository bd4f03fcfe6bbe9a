package gate

import (
	"errors"
	"fmt"

	"github.com/roamhq/roam/hlr"
)

// Errors returned by the gate. Errors the remote Handler returned come back
// as the hlr sentinel they wrapped (see the package documentation).
var (
	// ErrUnreachable means the request could not be carried to the peer or
	// its reply back: the dial failed, the peer is backing off after
	// failed dials, or the connection broke while the request was in
	// flight (the remote may or may not have executed it).
	ErrUnreachable = errors.New("gate: peer unreachable")
	// ErrClosed means this gate has been closed. It matches hlr.ErrClosed.
	ErrClosed = fmt.Errorf("gate: closed: %w", hlr.ErrClosed)
	// ErrProtocol means a peer sent bytes that are not a valid frame
	// sequence; the connection is closed.
	ErrProtocol = errors.New("gate: protocol error")
	// ErrImpostor means a peer's hello named another node than its
	// certificate does; the connection is closed unserved.
	ErrImpostor = errors.New("gate: hello does not match the peer's certificate")
	// ErrUnsupported means the peer does not serve the kind of a Call (an
	// older node), or its welcome, which says what it serves, has not
	// arrived yet on a new connection (the connection is brought up; a
	// retry may go).
	ErrUnsupported = errors.New("gate: kind not served by the peer")
	// ErrRemote is a failure of the remote Handler that has no sentinel of
	// its own; the message carries the remote's text.
	ErrRemote = errors.New("gate: remote error")
)

// NotLeaderError is hlr.ErrNotLeader with a hint of who leads instead. A
// Handler may return it (wrapped or not) to pass the hint on; Gate.Exec
// and Gate.Query return it for every remote ErrNotLeader, with empty
// fields when the remote had no hint.
type NotLeaderError struct {
	LeaderID   string // node id of the leader, if known
	LeaderAddr string // internal address of the leader, if known
}

func (e *NotLeaderError) Error() string {
	if e.LeaderID == "" && e.LeaderAddr == "" {
		return hlr.ErrNotLeader.Error()
	}
	return fmt.Sprintf("%s (leader %s at %s)", hlr.ErrNotLeader, e.LeaderID, e.LeaderAddr)
}

// Is reports whether target is hlr.ErrNotLeader.
func (e *NotLeaderError) Is(target error) bool { return target == hlr.ErrNotLeader }

// Unwrap returns hlr.ErrNotLeader.
func (e *NotLeaderError) Unwrap() error { return hlr.ErrNotLeader }

// Error codes carried in reply frames. The enum travels between nodes, so
// it is append-only: never renumber or reuse a value.
const (
	codeOK               uint8 = 0
	codeNotLeader        uint8 = 1 // hlr.ErrNotLeader; the reply may carry a hint
	codeTimeout          uint8 = 2 // hlr.ErrTimeout
	codeClosed           uint8 = 3 // hlr.ErrClosed
	codeUnknownPartition uint8 = 4 // hlr.ErrUnknownPartition
	codeTooLarge         uint8 = 5 // hlr.ErrTooLarge
	codeBadEntry         uint8 = 6 // hlr.ErrBadEntry
	codeInternal         uint8 = 7 // anything else: ErrRemote with the text
	codeBadRequest       uint8 = 8 // the remote could not decode the request
)

// codeTable maps codes to sentinels, in the order errorCode tries them.
var codeTable = []struct {
	code uint8
	err  error
}{
	{codeNotLeader, hlr.ErrNotLeader},
	{codeTimeout, hlr.ErrTimeout},
	{codeClosed, hlr.ErrClosed},
	{codeUnknownPartition, hlr.ErrUnknownPartition},
	{codeTooLarge, hlr.ErrTooLarge},
	{codeBadEntry, hlr.ErrBadEntry},
}

// encodeError fills the error fields of a reply from a Handler's error.
func encodeError(r *replyBody, err error) {
	r.Code, r.Msg = codeInternal, err.Error()
	for _, e := range codeTable {
		if errors.Is(err, e.err) {
			r.Code = e.code
			break
		}
	}
	if r.Code == codeNotLeader {
		var nl *NotLeaderError
		if errors.As(err, &nl) {
			r.LeaderID, r.LeaderAddr = nl.LeaderID, nl.LeaderAddr
		}
	}
}

// decodeError turns the error fields of a reply from addr back into an
// error; nil for codeOK.
func decodeError(addr string, r *replyIn) error {
	switch r.Code {
	case codeOK:
		return nil
	case codeNotLeader:
		return &NotLeaderError{LeaderID: r.LeaderID, LeaderAddr: r.LeaderAddr}
	case codeBadRequest:
		return fmt.Errorf("%w: %s rejected the request: %s", ErrProtocol, addr, r.Msg)
	}
	for _, e := range codeTable {
		if e.code == r.Code {
			return fmt.Errorf("%w (at %s: %s)", e.err, addr, r.Msg)
		}
	}
	return fmt.Errorf("%w (at %s, code %d): %s", ErrRemote, addr, r.Code, r.Msg)
}
