package hlr

import (
	"encoding/binary"
	"strings"
)

// Role commands (role.go). OpRoleClaim and OpRoleRelease apply in the
// partition of RoleKey(Cmd.NS, Cmd.RoleName) (see Cmd.Key); OpRoleLink and
// OpRoleUnlink in Cmd.User's. Cmd.User is always the account.

func applyRoleOp(t *txn, c *Cmd) (Result, error) {
	if c.User == "" || c.NS == "" || c.RoleName == "" || badRolePart(c.NS) || badRolePart(c.RoleName) || badRolePart(c.OldName) {
		return Result{Status: StatusInvalid}, nil
	}
	switch c.Op {
	case OpRoleClaim:
		return applyRoleClaim(t, c)
	case OpRoleRelease:
		return applyRoleRelease(t, c)
	case OpRoleLink:
		return applyRoleLink(t, c)
	case OpRoleUnlink:
		return applyRoleUnlink(t, c)
	}
	return Result{Status: StatusInvalid}, nil
}

// badRolePart reports a namespace or name that would break the claim's
// partition key ("r/" ns "/" name) or the sub-keys.
func badRolePart(s string) bool { return strings.ContainsAny(s, "/\x00") }

func (t *txn) roleClaim(ns, name string) (*RoleClaim, error) {
	var rc RoleClaim
	ok, err := t.getRec(roleClaimKey(ns, name), &rc)
	if err != nil || !ok {
		return nil, err
	}
	return &rc, nil
}

func (t *txn) role(user, ns, name string) (*Role, error) {
	var r Role
	ok, err := t.getRec(roleKey(user, ns, name), &r)
	if err != nil || !ok {
		return nil, err
	}
	return &r, nil
}

// applyRoleClaim claims (NS, RoleName) for User. A claim User holds
// already is claimed again under a new id (Dup): the retry of a create, or
// a create that follows an unfinished one; the new link keeps the newest
// id, so an earlier release of the name cannot free it. A claim another
// account holds answers StatusExists with the claim, for the caller to
// judge whether it may reclaim it.
func applyRoleClaim(t *txn, c *Cmd) (Result, error) {
	rc, err := t.roleClaim(c.NS, c.RoleName)
	if err != nil {
		return Result{}, err
	}
	if rc != nil && rc.Owner != c.User {
		out := *rc
		out.AgeMS = t.now - rc.AtMS
		return Result{Status: StatusExists, Claim: &out}, nil
	}
	dup := rc != nil
	t.meta.NextClaim++
	rc = &RoleClaim{NS: c.NS, Name: c.RoleName, Owner: c.User, ID: t.meta.NextClaim, AtMS: t.now}
	if err := t.setRec(roleClaimKey(c.NS, c.RoleName), rc); err != nil {
		return Result{}, err
	}
	out := *rc
	return Result{Claim: &out, Dup: dup}, nil
}

// applyRoleRelease drops claim ID of (NS, RoleName) if User holds it;
// otherwise (released already, or claimed again since) nothing changes
// and the answer is Dup.
func applyRoleRelease(t *txn, c *Cmd) (Result, error) {
	if c.ID == 0 {
		return Result{Status: StatusInvalid}, nil
	}
	rc, err := t.roleClaim(c.NS, c.RoleName)
	if err != nil {
		return Result{}, err
	}
	if rc == nil || rc.Owner != c.User || rc.ID != c.ID {
		return Result{Dup: true}, nil
	}
	return Result{}, t.del(roleClaimKey(c.NS, c.RoleName))
}

