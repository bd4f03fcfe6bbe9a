package client

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/roamhq/roam/wire"
)

// Roles (PROTOCOL.md §18): the second layer of login. An account owns a
// few roles (8 by default), each a name in a game namespace, unique in
// that namespace across the cluster. After the login a session may pick
// one of them: the identity other players see in scenes. 1:1 and group
// chat stay per account whatever the role. Names and namespaces follow
// the user-name rules and are sent lowercased; an empty namespace is
// wire.DefaultRoleNS. Refusals are *Error values: ErrRoleTaken,
// ErrRoleLimit, ErrRoleNotFound, ErrBadName, ErrBadRequest,
// ErrRateLimited. Requests are retried, like Send, when their outcome is
// unknown, up to MaxSendAttempts attempts (then ErrBusy); a create or
// rename whose first attempt applied succeeds on the retry, and so does a
// delete (its retry's role_not_found is taken as success).

// Role is one role of the account.
type Role struct {
	NS      string
	Name    string
	Created time.Time
}

func roleNS(ns string) string {
	if ns = canonicalUser(ns); ns == "" {
		return wire.DefaultRoleNS
	}
	return ns
}

// RoleCreate creates role name in namespace ns for the account
// (ErrRoleTaken if another account owns that name there, ErrRoleLimit if
// the account owns as many roles as it may). Creating a role the account
// owns already succeeds.
func (c *Client) RoleCreate(ctx context.Context, ns, name string) error {
	return c.roleCall(ctx, wire.TRoleCreate, &wire.RoleRef{NS: roleNS(ns), Name: canonicalUser(name)}, wire.TOK, nil)
}

// RoleRename renames the account's role name in ns to newName
// (ErrRoleNotFound if the account has no such role, ErrRoleTaken if
// newName is taken). The session's picked role follows the rename.
func (c *Client) RoleRename(ctx context.Context, ns, name, newName string) error {
	ns, name, newName = roleNS(ns), canonicalUser(name), canonicalUser(newName)
	if err := c.roleCall(ctx, wire.TRoleRename, &wire.RoleRename{NS: ns, Name: name, NewName: newName}, wire.TOK, nil); err != nil {
		return err
	}
	c.swapRole(ns, name, newName)
	return nil
}

// RoleDelete deletes the account's role name in ns; the name is free
// again for anyone. A session that picked it has no role any more.
func (c *Client) RoleDelete(ctx context.Context, ns, name string) error {
	ns, name = roleNS(ns), canonicalUser(name)
	if err := c.roleCall(ctx, wire.TRoleDelete, &wire.RoleRef{NS: ns, Name: name}, wire.TOK, nil); err != nil {
		return err
	}
	c.swapRole(ns, name, "")
	return nil
}

// Roles lists the account's roles in (namespace, name) order, and how
// many it may own.
func (c *Client) Roles(ctx context.Context) ([]Role, int, error) {
	var r wire.RoleListReply
	if err := c.roleCall(ctx, wire.TRoleList, &wire.Empty{}, wire.TRoleListReply, &r); err != nil {
		return nil, 0, err
	}
	out := make([]Role, 0, len(r.Roles))
	for _, x := range r.Roles {
		out = append(out, Role{NS: x.NS, Name: x.Name, Created: time.UnixMilli(x.CreatedMS)})
	}
	return out, int(r.Max), nil
}

// PickRole makes the account's role name in ns this session's role
// (ErrRoleNotFound if the account owns no such role); an empty name drops
// the session's role. The pick lasts for the session: the client picks
// it again after it resumes on a new connection (and forgets it if the
// role is gone by then).
func (c *Client) PickRole(ctx context.Context, ns, name string) error {
	ref := wire.RoleRef{}
	if name != "" {
		ref = wire.RoleRef{NS: roleNS(ns), Name: canonicalUser(name)}
	}
	if err := c.roleCall(ctx, wire.TRolePick, &ref, wire.TOK, nil); err != nil {
		return err
	}
	c.mu.Lock()
	if c.sess != nil {
		c.sess.role = ref
	}
	c.mu.Unlock()
	return nil
}

// PickedRole returns the role this session picked ("" name if none).
func (c *Client) PickedRole() (ns, name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.sess == nil {
		return "", ""
	}
	return c.sess.role.NS, c.sess.role.Name
}

// swapRole follows a rename (to) or a deletion (to "") of the picked role.
func (c *Client) swapRole(ns, from, to string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s := c.sess; s != nil && s.role.NS == ns && s.role.Name == from {
		if to == "" {
			s.role = wire.RoleRef{}
		} else {
			s.role.Name = to
		}
	}
}

// repickRole picks role again on cn, a connection just resumed: the
// server keeps no pick across connections. A role that is gone is
// dropped (the returned ref is then empty).
func (c *Client) repickRole(ctx context.Context, cn *conn, role wire.RoleRef) (wire.RoleRef, error) {
	if role.Name == "" {
		return role, nil
	}
	err := cn.roundTrip(ctx, wire.TRolePick, &role, wire.TOK, nil)
	switch {
	case err == nil:
		return role, nil
	case errors.Is(err, ErrRoleNotFound):
		c.log.Info("the picked role is gone; the session has none", "ns", role.NS, "role", role.Name)
		return wire.RoleRef{}, nil
	}
	return role, err
}

// roleCall makes a role request, retrying while its outcome is unknown.
func (c *Client) roleCall(ctx context.Context, t wire.Type, body any, want wire.Type, out any) error {
	var last error
	for attempt := 1; ; attempt++ {
		err := c.call(ctx, t, body, want, out)
		if err == nil {
			return nil
		}
		if last != nil && t == wire.TRoleDelete && errors.Is(err, ErrRoleNotFound) {
			return nil // an earlier attempt deleted it
		}
		if ctx.Err() != nil || errors.Is(err, ErrClosed) || !retryable(err) {
			return err
		}
		last = err
		if attempt >= c.cfg.MaxSendAttempts {
			return fmt.Errorf("%w: %w", ErrBusy, last)
		}
		c.log.Debug("role request failed; retrying", "type", t, "attempt", attempt, "err", err)
		if err := c.sleep(ctx, c.backoff(attempt-1)); err != nil {
			return err
		}
	}
}
