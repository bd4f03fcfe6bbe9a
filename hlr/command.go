package hlr

import "strconv"

// Op identifies a state-machine command. The values are stored in the Raft
// log, so the enum is append-only: never renumber or reuse a value.
type Op uint8

// Commands. "User" is always the user whose home partition applies the
// command; "Peer" is the other user involved, if any.
const (
	OpInvalid       Op = 0
	OpRegister      Op = 1  // create account User with Creds
	OpDeleteAccount Op = 2  // delete User and everything it owns
	OpSetCreds      Op = 3  // change password; ends every session but Token
	OpSetProfile    Op = 4  // update DisplayName/About
	OpLogin         Op = 5  // new session Token for Device (replacing Device's older ones) + Update Location at Node; Limit bounds the devices
	OpResume        Op = 6  // rotate session Token→NewToken + Update Location at Node; Limit bounds the devices
	OpLogout        Op = 7  // delete session Token, purge Device's location if Epoch matches
	OpPurge         Op = 8  // purge Device's location if Epoch matches (detach)
	OpFriendRequest Op = 9  // Peer asks User; applied in User's partition
	OpFriendSent    Op = 10 // record that User asked Peer; applied in User's partition
	OpFriendAccept  Op = 11 // User accepts Peer's request
	OpFriendConfirm Op = 12 // Peer accepted User's request (outbox)
	OpFriendDecline Op = 13 // User declines Peer's request
	OpFriendRemove  Op = 14 // User ends the friendship with Peer
	OpFriendDrop    Op = 15 // Peer ended things with User (outbox)
	OpBlock         Op = 16 // User blocks Peer; Limit bounds User's blocks
	OpUnblock       Op = 17 // User unblocks Peer
	OpSend          Op = 18 // Peer (device Device) sends Body to User
	OpCursor        Op = 19 // Device of User has consumed through Seq
	OpExpire        Op = 20 // remove expired messages, dedup entries and sessions
	OpOutboxDone    Op = 21 // outbox item ID was delivered
	// Groups (apply_group.go): applied in the partition of "g/" + Group,
	// User acting, Peer acted on; Link and Unlink in User's partition,
	// with the group's name in Peer (Group empty, so Key is User).
	OpGroupCreate Op = 22 // User creates Group (title Name, topic About, Open); Limit bounds members
	OpGroupInvite Op = 23 // User invites Peer; Limit bounds pending invites
	OpGroupJoin   Op = 24 // User joins (invited, or the group is open); Limit bounds members
	OpGroupLeave  Op = 25 // User leaves (or declines an invite)
	OpGroupKick   Op = 26 // User removes Peer (or Peer's invite)
	OpGroupRole   Op = 27 // User (the owner) gives Peer the role Reason
	OpGroupSet    Op = 28 // User changes title (Name), topic (About) or Open
	OpGroupDelete Op = 29 // User (the owner) deletes the group
	OpGroupSend   Op = 30 // User (device Device) sends Body to the group
	OpGroupCursor Op = 31 // Device of User has consumed the group through Seq
	OpGroupLink   Op = 32 // outbox, in User's partition: User is in (or invited to, Reason "invited") group Peer as of event Seq
	OpGroupUnlink Op = 33 // outbox, in User's partition: User is no longer in group Peer as of event Seq
	// Scheduled messages (apply_schedule.go), in the sender User's
	// partition; ID is the schedule id.
	OpSchedCreate Op = 34 // User (device Device, dedup CMID) schedules Body to Peer (a user, or "g/" + a group) at AtMS; Sched bounds it
	OpSchedEdit   Op = 35 // User changes schedule ID's Body (if not nil) and AtMS (if not 0); Sched bounds it
	OpSchedCancel Op = 36 // User cancels pending schedule ID (or forgets a finished one)
	OpSchedNow    Op = 37 // User asks pending schedule ID to fire now
	OpSchedFire   Op = 38 // the leader claims due schedule ID; late by more than Sched.MaxLateMS fails it
	OpSchedDone   Op = 39 // the fire of ID ended: Reason "" (sent: MsgID in CMID, Seq) or the failure's
	// Roles (role.go, apply_role.go): role RoleName in namespace NS of
	// account User. Claim and Release apply in the partition of
	// RoleKey(NS, RoleName), Link and Unlink in User's (see Key).
	OpRoleClaim   Op = 40 // User claims the name; a claim User holds is renewed under a new id
	OpRoleRelease Op = 41 // User's claim ID of the name ends (if it is still User's and still ID)
	OpRoleLink    Op = 42 // User lists the role under claim ID (in place of OldName, a rename); Limit bounds the roles
	OpRoleUnlink  Op = 43 // User deletes the role; Reason RoleReclaim: fence claim ID unless User lists the role
)

var opNames = [...]string{
	"invalid", "register", "delete_account", "set_creds", "set_profile", "login", "resume",
	"logout", "purge", "friend_request", "friend_sent", "friend_accept", "friend_confirm",
	"friend_decline", "friend_remove", "friend_drop", "block", "unblock", "send", "cursor",
	"expire", "outbox_done", "group_create", "group_invite", "group_join", "group_leave",
	"group_kick", "group_role", "group_set", "group_delete", "group_send", "group_cursor",
	"group_link", "group_unlink", "sched_create", "sched_edit", "sched_cancel", "sched_now",
	"sched_fire", "sched_done", "role_claim", "role_release", "role_link", "role_unlink",
}

func (o Op) String() string {
	if int(o) < len(opNames) {
		return opNames[o]
	}
	return "op(" + strconv.FormatUint(uint64(o), 10) + ")"
}

