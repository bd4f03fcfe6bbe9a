package wire

// Protocol identification sent in THello.
const (
	// Magic is the value of Hello.Proto.
	Magic = "roam"
	// Version is the protocol version this package speaks.
	Version uint16 = 1
)

// Bodies of the frames. Every body is a msgpack map whose keys are the
// `msgpack` tags below. Decoding is strict: an unknown key is an error
// (CodeBadBody), so a client learns at once that it sent a misspelled
// field. Omitted keys take their zero value.
//
// Field names, like type numbers, are append-only.

// Hello opens a connection (C→S, THello).
type Hello struct {
	Proto   string `msgpack:"proto"`   // must be Magic
	Version uint16 `msgpack:"version"` // highest version the client speaks
	Client  string `msgpack:"client,omitempty"`
	// MaxFrame is the largest frame (length prefix) the client accepts; 0
	// (absent) means the server's own Welcome.MaxFrame. The server never
	// sends a larger frame and refuses a value below its minimum (4096
	// with the default max_body) with CodeBadHandshake.
	MaxFrame uint32 `msgpack:"max_frame,omitempty"`
}

// Welcome answers Hello (S→C, TWelcome).
type Welcome struct {
	Version     uint16   `msgpack:"version"`      // version chosen for the connection
	Node        string   `msgpack:"node"`         // id of the node the client reached
	Nodes       []string `msgpack:"nodes"`        // client addresses of known nodes, for reconnecting
	MaxFrame    uint32   `msgpack:"max_frame"`    // largest frame the server accepts
	MaxBody     uint32   `msgpack:"max_body"`     // largest message body
	ScramIters  uint32   `msgpack:"scram_iters"`  // PBKDF2 iterations new credentials must use
	HeartbeatMS uint32   `msgpack:"heartbeat_ms"` // interval at which a logged-in client pings
}

// Error is a failure reply (rid of the request) or an unsolicited error
// (rid 0) (S→C, TError).
type Error struct {
	Code         Code   `msgpack:"code"`
	Message      string `msgpack:"message"`
	RetryAfterMS uint32 `msgpack:"retry_after_ms,omitempty"` // with CodeRateLimited
}

// Empty is the body of frames that carry nothing (TOK, TLogout, TWhoami,
// TDeleteAccount, TPing, TFriendList, TRoleList). An empty map or an empty body are
// both accepted.
type Empty struct{}

// Credentials are SCRAM-SHA-256 credentials derived by the client from the
// password (RFC 5802 §3): SaltedPassword = PBKDF2-HMAC-SHA-256(password,
// Salt, Iters), ClientKey = HMAC(SaltedPassword, "Client Key"), StoredKey =
// SHA-256(ClientKey), ServerKey = HMAC(SaltedPassword, "Server Key"). The
// password itself never crosses the wire.
type Credentials struct {
	Salt      []byte `msgpack:"salt"`       // exactly 16 random bytes
	Iters     uint32 `msgpack:"iters"`      // exactly Welcome.ScramIters
	StoredKey []byte `msgpack:"stored_key"` // 32 bytes
	ServerKey []byte `msgpack:"server_key"` // 32 bytes
}

// Register creates an account (C→S, TRegister → TOK).
type Register struct {
	User        string      `msgpack:"user"`
	Credentials Credentials `msgpack:"credentials"`
}

// LoginStart begins a SCRAM-SHA-256 login (C→S, TLoginStart →
// TLoginChallenge).
type LoginStart struct {
	User        string `msgpack:"user"`
	Device      string `msgpack:"device"`       // the client's stable device id
	ClientFirst string `msgpack:"client_first"` // SCRAM client-first-message, e.g. "n,,n=alice,r=<nonce>"
}

// LoginChallenge carries the SCRAM server-first-message (S→C).
type LoginChallenge struct {
	ServerFirst string `msgpack:"server_first"` // "r=<nonce>,s=<salt b64>,i=<iters>"
}

