package wire

import "strconv"

// Type identifies the body of a frame.
//
// The enum is APPEND-ONLY: values travel between clients and servers of
// different versions, so a value is never renumbered or reused. Add new
// types at the end of the list and document them in PROTOCOL.md.
type Type uint8

// Frame types. "C→S" frames are requests sent by the client with a non-zero
// request id; the server answers each with exactly one frame carrying the
// same request id (the named reply, or TError). "S→C push" frames carry
// request id 0.
const (
	TInvalid Type = 0

	// Handshake.
	THello   Type = 1 // C→S: first frame on a connection
	TWelcome Type = 2 // S→C: reply to THello
	TError   Type = 3 // S→C: failure reply to any request, or a push when rid is 0
	TOK      Type = 4 // S→C: success reply that carries nothing

	// Accounts and sessions.
	TRegister       Type = 5  // C→S → TOK
	TLoginStart     Type = 6  // C→S → TLoginChallenge
	TLoginChallenge Type = 7  // S→C
	TLoginFinish    Type = 8  // C→S → TLoginOK
	TLoginOK        Type = 9  // S→C
	TResume         Type = 10 // C→S → TLoginOK
	TLogout         Type = 11 // C→S → TOK (then the server closes)
	TWhoami         Type = 12 // C→S → TWhoamiReply
	TWhoamiReply    Type = 13 // S→C
	TGetProfile     Type = 14 // C→S → TProfile
	TProfile        Type = 15 // S→C
	TSetProfile     Type = 16 // C→S → TOK
	TChangePassword Type = 17 // C→S → TOK
	TDeleteAccount  Type = 18 // C→S → TOK (then the server closes)
	TPing           Type = 19 // C→S → TPong (the heartbeat)
	TPong           Type = 20 // S→C

	// Friends and presence.
	TFriendRequest Type = 21 // C→S → TOK
	TFriendAccept  Type = 22 // C→S → TOK
	TFriendDecline Type = 23 // C→S → TOK
	TFriendRemove  Type = 24 // C→S → TOK
	TBlock         Type = 25 // C→S → TOK
	TUnblock       Type = 26 // C→S → TOK
	TFriendList    Type = 27 // C→S → TFriends
	TFriends       Type = 28 // S→C
	TSetPresence   Type = 29 // C→S → TOK
	TPresence      Type = 30 // S→C push: a friend's status changed
	TFriendEvent   Type = 31 // S→C push: a friend request, acceptance, ...

	// Messages.
	TSend      Type = 32 // C→S → TSendAck
	TSendAck   Type = 33 // S→C
	TSync      Type = 34 // C→S → TSyncReply
	TSyncReply Type = 35 // S→C
	TAck       Type = 36 // C→S, no reply: the device's cursor
	TMessage   Type = 37 // S→C push: one inbox message

	// Connection control.
	TGoodbye Type = 38 // S→C push: the server closes the connection (with an optional redirect)

	// Groups (PROTOCOL.md §16).
	TGroupCreate       Type = 39 // C→S → TOK
	TGroupInvite       Type = 40 // C→S → TOK
	TGroupJoin         Type = 41 // C→S → TOK
	TGroupLeave        Type = 42 // C→S → TOK
	TGroupKick         Type = 43 // C→S → TOK
	TGroupRole         Type = 44 // C→S → TOK
	TGroupSet          Type = 45 // C→S → TOK
	TGroupDelete       Type = 46 // C→S → TOK
	TGroupList         Type = 47 // C→S → TGroupListReply
	TGroupListReply    Type = 48 // S→C
	TGroupMembers      Type = 49 // C→S → TGroupMembersReply
	TGroupMembersReply Type = 50 // S→C
	TGroupSend         Type = 51 // C→S → TSendAck
	TGroupSync         Type = 52 // C→S → TGroupSyncReply
	TGroupSyncReply    Type = 53 // S→C
	TGroupAck          Type = 54 // C→S, no reply: the device's cursor in a group
	TGroupMessage      Type = 55 // S→C push: one entry of a group's stream

	// Scheduled messages (PROTOCOL.md §17).
	TSchedule          Type = 56 // C→S → TScheduled
	TScheduleList      Type = 57 // C→S → TScheduleListReply
	TScheduleListReply Type = 58 // S→C
	TScheduleGet       Type = 59 // C→S → TScheduled
	TScheduled         Type = 60 // S→C: one schedule
	TScheduleEdit      Type = 61 // C→S → TScheduled
	TScheduleCancel    Type = 62 // C→S → TScheduled (state "cancelled")
	TScheduleNow       Type = 63 // C→S → TScheduled
	TScheduleEvent     Type = 64 // S→C push: a schedule of the user changed

	// Roles (PROTOCOL.md §18).
	TRoleCreate    Type = 65 // C→S → TOK
	TRoleRename    Type = 66 // C→S → TOK
	TRoleDelete    Type = 67 // C→S → TOK
	TRoleList      Type = 68 // C→S → TRoleListReply
	TRoleListReply Type = 69 // S→C
	TRolePick      Type = 70 // C→S → TOK

	// Scenes (PROTOCOL.md §19). Volatile: never stored, never retried.
	TSceneJoin   Type = 71 // C→S → TSceneJoined
	TSceneJoined Type = 72 // S→C
	TSceneLeave  Type = 73 // C→S → TOK
	TSceneMove   Type = 74 // C→S, no reply: the player's position
	TSceneSay    Type = 75 // C→S → TOK
	TSceneAct    Type = 76 // C→S → TOK
	TSceneEvent  Type = 77 // S→C push: a say or an action that reached this player
	TSceneView   Type = 78 // S→C push: players entering and leaving this player's view
	TSceneZone   Type = 79 // C→S → TOK
	TSceneResend Type = 80 // S→C push: the scene's host changed; send the position again

	// Load balancing and drain (PROTOCOL.md §10.2).
	TRedirect Type = 86 // S→C push: move the session to another node (a goodbye 406 follows)
)

