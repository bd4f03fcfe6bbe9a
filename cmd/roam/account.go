package main

import (
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/roamhq/roam/client"
)

// Account commands: register, login, logout, whoami, profile, passwd,
// delete.

// userCommand parses "CMD USER", reads USER's password and dials a node
// without resuming the saved session (register and login).
// extra adds the command's own flags.
func userCommand(a *app, cmd string, argv []string, extra ...func(*flag.FlagSet)) (user, pw string, c *client.Client, err error) {
	fs := a.subFlags(cmd)
	for _, f := range extra {
		f(fs)
	}
	if err = parseSub(fs, argv); err != nil {
		return
	}
	if err = args(cmd+" USER", fs.Args(), 1, 1); err != nil {
		return
	}
	user = strings.ToLower(fs.Arg(0))
	if pw, err = a.secret("Password for "+user+": ", "ROAM_PASSWORD"); err != nil {
		return
	}
	c, err = a.dial(false)
	return
}

func cmdRegister(a *app, argv []string) error {
	user, pw, c, err := userCommand(a, "register", argv)
	if err != nil {
		return err
	}
	if err := c.Register(a.ctx, user, pw); err != nil {
		return err
	}
	a.emit("registered "+user, map[string]any{"type": "registered", "user": user})
	return nil
}

func cmdLogin(a *app, argv []string) error {
	var ns, role *string
	user, pw, c, err := userCommand(a, "login", argv, func(fs *flag.FlagSet) { ns, role = loginRole(fs) })
	if err != nil {
		return err
	}
	if err := c.Login(a.ctx, user, pw); err != nil {
		return err
	}
	if a.st.User != c.User() || a.st.Device != c.Device() {
		a.st.Cursor = 0
	}
	a.st.User = c.User()
	a.st.Device = c.Device()
	a.st.Addrs = a.addrs()
	a.st.Token = c.Token()
	a.st.Cursor = max(a.st.Cursor, c.Cursor()) // the server's cursor for this device
	a.st.RoleNS, a.st.Role = "", ""            // a new session picks anew
	if err := a.save(); err != nil {
		return err
	}
	obj := map[string]any{"type": "logged_in", "user": c.User(), "device": c.Device(), "addr": c.Addr()}
	text := fmt.Sprintf("logged in as %s (device %s)", c.User(), c.Device())
	if *role != "" {
		n, r := roleNS(*ns), strings.ToLower(*role)
		if err := c.PickRole(a.ctx, n, r); err != nil {
			return fmt.Errorf("logged in, but the role was not picked: %w", err)
		}
		a.st.RoleNS, a.st.Role = n, r
		if err := a.save(); err != nil {
			return err
		}
		obj["ns"], obj["role"] = n, r
		text += fmt.Sprintf(" as role %s/%s", n, r)
	}
	a.emit(text, obj)
	return nil
}

func cmdLogout(a *app, argv []string) error {
	if err := args("logout", argv, 0, 0); err != nil {
		return err
	}
	c, err := a.session(false)
	if err != nil {
		return err
	}
	user := c.User()
	if err := c.Logout(a.ctx); err != nil {
		if errors.Is(err, client.ErrConnLost) {
			// The server closes the connection after a logout; if its
			// reply was lost the outcome is unknown, but the user wants
			// the token gone: forget it here too.
			a.st.Token = nil
			a.save()
		}
		return err
	}
	a.st.Token = nil
	if err := a.save(); err != nil {
		return err
	}
	a.emit("logged out "+user, map[string]any{"type": "logged_out", "user": user})
	return nil
}

func cmdWhoami(a *app, argv []string) error {
	if err := args("whoami", argv, 0, 0); err != nil {
		return err
	}
	c, err := a.session(false)
	if err != nil {
		return err
	}
	w, err := c.Whoami(a.ctx)
	if err != nil {
		return err
	}
	text := fmt.Sprintf("%s (device %s) at node %s since %s", w.User, w.Device, w.Node, w.Since.Format(time.DateTime))
	obj := map[string]any{"type": "whoami", "user": w.User, "device": w.Device, "node": w.Node, "auth": w.Auth, "since": ts(w.Since), "addr": c.Addr()}
	if w.Role != "" {
		text += fmt.Sprintf(" as role %s/%s", w.RoleNS, w.Role)
		obj["ns"], obj["role"] = w.RoleNS, w.Role
	}
	a.emit(text, obj)
	return nil
}