// LoginFinish carries the SCRAM client-final-message (C→S, TLoginFinish →
// TLoginOK).
type LoginFinish struct {
	ClientFinal string `msgpack:"client_final"`
}

// LoginOK completes a login or a resume (S→C, TLoginOK).
type LoginOK struct {
	ServerFinal string `msgpack:"server_final,omitempty"` // SCRAM server-final-message ("v=..."); empty on resume
	User        string `msgpack:"user"`
	Device      string `msgpack:"device"`
	Token       []byte `msgpack:"token"` // 16 bytes; present it in Resume. It changes on every resume.
	HeartbeatMS uint32 `msgpack:"heartbeat_ms"`
	Epoch       uint64 `msgpack:"epoch"`  // location epoch of this device
	Cursor      uint64 `msgpack:"cursor"` // last inbox sequence this device acknowledged
}

// Resume logs in again with a session token (C→S, TResume → TLoginOK).
type Resume struct {
	User   string `msgpack:"user"`
	Device string `msgpack:"device"`
	Token  []byte `msgpack:"token"`
}

// WhoamiReply describes the connection's session (S→C).
type WhoamiReply struct {
	User    string `msgpack:"user"`
	Device  string `msgpack:"device"`
	Node    string `msgpack:"node"`
	Auth    string `msgpack:"auth"` // "scram" or "resume"
	SinceMS int64  `msgpack:"since_ms"`
	// The role the session picked (TRolePick), absent when none.
	RoleNS string `msgpack:"role_ns,omitempty"`
	Role   string `msgpack:"role,omitempty"`
}

// GetProfile asks for a profile (C→S, TGetProfile → TProfile). An empty
// User means the caller's own; another user's profile is shown only to
// friends (CodeRefused otherwise).
type GetProfile struct {
	User string `msgpack:"user,omitempty"`
}

// Profile is a user's public profile (S→C).
type Profile struct {
	User        string `msgpack:"user"`
	DisplayName string `msgpack:"display_name"`
	About       string `msgpack:"about"`
	CreatedMS   int64  `msgpack:"created_ms"`
}

// SetProfile changes the caller's profile; a nil field is left as it is
// (C→S, TSetProfile → TOK).
type SetProfile struct {
	DisplayName *string `msgpack:"display_name,omitempty"` // at most 64 bytes
	About       *string `msgpack:"about,omitempty"`        // at most 512 bytes
}

// ChangePassword replaces the caller's credentials. The session must come
// from a password login within the last few minutes (CodeReauth otherwise).
// Every other session of the user ends (C→S, TChangePassword → TOK).
type ChangePassword struct {
	Credentials Credentials `msgpack:"credentials"`
}

// Pong answers a Ping (S→C).
type Pong struct {
	ServerMS int64 `msgpack:"server_ms"`
}

// Peer names another user: the body of TFriendRequest, TFriendAccept,
// TFriendDecline, TFriendRemove, TBlock and TUnblock.
type Peer struct {
	User string `msgpack:"user"`
}

// Friend is one friend and the status the caller may see.
type Friend struct {
	User   string `msgpack:"user"`
	Status string `msgpack:"status"` // online, away, busy or offline
}

// Friends answers TFriendList (S→C).
type Friends struct {
	Friends  []Friend `msgpack:"friends"`
	Incoming []string `msgpack:"incoming"` // requests waiting for the caller's answer
	Outgoing []string `msgpack:"outgoing"` // the caller's requests not answered yet
	Blocked  []string `msgpack:"blocked"`
}

// SetPresence sets the caller's status (C→S, TSetPresence → TOK).
type SetPresence struct {
	Status string `msgpack:"status"` // online, away, busy or invisible
}

// Presence is a friend's new visible status (S→C push, TPresence).
type Presence struct {
	User   string `msgpack:"user"`
	Status string `msgpack:"status"` // online, away, busy or offline
}

// FriendEvent tells of a change in the friend graph (S→C push).
type FriendEvent struct {
	Event string `msgpack:"event"` // "request", "accepted", "declined" or "removed"
	User  string `msgpack:"user"`
}

