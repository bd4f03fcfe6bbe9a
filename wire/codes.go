package wire

import "strconv"

// Code is a stable error code carried in a TError frame.
//
// This table is the ONE place error codes are defined. Codes are
// APPEND-ONLY: a code's number and meaning never change once released.
// PROTOCOL.md lists the same table; TestCodesDocumented keeps them in step.
type Code uint16

const (
	CodeOK Code = 0 // not sent; the zero value

	// Framing and protocol (1xx): the connection is closed after these.
	CodeBadFrame      Code = 100 // the bytes are not a valid frame
	CodeFrameTooLarge Code = 101 // the length prefix exceeds the frame limit
	CodeUnknownType   Code = 102 // the frame type is not known to this server
	CodeBadBody       Code = 103 // the body is not valid msgpack for its type, or has unknown fields
	CodeBadHandshake  Code = 104 // the first frame was not a valid THello
	CodeVersion       Code = 105 // no protocol version in common
	CodeTimeout       Code = 106 // a frame or the handshake took too long

	// Requests (2xx): the connection stays open.
	CodeBadRequest      Code = 200 // a field is missing or out of range
	CodeNotLoggedIn     Code = 201 // the request needs a session
	CodeAlreadyLogged   Code = 202 // the connection already has a session
	CodeBadName         Code = 203 // the user name breaks the naming rules
	CodeNameTaken       Code = 204 // registration: the name is taken
	CodeAuthFailed      Code = 205 // login failed: unknown user, wrong password or bad proof (one answer for all)
	CodeNonceExpired    Code = 206 // the login challenge is older than its lifetime
	CodeSessionInvalid  Code = 207 // the session token is unknown, expired or revoked
	CodeReauth          Code = 208 // the operation needs a password login within the last few minutes
	CodeRateLimited     Code = 209 // too many requests; retry_after_ms says when to try again
	CodeRefused         Code = 210 // not allowed: a stranger, a block, or no such user (one answer for all)
	CodeNoRequest       Code = 211 // accept/decline without a pending friend request
	CodeTooLarge        Code = 212 // the message body exceeds the limit
	CodeBadTTL          Code = 213 // the message lifetime is out of range
	CodeBadStatus       Code = 214 // the presence status is not one a client may set
	CodeLoginStep       Code = 215 // a login frame arrived out of order
	CodeGroupFull       Code = 216 // the group has as many members (or pending invites) as it may, or the user as many groups
	CodeSchedTooSoon    Code = 217 // the fire time is closer than the minimum ahead (10 s)
	CodeSchedTooFar     Code = 218 // the fire time is further than the maximum ahead (366 days)
	CodeSchedConvFull   Code = 219 // the conversation has as many pending scheduled messages as it may (100)
	CodeSchedUserFull   Code = 220 // the user has as many pending scheduled messages as they may (1,000)
	CodeSchedNotFound   Code = 221 // no such scheduled message
	CodeSchedNotPending Code = 222 // the scheduled message has fired, failed, or is being sent
	// Roles (PROTOCOL.md §18).
	CodeRoleTaken    Code = 223 // another account owns a role of that name in that namespace
	CodeRoleLimit    Code = 224 // the account owns as many roles as it may (8 by default)
	CodeRoleNotFound Code = 225 // the account owns no role of that name in that namespace

	// Scenes (PROTOCOL.md §19).
	CodeSceneBadPosition Code = 227 // a coordinate is NaN, infinite or out of the scene's bounds
	CodeNotInScene       Code = 228 // move, say, act or leave without having joined a scene
	CodeSceneFull        Code = 229 // the scene has as many players as it may
	CodeSceneZoneDenied  Code = 230 // this user may not change the scene's zones
	CodeSceneBadZone     Code = 231 // the zone is not a valid rectangle or circle, or the scene has too many

	// Server side (3xx): retry later, possibly at another node.
	CodeUnavailable  Code = 300 // the home register could not be reached in time
	CodeInternal     Code = 301 // an unexpected server error
	CodeShutdown     Code = 302 // the node is shutting down; reconnect elsewhere
	CodeTooManyConns Code = 303 // too many connections from this address

	// Session ends (4xx), sent in TGoodbye.
	CodeSessionReplaced  Code = 400 // the same device logged in elsewhere (Cancel Location)
	CodePasswordChanged  Code = 401 // the password changed; log in again
	CodeAccountDeleted   Code = 402 // the account was deleted
	CodeHeartbeatTimeout Code = 403 // no traffic for several heartbeat intervals
	CodeLoggedOut        Code = 404 // the client logged out
	CodeSlowConsumer     Code = 405 // the client did not read fast enough; resync from the cursor
	CodeRedirect         Code = 406 // reconnect to the address in the frame
)