// laterTypeNames names the types numbered after typeNames' dense block.
var laterTypeNames = map[Type]string{TRedirect: "redirect"}

// typeNames is indexed by Type.
var typeNames = [...]string{
	"invalid", "hello", "welcome", "error", "ok",
	"register", "login_start", "login_challenge", "login_finish", "login_ok",
	"resume", "logout", "whoami", "whoami_reply", "get_profile", "profile",
	"set_profile", "change_password", "delete_account", "ping", "pong",
	"friend_request", "friend_accept", "friend_decline", "friend_remove",
	"block", "unblock", "friend_list", "friends", "set_presence", "presence",
	"friend_event", "send", "send_ack", "sync", "sync_reply", "ack", "message",
	"goodbye", "group_create", "group_invite", "group_join", "group_leave",
	"group_kick", "group_role", "group_set", "group_delete", "group_list",
	"group_list_reply", "group_members", "group_members_reply", "group_send",
	"group_sync", "group_sync_reply", "group_ack", "group_message",
	"schedule", "schedule_list", "schedule_list_reply", "schedule_get", "scheduled",
	"schedule_edit", "schedule_cancel", "schedule_now", "schedule_event",
	"role_create", "role_rename", "role_delete", "role_list", "role_list_reply", "role_pick",
	TSceneJoin: "scene_join", TSceneJoined: "scene_joined", TSceneLeave: "scene_leave", TSceneMove: "scene_move",
	TSceneSay: "scene_say", TSceneAct: "scene_act", TSceneEvent: "scene_event", TSceneView: "scene_view",
	TSceneZone: "scene_zone", TSceneResend: "scene_resend",
}

// MaxType is the highest type of the dense block (typeNames, where a
// gap's names are ""); the types numbered after it are in laterTypeNames.
const MaxType = TSceneResend

func (t Type) String() string {
	if int(t) < len(typeNames) && typeNames[t] != "" {
		return typeNames[t]
	}
	if s, ok := laterTypeNames[t]; ok {
		return s
	}
	return "type(" + strconv.FormatUint(uint64(t), 10) + ")"
}

// Known reports whether t is a type this version understands.
func (t Type) Known() bool {
	if t > TInvalid && t <= MaxType && typeNames[t] != "" {
		return true
	}
	_, ok := laterTypeNames[t]
	return ok
}