// Send sends a 1:1 message (C→S, TSend → TSendAck). (sender, device,
// CMID) identifies the message: a retry with the same CMID is
// acknowledged with the original id and never delivered twice.
type Send struct {
	To    string `msgpack:"to"`
	CMID  uint64 `msgpack:"cmid"` // client message id, unique per device, > 0
	Body  []byte `msgpack:"body"`
	TTLMS uint32 `msgpack:"ttl_ms,omitempty"` // lifetime; 0 means the server default
}

// SendAck acknowledges a durable send (S→C).
type SendAck struct {
	ID  uint64 `msgpack:"id"`  // cluster-unique message id
	Seq uint64 `msgpack:"seq"` // position in the recipient's inbox
	Dup bool   `msgpack:"dup,omitempty"`
}

// Sync reads the caller's inbox after a cursor (C→S, TSync → TSyncReply).
// Pushes of new messages pause while a Sync runs and flow again after a
// Sync whose reply has More false.
type Sync struct {
	After uint64 `msgpack:"after"`
	Limit uint32 `msgpack:"limit,omitempty"` // at most 512; 0 means 512
}

// Message is one inbox message (S→C push TMessage, and inside SyncReply).
type Message struct {
	Seq        uint64 `msgpack:"seq"`
	ID         uint64 `msgpack:"id"`
	From       string `msgpack:"from"`
	FromDevice string `msgpack:"from_device"`
	Body       []byte `msgpack:"body"`
	SentMS     int64  `msgpack:"sent_ms"`
	ExpiresMS  int64  `msgpack:"expires_ms"`
}

// SyncReply is one page of the inbox (S→C).
type SyncReply struct {
	Messages []Message `msgpack:"messages"`
	// Next is the first sequence number not returned yet: every message
	// with a sequence number below Next has been returned or has expired.
	// The next Sync of this stream uses After = Next - 1.
	Next uint64 `msgpack:"next"`
	More bool   `msgpack:"more"`
}

// Ack records the device's cursor: every message up to and including Seq
// has been received (C→S, TAck, no reply).
type Ack struct {
	Seq uint64 `msgpack:"seq"`
}

// Goodbye announces that the server closes the connection (S→C push).
type Goodbye struct {
	Code     Code   `msgpack:"code"`
	Message  string `msgpack:"message"`
	Redirect string `msgpack:"redirect,omitempty"` // client address to reconnect to
}

// Redirect asks the client to move its session to another node (S→C
// push, TRedirect, rid 0). A goodbye 406 with the same address follows at
// once and closes the connection, so a client that does not know this
// frame still moves; one that does learns why and how loaded the nodes
// are (PROTOCOL.md §10.2).
type Redirect struct {
	Reason string     `msgpack:"reason"` // RedirectLoad, RedirectDrain or RedirectAffinity
	Addr   string     `msgpack:"addr"`   // client address to resume at
	Nodes  []NodeLoad `msgpack:"nodes,omitempty"`
}

// Reasons of a Redirect.
const (
	RedirectLoad     = "load"     // this node has more sessions than its share
	RedirectDrain    = "drain"    // this node is draining or leaving
	RedirectAffinity = "affinity" // another node leads the user's home partition
)

// NodeLoad is one node's client address and session count as gossip
// reports it.
type NodeLoad struct {
	Addr     string `msgpack:"addr"`
	Sessions uint32 `msgpack:"sessions"`
}

// GroupSettings creates a group or changes its settings (C→S,
// TGroupCreate and TGroupSet → TOK). A nil field is the default (create)
// or left as it is (set).
type GroupSettings struct {
	Group string  `msgpack:"group"`
	Title *string `msgpack:"title,omitempty"` // at most 64 bytes
	Topic *string `msgpack:"topic,omitempty"` // at most 512 bytes
	Open  *bool   `msgpack:"open,omitempty"`  // anyone may join without an invite
}

