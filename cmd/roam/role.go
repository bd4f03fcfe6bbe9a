package main

import (
	"errors"
	"flag"
	"fmt"
	"strings"

	"github.com/roamhq/roam/client"
	"github.com/roamhq/roam/wire"
)

// Role commands (PROTOCOL.md §18): roam role SUBCOMMAND [--ns NS] NAME.
// The picked role is the session's; the CLI keeps it in the state file
// and picks it again after each resume (app.session), and "login --role"
// picks one right after the login.

const roleUsage = `role create [--ns NS] NAME
  role rename [--ns NS] NAME NEW
  role delete [--ns NS] NAME
  role list
  role pick [--ns NS] NAME           (the role the session shows in scenes; kept)
  role pick --none                   (show none)
NS is the game namespace (default "default"); names follow the user-name rules.`

func cmdRole(a *app, argv []string) error {
	if len(argv) == 0 {
		return usagef("role: missing subcommand (create, rename, delete, list or pick)")
	}
	sub, rest := argv[0], argv[1:]
	switch sub {
	case "create", "delete":
		return roleNamed(a, sub, rest)
	case "rename":
		return roleRename(a, rest)
	case "list":
		return roleList(a, rest)
	case "pick":
		return rolePick(a, rest)
	case "help":
		fmt.Fprintln(a.stdout, "usage: roam [flags] "+roleUsage)
		return nil
	}
	return usagef("role: unknown subcommand %q", sub)
}

// roleNS folds a namespace as the server does ("" is the default one).
func roleNS(ns string) string {
	if ns = strings.ToLower(strings.TrimSpace(ns)); ns == "" {
		return wire.DefaultRoleNS
	}
	return ns
}

func (a *app) roleDone(op, ns, name, text string, extra map[string]any) {
	obj := map[string]any{"type": "ok", "op": "role_" + op, "ns": ns, "role": name}
	for k, v := range extra {
		obj[k] = v
	}
	a.emit(text, obj)
}

func roleNamed(a *app, sub string, argv []string) error {
	fs := a.subFlags("role " + sub)
	ns := fs.String("ns", "", "")
	if err := parseSub(fs, argv); err != nil {
		return err
	}
	if err := args("role "+sub+" NAME", fs.Args(), 1, 1); err != nil {
		return err
	}
	c, err := a.session(false)
	if err != nil {
		return err
	}
	n, name := roleNS(*ns), strings.ToLower(fs.Arg(0))
	if sub == "create" {
		err = c.RoleCreate(a.ctx, n, name)
	} else {
		err = c.RoleDelete(a.ctx, n, name)
	}
	if err != nil {
		return err
	}
	if sub == "delete" && a.st.RoleNS == n && a.st.Role == name {
		a.st.RoleNS, a.st.Role = "", ""
	}
	a.roleDone(sub, n, name, fmt.Sprintf("%sed role %s/%s", strings.TrimSuffix(sub, "e"), n, name), nil)
	return nil
}

func roleRename(a *app, argv []string) error {
	fs := a.subFlags("role rename")
	ns := fs.String("ns", "", "")
	if err := parseSub(fs, argv); err != nil {
		return err
	}
	if err := args("role rename NAME NEW", fs.Args(), 2, 2); err != nil {
		return err
	}
	c, err := a.session(false)
	if err != nil {
		return err
	}
	n, from, to := roleNS(*ns), strings.ToLower(fs.Arg(0)), strings.ToLower(fs.Arg(1))
	if err := c.RoleRename(a.ctx, n, from, to); err != nil {
		return err
	}
	if a.st.RoleNS == n && a.st.Role == from {
		a.st.Role = to
	}
	a.roleDone("rename", n, to, fmt.Sprintf("renamed role %s/%s to %s", n, from, to), map[string]any{"from": from})
	return nil
}

func roleList(a *app, argv []string) error {
	if err := args("role list", argv, 0, 0); err != nil {
		return err
	}
	c, err := a.session(false)
	if err != nil {
		return err
	}
	roles, max, err := c.Roles(a.ctx)
	if err != nil {
		return err
	}
	pns, picked := c.PickedRole()
	for _, r := range roles {
		mark := ""
		if r.NS == pns && r.Name == picked {
			mark = "  (picked)"
		}
		a.emit(fmt.Sprintf("%-32s %-32s %s%s", r.NS, r.Name, ts(r.Created), mark),
			map[string]any{"type": "role", "ns": r.NS, "role": r.Name, "created": ts(r.Created), "picked": mark != ""})
	}
	a.emit(fmt.Sprintf("%d of %d roles", len(roles), max), map[string]any{"type": "roles", "count": len(roles), "max": max})
	return nil
}

func rolePick(a *app, argv []string) error {
	fs := a.subFlags("role pick")
	ns := fs.String("ns", "", "")
	none := fs.Bool("none", false, "")
	if err := parseSub(fs, argv); err != nil {
		return err
	}
	want := 1
	if *none {
		want = 0
	}
	if err := args("role pick NAME", fs.Args(), want, want); err != nil {
		return err
	}
	c, err := a.session(false)
	if err != nil {
		return err
	}
	n, name := roleNS(*ns), strings.ToLower(fs.Arg(0))
	if *none {
		n = ""
	}
	if err := c.PickRole(a.ctx, n, name); err != nil {
		return err
	}
	a.st.RoleNS, a.st.Role = n, name
	if *none {
		a.roleDone("pick", "", "", "no role picked", nil)
		return nil
	}
	a.roleDone("pick", n, name, fmt.Sprintf("picked role %s/%s", n, name), nil)
	return nil
}

// repickRole picks the saved role on a session just resumed; a role that
// is gone is forgotten.
func (a *app) repickRole(c *client.Client) error {
	if a.st.Role == "" {
		return nil
	}
	err := c.PickRole(a.ctx, a.st.RoleNS, a.st.Role)
	if errors.Is(err, client.ErrRoleNotFound) {
		fmt.Fprintf(a.stderr, "roam: the picked role %s/%s is gone; no role picked\n", a.st.RoleNS, a.st.Role)
		a.st.RoleNS, a.st.Role = "", ""
		return a.save()
	}
	return err
}

// loginRole adds --role and --ns to the login command's flags.
func loginRole(fs *flag.FlagSet) (ns, role *string) {
	return fs.String("ns", "", ""), fs.String("role", "", "")
}
