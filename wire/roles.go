package wire

// Roles (PROTOCOL.md §18): the second layer of login. An account owns a
// few roles, each a name in a game namespace, unique in that namespace
// across the cluster; a session may pick one, the identity it shows in
// scenes. Role names and namespaces follow the user-name rules (and are
// folded to lower case); an empty namespace is DefaultRoleNS.

// DefaultRoleNS is the namespace of a role whose namespace is empty.
const DefaultRoleNS = "default"

// RoleRef names one of the caller's roles (C→S: TRoleCreate, TRoleDelete
// and TRolePick → TOK). TRolePick with an empty Name drops the session's
// role.
type RoleRef struct {
	NS   string `msgpack:"ns,omitempty"`
	Name string `msgpack:"name"`
}

// RoleRename renames one of the caller's roles within its namespace (C→S,
// TRoleRename → TOK).
type RoleRename struct {
	NS      string `msgpack:"ns,omitempty"`
	Name    string `msgpack:"name"`
	NewName string `msgpack:"new_name"`
}

// RoleInfo is one role of the caller.
type RoleInfo struct {
	NS        string `msgpack:"ns"`
	Name      string `msgpack:"name"`
	CreatedMS int64  `msgpack:"created_ms"`
}

// RoleListReply lists the caller's roles in (namespace, name) order and
// how many it may own (S→C, the reply to TRoleList, whose body is empty).
type RoleListReply struct {
	Roles []RoleInfo `msgpack:"roles"`
	Max   uint32     `msgpack:"max"`
}