// Creds are SCRAM-SHA-256 credentials as derived by the client.
type Creds struct {
	Salt      []byte `msgpack:"s"`
	Iters     uint32 `msgpack:"i"`
	StoredKey []byte `msgpack:"k"`
	ServerKey []byte `msgpack:"v"`
}

// Cmd is one state-machine command. It is a flat union: each Op uses the
// fields its comment names and ignores the rest.
type Cmd struct {
	Op       Op      `msgpack:"o"`
	User     string  `msgpack:"u,omitempty"`
	Peer     string  `msgpack:"p,omitempty"`
	Device   string  `msgpack:"d,omitempty"`
	Node     string  `msgpack:"n,omitempty"`
	Creds    *Creds  `msgpack:"c,omitempty"`
	Token    []byte  `msgpack:"t,omitempty"` // SHA-256 of a session token
	NewToken []byte  `msgpack:"T,omitempty"` // SHA-256 of the replacement token
	TTLMS    int64   `msgpack:"l,omitempty"` // lifetime of a session or message
	CredGen  uint64  `msgpack:"g,omitempty"` // credential generation the caller verified
	Epoch    uint64  `msgpack:"e,omitempty"`
	CMID     uint64  `msgpack:"m,omitempty"`
	Seq      uint64  `msgpack:"q,omitempty"`
	ID       uint64  `msgpack:"i,omitempty"`
	Body     []byte  `msgpack:"b,omitempty"`
	Name     *string `msgpack:"N,omitempty"` // profile display name
	About    *string `msgpack:"A,omitempty"` // profile about text
	Limit    int     `msgpack:"L,omitempty"` // bound on work (OpExpire), devices (OpLogin, OpResume) or blocks (OpBlock); 0: the default
	Reason   string  `msgpack:"r,omitempty"` // OpFriendDrop: "removed" or "declined"; OpGroupRole: the role
	// Group, when set, names the group whose home partition applies the
	// command instead of User's (see Key).
	Group string `msgpack:"G,omitempty"`
	Open  *bool  `msgpack:"O,omitempty"` // OpGroupCreate, OpGroupSet: anyone may join
	// Scheduled messages: the fire time (Unix ms) and the limits.
	AtMS  int64        `msgpack:"at,omitempty"`
	Sched *SchedLimits `msgpack:"sl,omitempty"`
	// Roles: the role's namespace and name, and for a rename (OpRoleLink)
	// the name it replaces.
	NS       string `msgpack:"rs,omitempty"`
	RoleName string `msgpack:"rn,omitempty"`
	OldName  string `msgpack:"ro,omitempty"`
	// TryMS (OpResume): when the VLR received the resume (Unix ms). It
	// orders the attempts of one resume: a router's retry of an attempt
	// the client gave up on must not take the device from the client's
	// later attempt elsewhere (retriedResume). 0: unordered. Node clocks
	// are taken to agree to well within a client's retry (NTP); a node
	// whose clock runs behind by more has its attempts answered
	// unavailable until its clock passes the other's stamp.
	TryMS int64 `msgpack:"tr,omitempty"`
}

// Key is the partition key of the command: the name whose home partition
// applies it. A group's key is "g/" + its name; a user's is the user name,
// which never contains '/', so the two namespaces cannot collide and every
// user keeps the partition it always had. Routers hash Key, never User.
// A role claim's key is RoleKey(NS, RoleName) (OpRoleClaim and
// OpRoleRelease only), which contains '/' too.
func (c Cmd) Key() string {
	if c.Op == OpRoleClaim || c.Op == OpRoleRelease {
		return RoleKey(c.NS, c.RoleName)
	}
	return partitionKey(c.User, c.Group)
}

// partitionKey is the key of a group when group is set, else of user.
func partitionKey(user, group string) string {
	if group != "" {
		return GroupKeyPrefix + group
	}
	return user
}

// GroupKeyPrefix starts the partition key of every group.
const GroupKeyPrefix = "g/"

// Result is the outcome of one command. Besides the answer it carries the
// leader's post-commit effects (effect.go), decided inside the same apply
// from the state it read, and so consistent with the commit.
type Result struct {
	Status Status `msgpack:"s"`
	// Send
	MsgID uint64 `msgpack:"i,omitempty"`
	Seq   uint64 `msgpack:"q,omitempty"`
	Dup   bool   `msgpack:"d,omitempty"`
	// Login / Resume
	Epoch   uint64 `msgpack:"e,omitempty"`
	CredGen uint64 `msgpack:"g,omitempty"`
	// Effects for the leader to run (forwarding, Cancel Location, friend
	// events); never sent anywhere as part of a result.
	Effects []Effect `msgpack:"-"`
	// Outbox says new outbox items were written.
	Outbox bool `msgpack:"o,omitempty"`
	// More says OpExpire stopped at its limit.
	More bool `msgpack:"M,omitempty"`
	// Sched is the schedule a schedule command made or changed (as it is
	// after the command).
	Sched *Schedule `msgpack:"S,omitempty"`
	// Login is what a login or resume answered OK needs next: the friend
	// list and the device's cursor, read at the leader right after the
	// command (login_view.go); nil if that read failed.
	Login *LoginView `msgpack:"-"`
	// Claim is the role claim OpRoleClaim made or renewed, or (with
	// StatusExists) the other account's that it found.
	Claim *RoleClaim `msgpack:"rc,omitempty"`
	// Role is the role record OpRoleUnlink deleted, or the one a rename
	// (OpRoleLink with OldName) replaced.
	Role *Role `msgpack:"ro,omitempty"`
}

// entry is the payload of one Raft log entry: a batch of commands stamped
// with the leader's clock.
type entry struct {
	TimeMS int64 `msgpack:"t"`
	Cmds   []Cmd `msgpack:"c"`
}

// entryVersion is the first byte of every Raft command entry.
const entryVersion byte = 1
