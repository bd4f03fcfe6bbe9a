package vlr

import (
	"errors"
	"sync"
	"time"

	"github.com/roamhq/roam/hlr"
	"github.com/roamhq/roam/wire"
)

// Roles (PROTOCOL.md §18; the records and their invariants are in
// hlr/role.go). The vlr runs the steps of each request against two
// partitions: the claim's (RoleKey) and the account's.
//
//   - create: claim the name, then link it to the account; a refused link
//     (the account at its limit, or the claim fenced by a reclaim)
//     releases the claim again.
//   - rename: claim the new name, link it in place of the old one,
//     release the old one.
//   - delete: unlink, then release.
//
// A step that fails with an unknown outcome (a timeout) stops the
// request; a claim left without its link is an orphan, which another
// account may reclaim once it is older than RoleConfig.ReclaimAfter (and
// which the owner's own retry simply takes up).
//
// The picked role belongs to the session only: it is not stored, a
// resumed session starts with none (the client library picks it again),
// and a role deleted or renamed through another session stays the shown
// identity of a session that picked it until that session picks again.

// RoleConfig bounds the roles of an account.
type RoleConfig struct {
	// Max bounds the roles one account owns (all namespaces together).
	// It travels in each link command, so the home register applies the
	// bound of the node the request came through.
	Max int
	// ReclaimAfter is how old another account's claim of a name must be
	// before a create or rename checks whether it is an orphan (its
	// owner does not list the role) and takes it over. Below it, the name
	// is taken: the other account's create is likely still running.
	ReclaimAfter time.Duration
	// Rate and Burst bound each account's role requests.
	Rate  float64
	Burst int
}

// DefaultRoleConfig returns the defaults: 8 roles, orphans reclaimed
// after 30 s, 1 request a second with bursts of 20.
func DefaultRoleConfig() RoleConfig {
	return RoleConfig{Max: hlr.DefaultMaxRoles, ReclaimAfter: 30 * time.Second, Rate: 1, Burst: 20}
}

func (c RoleConfig) validate() error {
	if c.Max < 1 || c.Max > 256 || c.ReclaimAfter < 0 || c.Rate <= 0 || c.Burst < 1 {
		return errors.New("vlr: Roles: Max must be 1..256, ReclaimAfter not negative, Rate and Burst positive")
	}
	return nil
}

// pickedRole is the role a session picked, read by other goroutines (the
// scenes show a player as it).
type pickedRole struct {
	mu       sync.Mutex
	ns, name string
}

func (p *pickedRole) get() (ns, name string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.ns, p.name
}

func (p *pickedRole) set(ns, name string) {
	p.mu.Lock()
	p.ns, p.name = ns, name
	p.mu.Unlock()
}

// swap replaces the picked role (ns, from) by to ("" drops it) and leaves
// any other pick alone.
func (p *pickedRole) swap(ns, from, to string) {
	p.mu.Lock()
	if p.ns == ns && p.name == from {
		p.name = to
		if to == "" {
			p.ns = ""
		}
	}
	p.mu.Unlock()
}

// roleName is the name of the role the session picked, "" when none.
func (s *session) roleName() string {
	_, name := s.role.get()
	return name
}

// roleNS is the namespace of the role the session picked, "" when none.
func (s *session) roleNS() string {
	ns, _ := s.role.get()
	return ns
}

// roleStatusErr maps a refused role command to the client's code.
func roleStatusErr(st hlr.Status) error {
	switch st {
	case hlr.StatusOK:
		return nil
	case hlr.StatusExists, hlr.StatusRefused:
		return refuse(wire.CodeRoleTaken)
	case hlr.StatusFull:
		return refuse(wire.CodeRoleLimit)
	case hlr.StatusNotFound:
		return refuse(wire.CodeRoleNotFound)
	case hlr.StatusInvalid:
		return refuse(wire.CodeBadRequest)
	}
	return refuse(wire.CodeRefused)
}

// roleNames checks and folds a namespace (empty: the default) and a role
// name.
func roleNames(ns, name string) (string, string, error) {
	if ns == "" {
		ns = wire.DefaultRoleNS
	}
	n, ok := canonicalName(ns)
	if !ok {
		return "", "", refusef(wire.CodeBadName, "role namespaces follow the user-name rules")
	}
	r, ok := canonicalName(name)
	if !ok {
		return "", "", refusef(wire.CodeBadName, "role names follow the user-name rules")
	}
	return n, r, nil
}

func (c *conn) roleOp(t wire.Type, body any) (wire.Type, any, error) {
	if ok, wait := c.srv.limits.role.take(c.sess.user, c.srv.cfg.Now()); !ok {
		return 0, nil, &reqError{code: wire.CodeRateLimited, msg: "too many role requests", retry: wait}
	}
	switch t {
	case wire.TRoleList:
		return c.roleList()
	case wire.TRolePick:
		return c.rolePick(body.(*wire.RoleRef))
	case wire.TRoleRename:
		b := body.(*wire.RoleRename)
		return c.roleRename(b.NS, b.Name, b.NewName)
	}
	b := body.(*wire.RoleRef)
	ns, name, err := roleNames(b.NS, b.Name)
	if err != nil {
		return 0, nil, err
	}
	if t == wire.TRoleCreate {
		err = c.roleCreate(ns, name)
	} else {
		err = c.roleDelete(ns, name)
	}
	if err != nil {
		return 0, nil, err
	}
	return wire.TOK, okBody, nil
}