// GroupName names a group: the body of TGroupJoin, TGroupLeave and
// TGroupDelete.
type GroupName struct {
	Group string `msgpack:"group"`
}

// GroupMembers asks for a group's members in name order, after the user
// named After (C→S, TGroupMembers → TGroupMembersReply).
type GroupMembers struct {
	Group string `msgpack:"group"`
	After string `msgpack:"after,omitempty"`
}

// GroupPeer names a group and a user: the body of TGroupInvite and
// TGroupKick.
type GroupPeer struct {
	Group string `msgpack:"group"`
	User  string `msgpack:"user"`
}

// GroupRole gives a member a role (C→S, TGroupRole → TOK).
type GroupRole struct {
	Group string `msgpack:"group"`
	User  string `msgpack:"user"`
	Role  string `msgpack:"role"` // "admin", "member" or "owner" (hand the group over)
}

// GroupEntry is one group of the caller (in TGroupListReply).
type GroupEntry struct {
	Group   string `msgpack:"group"`
	Role    string `msgpack:"role"` // owner, admin, member, or invited
	Title   string `msgpack:"title,omitempty"`
	Topic   string `msgpack:"topic,omitempty"`
	Open    bool   `msgpack:"open,omitempty"`
	Owner   string `msgpack:"owner,omitempty"`
	Members uint32 `msgpack:"members,omitempty"`
	Head    uint64 `msgpack:"head"`   // the last seq of the group's stream
	Cursor  uint64 `msgpack:"cursor"` // the caller's device's cursor in it
	Unread  uint64 `msgpack:"unread"` // entries above the cursor the caller may read
	Since   uint64 `msgpack:"since"`  // the seq of the caller's join: the first entry it sees
}

// GroupList asks for the caller's groups and invites in name order, after
// the group named After (C→S, TGroupList → TGroupListReply).
type GroupList struct {
	After string `msgpack:"after,omitempty"`
}

// GroupListReply lists the caller's groups and invites (S→C); with More
// set, ask again with After = the last group's name.
type GroupListReply struct {
	Groups []GroupEntry `msgpack:"groups"`
	More   bool         `msgpack:"more,omitempty"`
}

// GroupMember is one member of a group.
type GroupMember struct {
	User string `msgpack:"user"`
	Role string `msgpack:"role"`
}

// GroupMembersReply lists a group's members (S→C); with More set, ask
// again with After = the last member's name.
type GroupMembersReply struct {
	Group   string        `msgpack:"group"`
	Members []GroupMember `msgpack:"members"`
	More    bool          `msgpack:"more,omitempty"`
}

// GroupSend sends a message to a group (C→S, TGroupSend → TSendAck):
// as Send, with the group in place of the recipient.
type GroupSend struct {
	Group string `msgpack:"group"`
	CMID  uint64 `msgpack:"cmid"`
	Body  []byte `msgpack:"body"`
	TTLMS uint32 `msgpack:"ttl_ms,omitempty"`
}

// GroupSync reads a group's stream after a cursor (C→S, TGroupSync →
// TGroupSyncReply); pushes of the group flow after a GroupSync whose
// reply has More false.
type GroupSync struct {
	Group string `msgpack:"group"`
	After uint64 `msgpack:"after"`
	Limit uint32 `msgpack:"limit,omitempty"`
}

// GroupMessage is one entry of a group's stream: a message (Kind absent)
// or an event (S→C push TGroupMessage, and inside GroupSyncReply).
type GroupMessage struct {
	Group      string `msgpack:"group"`
	Seq        uint64 `msgpack:"seq"`
	ID         uint64 `msgpack:"id"`
	Kind       string `msgpack:"kind,omitempty"` // "" (a message), created, invited, joined, left, kicked, role, info, deleted
	From       string `msgpack:"from"`
	FromDevice string `msgpack:"from_device,omitempty"`
	Subject    string `msgpack:"subject,omitempty"` // the user an event concerns
	Role       string `msgpack:"role,omitempty"`    // the role an event gives
	Body       []byte `msgpack:"body,omitempty"`
	SentMS     int64  `msgpack:"sent_ms"`
	ExpiresMS  int64  `msgpack:"expires_ms,omitempty"`
}

