package client

import (
	"errors"
	"strconv"
	"time"

	"github.com/roamhq/roam/wire"
)

// Error is a refusal from the server (a TError frame, or the code of a
// TGoodbye). Compare it with the code sentinels below:
//
//	if errors.Is(err, client.ErrRateLimited) { ... }
//
// or read the code with [CodeOf].
type Error struct {
	Code       wire.Code
	Message    string
	RetryAfter time.Duration // with wire.CodeRateLimited: when to try again
}

// Error formats the error as "<code name> (<code number>): <message>".
func (e *Error) Error() string {
	msg := e.Message
	if msg == "" {
		msg = e.Code.Text()
	}
	s := e.Code.Name() + " (" + strconv.Itoa(int(e.Code)) + "): " + msg
	if e.RetryAfter > 0 {
		s += " (retry after " + e.RetryAfter.String() + ")"
	}
	return s
}

// Is reports whether target is an *Error with the same code, so that
// errors.Is(err, ErrAuthFailed) matches any auth_failed refusal whatever
// its message.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// CodeOf returns the wire code of err if it is (or wraps) an *Error, and
// wire.CodeOK otherwise.
func CodeOf(err error) wire.Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return wire.CodeOK
}

func codeErr(c wire.Code) *Error { return &Error{Code: c, Message: c.Text()} }

// Code sentinels: compare with errors.Is; only the code is compared.
var (
	ErrBadRequest      = codeErr(wire.CodeBadRequest)
	ErrNotLoggedIn     = codeErr(wire.CodeNotLoggedIn)
	ErrAlreadyLoggedIn = codeErr(wire.CodeAlreadyLogged)
	ErrBadName         = codeErr(wire.CodeBadName)
	ErrNameTaken       = codeErr(wire.CodeNameTaken)
	ErrAuthFailed      = codeErr(wire.CodeAuthFailed)
	ErrNonceExpired    = codeErr(wire.CodeNonceExpired)
	ErrSessionInvalid  = codeErr(wire.CodeSessionInvalid)
	ErrReauth          = codeErr(wire.CodeReauth)
	ErrRateLimited     = codeErr(wire.CodeRateLimited)
	ErrRefused         = codeErr(wire.CodeRefused)
	ErrNoRequest       = codeErr(wire.CodeNoRequest)
	ErrTooLarge        = codeErr(wire.CodeTooLarge)
	ErrBadTTL          = codeErr(wire.CodeBadTTL)
	ErrBadStatus       = codeErr(wire.CodeBadStatus)
	ErrLoginStep       = codeErr(wire.CodeLoginStep)
	ErrUnavailable     = codeErr(wire.CodeUnavailable)
	ErrInternal        = codeErr(wire.CodeInternal)
	ErrShutdown        = codeErr(wire.CodeShutdown)
	ErrTooManyConns    = codeErr(wire.CodeTooManyConns)
	// ErrGroupFull: the group has as many members (or pending invites)
	// as it may, or the caller is in as many groups as it may be.
	ErrGroupFull = codeErr(wire.CodeGroupFull)
	// Roles (roles.go).
	ErrRoleTaken    = codeErr(wire.CodeRoleTaken)
	ErrRoleLimit    = codeErr(wire.CodeRoleLimit)
	ErrRoleNotFound = codeErr(wire.CodeRoleNotFound)

	ErrSessionReplaced = codeErr(wire.CodeSessionReplaced)
	ErrPasswordChanged = codeErr(wire.CodePasswordChanged)
	ErrAccountDeleted  = codeErr(wire.CodeAccountDeleted)
	ErrLoggedOut       = codeErr(wire.CodeLoggedOut)
)

// Errors that do not come from the server.
var (
	// ErrBusy is returned by Send when MaxSendAttempts attempts failed
	// with retryable errors: "busy, try later". It wraps the last error,
	// inside a *SendError that carries the cmid to retry with.
	ErrBusy = errors.New("client: busy, try later")
	// ErrTTLPassed is returned by Send when the message's lifetime (its
	// TTL, DefaultTTL if none) since the first attempt has passed, or is
	// about to, before any attempt was acknowledged. The server forgets a
	// cmid together with its message, so a later retry could be stored a
	// second time: do not resend it with the same cmid. Whether the
	// message was stored is unknown.
	ErrTTLPassed = errors.New("client: the message's lifetime passed before it was acknowledged")
	// ErrFrameTooLarge means the server sent a reply larger than
	// Config.MaxFrame; the reply was skipped and the request failed (the
	// connection stays up).
	ErrFrameTooLarge = errors.New("client: frame larger than Config.MaxFrame")
	// ErrClosed is returned by every method after Close.
	ErrClosed = errors.New("client: closed")
	// ErrConnLost means the connection broke while a request was in
	// flight; the request may or may not have been applied.
	ErrConnLost = errors.New("client: connection lost")
	// ErrServerProof means the server's SCRAM signature did not verify:
	// the server does not know the password's keys. The login is refused.
	ErrServerProof = errors.New("client: server failed SCRAM verification")
	// ErrProtocol means the server sent something this client does not
	// understand (a reply of the wrong type, a body that does not decode).
	ErrProtocol = errors.New("client: protocol error")
	// ErrNoAddress means there was no address to dial.
	ErrNoAddress = errors.New("client: no server address")
	// ErrTimeout means no reply came within Config.RequestTimeout (the
	// caller's own context had not ended).
	ErrTimeout = errors.New("client: no reply in time")
)

// SendError is the error of a Send that did not get an acknowledgement.
// It carries what a later retry needs: pass CMID to WithCMID and First to
// WithFirstAttempt, so that the server deduplicates the retry and the
// retry stops at the message's TTL. Err is the reason: an error matching
// ErrBusy, ErrTTLPassed, the context's error, ErrClosed, or a refusal
// (*Error) after which a retry is pointless.
type SendError struct {
	CMID     uint64    // the client message id every attempt used
	First    time.Time // when the first attempt was made
	Attempts int       // attempts made by this call
	Err      error
}

// Error is the reason's text followed by the cmid and the attempts.
func (e *SendError) Error() string {
	return e.Err.Error() + " (cmid " + strconv.FormatUint(e.CMID, 10) + ", attempts " + strconv.Itoa(e.Attempts) + ")"
}

func (e *SendError) Unwrap() error { return e.Err }

// retryable reports whether a failed request may be resent as it is: the
// server could not be reached or did not answer, so the same request (with
// the same cmid, for sends) is safe to repeat.
func retryable(err error) bool {
	switch CodeOf(err) {
	case wire.CodeUnavailable, wire.CodeInternal, wire.CodeShutdown, wire.CodeTimeout:
		return true
	case wire.CodeOK:
		return errors.Is(err, ErrConnLost) || errors.Is(err, ErrTimeout) || isNetErr(err)
	}
	return false
}