// roleClaim claims (ns, name) for the caller and returns the claim; an
// orphan of another account older than ReclaimAfter is taken over.
func (c *conn) roleClaim(ns, name string) (*hlr.RoleClaim, error) {
	user := c.sess.user
	claim := hlr.Cmd{Op: hlr.OpRoleClaim, User: user, NS: ns, RoleName: name}
	res, err := c.exec(claim)
	if err != nil {
		return nil, err
	}
	if other := res.Claim; res.Status == hlr.StatusExists && other != nil && other.AgeMS >= c.srv.cfg.Roles.ReclaimAfter.Milliseconds() {
		// Fence the owner's partition: refused while the owner lists the
		// role; otherwise no link of that claim can apply any more, and
		// the claim may go.
		fence, err := c.exec(hlr.Cmd{Op: hlr.OpRoleUnlink, User: other.Owner, NS: ns, RoleName: name, Reason: hlr.RoleReclaim, ID: other.ID})
		if err != nil {
			return nil, err
		}
		if fence.Status == hlr.StatusOK {
			if _, err := c.exec(hlr.Cmd{Op: hlr.OpRoleRelease, User: other.Owner, NS: ns, RoleName: name, ID: other.ID}); err != nil {
				return nil, err
			}
			c.srv.log.Info("role reclaimed", "ns", ns, "role", name, "from", other.Owner, "by", user)
			if res, err = c.exec(claim); err != nil {
				return nil, err
			}
		}
	}
	if err := roleStatusErr(res.Status); err != nil {
		return nil, err
	}
	if res.Claim == nil {
		return nil, errors.New("vlr: role claim answered without its claim")
	}
	return res.Claim, nil
}

// roleRelease ends claim id of (ns, name) as a compensation or a
// clean-up; a failure leaves an orphan, which is logged and reclaimable.
func (c *conn) roleRelease(ns, name string, id uint64) {
	if _, err := c.exec(hlr.Cmd{Op: hlr.OpRoleRelease, User: c.sess.user, NS: ns, RoleName: name, ID: id}); err != nil {
		c.srv.log.Warn("role release failed; the claim stays until it is reclaimed", "user", c.sess.user, "ns", ns, "role", name, "err", err)
	}
}

func (c *conn) roleCreate(ns, name string) error {
	cl, err := c.roleClaim(ns, name)
	if err != nil {
		return err
	}
	link, err := c.exec(hlr.Cmd{Op: hlr.OpRoleLink, User: c.sess.user, NS: ns, RoleName: name, ID: cl.ID, Limit: c.srv.cfg.Roles.Max})
	if err != nil {
		return err // unknown: the claim may be linked
	}
	if link.Status != hlr.StatusOK {
		c.roleRelease(ns, name, cl.ID)
	}
	return roleStatusErr(link.Status)
}

func (c *conn) roleRename(rawNS, oldName, newName string) (wire.Type, any, error) {
	ns, from, err := roleNames(rawNS, oldName)
	if err != nil {
		return 0, nil, err
	}
	_, to, err := roleNames(ns, newName)
	if err != nil {
		return 0, nil, err
	}
	if from == to {
		return 0, nil, refusef(wire.CodeBadRequest, "the new name is the old one")
	}
	cl, err := c.roleClaim(ns, to)
	if err != nil {
		return 0, nil, err
	}
	link, err := c.exec(hlr.Cmd{Op: hlr.OpRoleLink, User: c.sess.user, NS: ns, RoleName: to, OldName: from, ID: cl.ID, Limit: c.srv.cfg.Roles.Max})
	if err != nil {
		return 0, nil, err
	}
	if link.Status != hlr.StatusOK {
		c.roleRelease(ns, to, cl.ID)
		return 0, nil, roleStatusErr(link.Status)
	}
	if link.Role != nil {
		c.roleRelease(ns, from, link.Role.Claim)
	}
	c.sess.role.swap(ns, from, to)
	return wire.TOK, okBody, nil
}

func (c *conn) roleDelete(ns, name string) error {
	res, err := c.exec(hlr.Cmd{Op: hlr.OpRoleUnlink, User: c.sess.user, NS: ns, RoleName: name})
	if err != nil {
		return err
	}
	if err := roleStatusErr(res.Status); err != nil {
		return err
	}
	if res.Role != nil {
		c.roleRelease(ns, name, res.Role.Claim)
	}
	c.sess.role.swap(ns, name, "")
	return nil
}

// roles reads the caller's roles (linearizably: a role just created is
// listed, and may be picked).
func (c *conn) roles() ([]hlr.Role, error) {
	ans, err := c.query(hlr.Query{Kind: hlr.QueryAccount, User: c.sess.user, Roles: true, Linear: true})
	if err != nil {
		return nil, err
	}
	return ans.Roles, nil
}

func (c *conn) roleList() (wire.Type, any, error) {
	rs, err := c.roles()
	if err != nil {
		return 0, nil, err
	}
	out := &wire.RoleListReply{Roles: make([]wire.RoleInfo, 0, len(rs)), Max: uint32(c.srv.cfg.Roles.Max)}
	for _, r := range rs {
		out.Roles = append(out.Roles, wire.RoleInfo{NS: r.NS, Name: r.Name, CreatedMS: r.CreatedMS})
	}
	return wire.TRoleListReply, out, nil
}

// rolePick makes one of the caller's roles the session's, or drops it
// (an empty name).
func (c *conn) rolePick(b *wire.RoleRef) (wire.Type, any, error) {
	if b.Name == "" {
		c.sess.role.set("", "")
		return wire.TOK, okBody, nil
	}
	ns, name, err := roleNames(b.NS, b.Name)
	if err != nil {
		return 0, nil, err
	}
	rs, err := c.roles()
	if err != nil {
		return 0, nil, err
	}
	for _, r := range rs {
		if r.NS == ns && r.Name == name {
			c.sess.role.set(ns, name)
			return wire.TOK, okBody, nil
		}
	}
	return 0, nil, refuse(wire.CodeRoleNotFound)
}
