package hlr

// Roles: the second layer of login. An account owns a few roles (game
// characters), each a name in a game namespace, unique in that namespace
// across the cluster. Two records make a role:
//
//   - the claim, in the home partition of the role's own key
//     RoleKey(ns, name) = "r/" ns "/" name, names the account that holds
//     the name (OpRoleClaim, OpRoleRelease). It is what makes the name
//     unique: one record, in one partition, decided by one Raft log.
//   - the role record, in the account's home partition, lists the role
//     among the account's roles (OpRoleLink, OpRoleUnlink), bounded by
//     the role limit.
//
// The vlr runs the steps (vlr/conn_roles.go): create is claim, then link
// (and a compensating release when the link is refused); rename is claim
// the new name, link it in place of the old one, release the old one;
// delete is unlink, then release. Each claim has an id, unique and
// increasing in its partition, that the role record keeps; a release
// names the id it releases, so a late release never frees a newer claim
// of the same name (the same account's re-creation, or the claim of an
// account registered again under the same name).
//
// A step that never runs (a crash between two) leaves a claim whose owner
// does not list it: an orphan. Another account may reclaim it, once the
// claim is older than the vlr's grace: it fences the owner's partition
// (OpRoleUnlink with Reason RoleReclaim and the claim's id), which is
// refused if the owner lists the role and otherwise records that no link
// of that claim (or an older one) may ever apply; then it releases the
// claim and claims the name itself. The fence makes the reclaim safe
// against a link still in flight: at most one account ever lists a role.
//
// Deleting an account releases its roles through the outbox.
//
// Names and namespaces are validated by the vlr (the user-name rules); the
// state machine only refuses empty ones and the separators.

// RoleKeyPrefix starts the partition key of every role claim.
const RoleKeyPrefix = "r/"

// DefaultMaxRoles bounds the roles of one account when Cmd.Limit is 0.
const DefaultMaxRoles = 8

// RoleReclaim is the Reason of an OpRoleUnlink that fences a claim for a
// reclaim instead of deleting the owner's role.
const RoleReclaim = "reclaim"

// RoleKey is the partition key of the claim of role name in namespace ns.
func RoleKey(ns, name string) string { return RoleKeyPrefix + ns + "/" + name }

// Role is one role of an account (in the account's partition).
type Role struct {
	NS        string `msgpack:"s"`
	Name      string `msgpack:"n"`
	Claim     uint64 `msgpack:"c"` // id of the claim this account holds
	CreatedMS int64  `msgpack:"t"`
}

// RoleClaim is the claim of a role name in its namespace (in the
// partition of RoleKey).
type RoleClaim struct {
	NS    string `msgpack:"s"`
	Name  string `msgpack:"n"`
	Owner string `msgpack:"o"`
	ID    uint64 `msgpack:"i"`
	AtMS  int64  `msgpack:"t"` // when the owner last claimed it
	// AgeMS is set in results only: how old the claim was when the
	// command that returned it applied (by the partition's clock).
	AgeMS int64 `msgpack:"g,omitempty"`
}

func roleKey(user, ns, name string) []byte { return sk(skRole, user, ns, name) }

func roleFenceKey(user, ns, name string) []byte { return sk(skRoleFence, user, ns, name) }

func roleClaimKey(ns, name string) []byte { return sk(skRoleClaim, ns, name) }

// Roles returns user's roles in (namespace, name) order.
func (v *View) Roles(user string) ([]Role, error) { return v.st.roles(user) }

func (s *state) roles(user string) ([]Role, error) {
	var out []Role
	err := s.scan(skUserPrefix(skRole, user), func(_, val []byte) (bool, error) {
		var r Role
		if err := decodeRec(val, &r); err != nil {
			return false, err
		}
		out = append(out, r)
		return true, nil
	})
	return out, err
}

// RoleClaimOf returns the claim of (ns, name), or nil.
func (v *View) RoleClaimOf(ns, name string) (*RoleClaim, error) {
	var c RoleClaim
	ok, err := v.st.getRec(roleClaimKey(ns, name), &c)
	if err != nil || !ok {
		return nil, err
	}
	return &c, nil
}