// applyRoleLink lists role (NS, RoleName), held under claim ID, among
// User's roles; with OldName set it takes the place of role (NS, OldName)
// (a rename), whose record the Result carries so the caller can release
// its claim. A role listed already keeps the newer of the two claim ids
// (Dup). Refusals: StatusNotFound (no account, or no role OldName),
// StatusRefused (the claim was fenced by a reclaim), StatusFull (User has
// Limit roles, DefaultMaxRoles when 0).
func applyRoleLink(t *txn, c *Cmd) (Result, error) {
	if c.ID == 0 || c.OldName == c.RoleName {
		return Result{Status: StatusInvalid}, nil
	}
	a, err := t.account(c.User)
	if err != nil || a == nil {
		return Result{Status: StatusNotFound}, err
	}
	fence, err := t.roleFence(c.User, c.NS, c.RoleName)
	if err != nil {
		return Result{}, err
	}
	if c.ID <= fence {
		return Result{Status: StatusRefused}, nil
	}
	r, err := t.role(c.User, c.NS, c.RoleName)
	if err != nil {
		return Result{}, err
	}
	if r != nil {
		if c.ID > r.Claim {
			r.Claim = c.ID
			if err := t.setRec(roleKey(c.User, c.NS, c.RoleName), r); err != nil {
				return Result{}, err
			}
		}
		return Result{Dup: true}, nil
	}
	var res Result
	if c.OldName != "" {
		old, err := t.role(c.User, c.NS, c.OldName)
		if err != nil || old == nil {
			return Result{Status: StatusNotFound}, err
		}
		if err := t.del(roleKey(c.User, c.NS, c.OldName)); err != nil {
			return Result{}, err
		}
		res.Role = old
	} else if n, err := t.count(skUserPrefix(skRole, c.User)); err != nil || n >= maxRoles(c) {
		return Result{Status: StatusFull}, err
	}
	r = &Role{NS: c.NS, Name: c.RoleName, Claim: c.ID, CreatedMS: t.now}
	return res, t.setRec(roleKey(c.User, c.NS, c.RoleName), r)
}

// applyRoleUnlink deletes User's role (NS, RoleName) and returns its
// record (StatusNotFound if User has no such role). With Reason
// RoleReclaim it fences claim ID instead: refused (StatusRefused) while
// User lists the role, otherwise no link of claim ID or an older one
// applies from then on.
func applyRoleUnlink(t *txn, c *Cmd) (Result, error) {
	r, err := t.role(c.User, c.NS, c.RoleName)
	if err != nil {
		return Result{}, err
	}
	switch c.Reason {
	case "":
		if r == nil {
			return Result{Status: StatusNotFound}, nil
		}
		return Result{Role: r}, t.del(roleKey(c.User, c.NS, c.RoleName))
	case RoleReclaim:
		if c.ID == 0 {
			return Result{Status: StatusInvalid}, nil
		}
		if r != nil {
			return Result{Status: StatusRefused}, nil
		}
		fence, err := t.roleFence(c.User, c.NS, c.RoleName)
		if err != nil || fence >= c.ID {
			return Result{}, err
		}
		return Result{}, t.set(roleFenceKey(c.User, c.NS, c.RoleName), binary.BigEndian.AppendUint64(nil, c.ID))
	}
	return Result{Status: StatusInvalid}, nil
}

func (t *txn) roleFence(user, ns, name string) (uint64, error) {
	v, ok, err := t.get(roleFenceKey(user, ns, name))
	if err != nil || !ok || len(v) != 8 {
		return 0, err
	}
	return binary.BigEndian.Uint64(v), nil
}

func maxRoles(c *Cmd) int {
	if c.Limit > 0 {
		return c.Limit
	}
	return DefaultMaxRoles
}

// releaseAllRoles writes an outbox item that releases the claim of each
// of user's roles (the account is being deleted) and reports how many.
func (t *txn) releaseAllRoles(user string) (int, error) {
	rs, err := t.roles(user)
	if err != nil {
		return 0, err
	}
	for _, r := range rs {
		if err := t.addOutbox(Cmd{Op: OpRoleRelease, User: user, NS: r.NS, RoleName: r.Name, ID: r.Claim}); err != nil {
			return 0, err
		}
	}
	return len(rs), nil
}