func cmdProfile(a *app, argv []string) error {
	if len(argv) > 0 && argv[0] == "set" {
		return cmdProfileSet(a, argv[1:])
	}
	if err := args("profile [USER]", argv, 0, 1); err != nil {
		return err
	}
	user := ""
	if len(argv) == 1 {
		user = argv[0]
	}
	c, err := a.session(false)
	if err != nil {
		return err
	}
	p, err := c.Profile(a.ctx, user)
	if err != nil {
		return err
	}
	text := fmt.Sprintf("user:    %s\nname:    %s\nabout:   %s\ncreated: %s", p.User, p.DisplayName, p.About, p.Created.Format(time.DateTime))
	a.emit(text, map[string]any{"type": "profile", "user": p.User, "display_name": p.DisplayName, "about": p.About, "created": ts(p.Created)})
	return nil
}

func cmdProfileSet(a *app, argv []string) error {
	fs := a.subFlags("profile set")
	name := fs.String("name", "", "")
	about := fs.String("about", "", "")
	if err := parseSub(fs, argv); err != nil {
		return err
	}
	if err := args("profile set [--name N] [--about A]", fs.Args(), 0, 0); err != nil {
		return err
	}
	var u client.ProfileUpdate
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "name":
			u.DisplayName = name
		case "about":
			u.About = about
		}
	})
	if u.DisplayName == nil && u.About == nil {
		return usagef("profile set: give --name and/or --about")
	}
	c, err := a.session(false)
	if err != nil {
		return err
	}
	if err := c.SetProfile(a.ctx, u); err != nil {
		return err
	}
	a.emit("profile updated", map[string]any{"type": "profile_updated"})
	return nil
}

func cmdPasswd(a *app, argv []string) error {
	fs := a.subFlags("passwd")
	if err := parseSub(fs, argv); err != nil {
		return err
	}
	if err := args("passwd", fs.Args(), 0, 0); err != nil {
		return err
	}
	if a.st.User == "" || len(a.st.Token) == 0 {
		return errNotLoggedIn
	}
	old, err := a.secret("Current password: ", "ROAM_PASSWORD")
	if err != nil {
		return err
	}
	pw, err := a.secret("New password: ", "ROAM_NEW_PASSWORD")
	if err != nil {
		return err
	}
	c, err := a.session(false)
	if err != nil {
		return err
	}
	if err := c.ChangePassword(a.ctx, old, pw); err != nil {
		return err
	}
	a.st.Token = c.Token() // ChangePassword logged in again: a new session
	if err := a.save(); err != nil {
		return err
	}
	a.emit("password changed", map[string]any{"type": "password_changed", "user": c.User()})
	return nil
}

func cmdDelete(a *app, argv []string) error {
	fs := a.subFlags("delete")
	if err := parseSub(fs, argv); err != nil {
		return err
	}
	if err := args("delete", fs.Args(), 0, 0); err != nil {
		return err
	}
	if a.st.User == "" || len(a.st.Token) == 0 {
		return errNotLoggedIn
	}
	user := a.st.User
	pw, err := a.secret("Password for "+user+" (to delete the account): ", "ROAM_PASSWORD")
	if err != nil {
		return err
	}
	c, err := a.session(false)
	if err != nil {
		return err
	}
	if err := c.DeleteAccount(a.ctx, pw); err != nil {
		return err
	}
	a.st.User, a.st.Token, a.st.Cursor = "", nil, 0
	if err := a.save(); err != nil {
		return err
	}
	a.emit("account "+user+" deleted", map[string]any{"type": "account_deleted", "user": user})
	return nil
}