// GroupSyncReply is one page of a group's stream (S→C), as SyncReply.
type GroupSyncReply struct {
	Group    string         `msgpack:"group"`
	Messages []GroupMessage `msgpack:"messages"`
	Next     uint64         `msgpack:"next"`
	More     bool           `msgpack:"more"`
}

// GroupAck records the device's cursor in a group (C→S, TGroupAck, no
// reply).
type GroupAck struct {
	Group string `msgpack:"group"`
	Seq   uint64 `msgpack:"seq"`
}

// NewBody returns a pointer to a new zero body for t, or nil when t has no
// body type (an unknown type).
func NewBody(t Type) any {
	switch t {
	case THello:
		return new(Hello)
	case TWelcome:
		return new(Welcome)
	case TError:
		return new(Error)
	case TOK, TLogout, TWhoami, TDeleteAccount, TPing, TFriendList, TRoleList:
		return new(Empty)
	case TRegister:
		return new(Register)
	case TLoginStart:
		return new(LoginStart)
	case TLoginChallenge:
		return new(LoginChallenge)
	case TLoginFinish:
		return new(LoginFinish)
	case TLoginOK:
		return new(LoginOK)
	case TResume:
		return new(Resume)
	case TWhoamiReply:
		return new(WhoamiReply)
	case TGetProfile:
		return new(GetProfile)
	case TProfile:
		return new(Profile)
	case TSetProfile:
		return new(SetProfile)
	case TChangePassword:
		return new(ChangePassword)
	case TPong:
		return new(Pong)
	case TFriendRequest, TFriendAccept, TFriendDecline, TFriendRemove, TBlock, TUnblock:
		return new(Peer)
	case TFriends:
		return new(Friends)
	case TSetPresence:
		return new(SetPresence)
	case TPresence:
		return new(Presence)
	case TFriendEvent:
		return new(FriendEvent)
	case TSchedule:
		return new(Schedule)
	case TScheduleList:
		return new(ScheduleList)
	case TScheduleListReply:
		return new(ScheduleListReply)
	case TScheduleGet, TScheduleCancel, TScheduleNow:
		return new(ScheduleRef)
	case TScheduled:
		return new(Scheduled)
	case TScheduleEdit:
		return new(ScheduleEdit)
	case TScheduleEvent:
		return new(ScheduleEvent)
	case TSend:
		return new(Send)
	case TSendAck:
		return new(SendAck)
	case TSync:
		return new(Sync)
	case TSyncReply:
		return new(SyncReply)
	case TAck:
		return new(Ack)
	case TMessage:
		return new(Message)
	case TGoodbye:
		return new(Goodbye)
	case TRedirect:
		return new(Redirect)
	case TGroupCreate, TGroupSet:
		return new(GroupSettings)
	case TGroupJoin, TGroupLeave, TGroupDelete:
		return new(GroupName)
	case TGroupMembers:
		return new(GroupMembers)
	case TGroupInvite, TGroupKick:
		return new(GroupPeer)
	case TGroupRole:
		return new(GroupRole)
	case TGroupList:
		return new(GroupList)
	case TGroupListReply:
		return new(GroupListReply)
	case TGroupMembersReply:
		return new(GroupMembersReply)
	case TGroupSend:
		return new(GroupSend)
	case TGroupSync:
		return new(GroupSync)
	case TGroupSyncReply:
		return new(GroupSyncReply)
	case TGroupAck:
		return new(GroupAck)
	case TGroupMessage:
		return new(GroupMessage)
	// Roles (roles.go).
	case TRoleCreate, TRoleDelete, TRolePick:
		return new(RoleRef)
	case TRoleRename:
		return new(RoleRename)
	case TRoleListReply:
		return new(RoleListReply)
	}
	return newSceneBody(t)
}