type codeInfo struct {
	name string
	text string
}

var codeTable = map[Code]codeInfo{
	CodeSceneBadPosition: {"scene_bad_position", "position out of range"},
	CodeNotInScene:       {"not_in_scene", "join a scene first"},
	CodeSceneFull:        {"scene_full", "the scene is full"},
	CodeSceneZoneDenied:  {"scene_zone_denied", "you may not change this scene's zones"},
	CodeSceneBadZone:     {"scene_bad_zone", "invalid zone"},
	CodeOK:               {"ok", "ok"},
	CodeBadFrame:         {"bad_frame", "malformed frame"},
	CodeFrameTooLarge:    {"frame_too_large", "frame exceeds the size limit"},
	CodeUnknownType:      {"unknown_type", "unknown frame type"},
	CodeBadBody:          {"bad_body", "malformed frame body"},
	CodeBadHandshake:     {"bad_handshake", "the first frame must be hello"},
	CodeVersion:          {"version", "unsupported protocol version"},
	CodeTimeout:          {"timeout", "timed out"},
	CodeBadRequest:       {"bad_request", "invalid request"},
	CodeNotLoggedIn:      {"not_logged_in", "log in first"},
	CodeAlreadyLogged:    {"already_logged_in", "this connection already has a session"},
	CodeBadName:          {"bad_name", "invalid user name"},
	CodeNameTaken:        {"name_taken", "that user name is taken"},
	CodeAuthFailed:       {"auth_failed", "authentication failed"},
	CodeNonceExpired:     {"nonce_expired", "the login challenge expired; start again"},
	CodeSessionInvalid:   {"session_invalid", "the session is no longer valid; log in again"},
	CodeReauth:           {"reauth_required", "log in with the password again first"},
	CodeRateLimited:      {"rate_limited", "too many requests; try later"},
	CodeRefused:          {"refused", "not allowed"},
	CodeNoRequest:        {"no_request", "no pending friend request"},
	CodeTooLarge:         {"too_large", "message body too large"},
	CodeBadTTL:           {"bad_ttl", "message lifetime out of range"},
	CodeBadStatus:        {"bad_status", "invalid presence status"},
	CodeLoginStep:        {"login_step", "login frame out of order"},
	CodeGroupFull:        {"group_full", "too many members or groups"},
	CodeSchedTooSoon:     {"schedule_too_soon", "the delivery time is too soon"},
	CodeSchedTooFar:      {"schedule_too_far", "the delivery time is too far ahead"},
	CodeSchedConvFull:    {"schedule_conversation_full", "too many scheduled messages in this conversation"},
	CodeSchedUserFull:    {"schedule_user_full", "too many scheduled messages"},
	CodeSchedNotFound:    {"schedule_not_found", "no such scheduled message"},
	CodeSchedNotPending:  {"schedule_not_pending", "the scheduled message is no longer pending"},
	CodeRoleTaken:        {"role_taken", "that role name is taken"},
	CodeRoleLimit:        {"role_limit", "too many roles"},
	CodeRoleNotFound:     {"role_not_found", "no such role"},
	CodeUnavailable:      {"unavailable", "service unavailable; try again"},
	CodeInternal:         {"internal", "internal error"},
	CodeShutdown:         {"shutdown", "node is shutting down"},
	CodeTooManyConns:     {"too_many_connections", "too many connections from this address"},
	CodeSessionReplaced:  {"session_replaced", "this device logged in elsewhere"},
	CodePasswordChanged:  {"password_changed", "the password was changed"},
	CodeAccountDeleted:   {"account_deleted", "the account was deleted"},
	CodeHeartbeatTimeout: {"heartbeat_timeout", "no heartbeat"},
	CodeLoggedOut:        {"logged_out", "logged out"},
	CodeSlowConsumer:     {"slow_consumer", "client too slow; resync"},
	CodeRedirect:         {"redirect", "reconnect to another node"},
}

// Name returns the code's stable snake_case name ("rate_limited").
func (c Code) Name() string {
	if i, ok := codeTable[c]; ok {
		return i.name
	}
	return "code_" + strconv.FormatUint(uint64(c), 10)
}

// Text returns the default human-readable message for the code.
func (c Code) Text() string {
	if i, ok := codeTable[c]; ok {
		return i.text
	}
	return "error " + strconv.FormatUint(uint64(c), 10)
}

func (c Code) String() string { return c.Name() }

// Codes returns every defined code in ascending order.
func Codes() []Code {
	out := make([]Code, 0, len(codeTable))
	for c := range codeTable {
		out = append(out, c)
	}
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j] < out[j-1]; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

// Fatal reports whether the server closes the connection after sending c.
func (c Code) Fatal() bool { return c >= 100 && c < 200 }
