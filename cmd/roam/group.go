package main

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/roamhq/roam/client"
)

// Group commands (PROTOCOL.md §16): roam group SUBCOMMAND NAME [ARGS].

const groupUsage = `group create [--title T] [--topic P] [--open] NAME
  group set [--title T] [--topic P] [--open=true|false] NAME
  group invite|kick NAME USER
  group join|leave|delete|members NAME
  group role NAME USER admin|member|owner
  group list
  group send NAME TEXT...            (TEXT from stdin if omitted)`

func cmdGroup(a *app, argv []string) error {
	if len(argv) == 0 {
		return usagef("group: missing subcommand (create, invite, join, leave, kick, members, list, send, role, set or delete)")
	}
	sub, rest := argv[0], argv[1:]
	switch sub {
	case "create", "set":
		return groupSettings(a, sub, rest)
	case "invite", "kick":
		return groupPeer(a, sub, rest)
	case "join", "leave", "delete":
		return groupName(a, sub, rest)
	case "role":
		return groupRole(a, rest)
	case "list":
		return groupList(a, rest)
	case "members":
		return groupMembers(a, rest)
	case "send":
		return groupSend(a, rest)
	case "help":
		fmt.Fprintln(a.stdout, "usage: roam [flags] "+groupUsage)
		return nil
	}
	return usagef("group: unknown subcommand %q", sub)
}

// groupDone reports a successful group operation.
func (a *app) groupDone(op, group, text string, extra map[string]any) {
	obj := map[string]any{"type": "ok", "op": "group_" + op, "group": group}
	for k, v := range extra {
		obj[k] = v
	}
	a.emit(text, obj)
}

func groupSettings(a *app, sub string, argv []string) error {
	fs := a.subFlags("group " + sub)
	title := fs.String("title", "", "")
	topic := fs.String("topic", "", "")
	open := fs.Bool("open", false, "")
	if err := parseSub(fs, argv); err != nil {
		return err
	}
	if err := args("group "+sub+" NAME", fs.Args(), 1, 1); err != nil {
		return err
	}
	var s client.GroupSettings
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "title":
			s.Title = title
		case "topic":
			s.Topic = topic
		case "open":
			s.Open = open
		}
	})
	if sub == "set" && s.Title == nil && s.Topic == nil && s.Open == nil {
		return usagef("group set: give --title, --topic and/or --open")
	}
	name := strings.ToLower(fs.Arg(0))
	c, err := a.session(false)
	if err != nil {
		return err
	}
	if sub == "create" {
		if err := c.GroupCreate(a.ctx, name, s); err != nil {
			return err
		}
		a.groupDone(sub, name, "created group "+name, nil)
		return nil
	}
	if err := c.GroupSet(a.ctx, name, s); err != nil {
		return err
	}
	a.groupDone(sub, name, "changed group "+name, nil)
	return nil
}

func groupPeer(a *app, sub string, argv []string) error {
	if err := args("group "+sub+" NAME USER", argv, 2, 2); err != nil {
		return err
	}
	name, user := strings.ToLower(argv[0]), strings.ToLower(argv[1])
	c, err := a.session(false)
	if err != nil {
		return err
	}
	op, text := c.GroupInvite, "invited %s to %s"
	if sub == "kick" {
		op, text = c.GroupKick, "removed %s from %s"
	}
	if err := op(a.ctx, name, user); err != nil {
		return err
	}
	a.groupDone(sub, name, fmt.Sprintf(text, user, name), map[string]any{"user": user})
	return nil
}

func groupName(a *app, sub string, argv []string) error {
	if err := args("group "+sub+" NAME", argv, 1, 1); err != nil {
		return err
	}
	name := strings.ToLower(argv[0])
	c, err := a.session(false)
	if err != nil {
		return err
	}
	ops := map[string]func(context.Context, string) error{"join": c.GroupJoin, "leave": c.GroupLeave, "delete": c.GroupDelete}
	texts := map[string]string{"join": "joined %s", "leave": "left %s", "delete": "deleted %s"}
	if err := ops[sub](a.ctx, name); err != nil {
		return err
	}
	a.groupDone(sub, name, fmt.Sprintf(texts[sub], name), nil)
	return nil
}

func groupRole(a *app, argv []string) error {
	if err := args("group role NAME USER ROLE", argv, 3, 3); err != nil {
		return err
	}
	name, user, role := strings.ToLower(argv[0]), strings.ToLower(argv[1]), strings.ToLower(argv[2])
	switch role {
	case client.RoleAdmin, client.RoleMember, client.RoleOwner:
	default:
		return usagef("group role: ROLE must be admin, member or owner")
	}
	c, err := a.session(false)
	if err != nil {
		return err
	}
	if err := c.GroupRole(a.ctx, name, user, role); err != nil {
		return err
	}
	a.groupDone("role", name, fmt.Sprintf("%s is now %s of %s", user, role, name), map[string]any{"user": user, "role": role})
	return nil
}

func groupList(a *app, argv []string) error {
	if err := args("group list", argv, 0, 0); err != nil {
		return err
	}
	c, err := a.session(false)
	if err != nil {
		return err
	}
	groups, err := c.GroupList(a.ctx)
	if err != nil {
		return err
	}
	for _, g := range groups {
		obj := map[string]any{"type": "group", "group": g.Group, "role": g.Role}
		if g.Role == client.RoleInvited {
			a.emit(fmt.Sprintf("%-32s invited", g.Group), obj)
			continue
		}
		for k, v := range map[string]any{"title": g.Title, "topic": g.Topic, "open": g.Open, "owner": g.Owner,
			"members": g.Members, "head": g.Head, "cursor": g.Cursor, "since": g.Since, "unread": g.Unread} {
			obj[k] = v
		}
		text := fmt.Sprintf("%-32s %-7s %4d members %5d unread", g.Group, g.Role, g.Members, g.Unread)
		if g.Open {
			text += "  open"
		}
		if g.Title != "" {
			text += "  " + g.Title
		}
		a.emit(text, obj)
	}
	return nil
}

func groupMembers(a *app, argv []string) error {
	if err := args("group members NAME", argv, 1, 1); err != nil {
		return err
	}
	name := strings.ToLower(argv[0])
	c, err := a.session(false)
	if err != nil {
		return err
	}
	members, err := c.GroupMembers(a.ctx, name)
	if err != nil {
		return err
	}
	for _, m := range members {
		a.emit(fmt.Sprintf("%-32s %s", m.User, m.Role), map[string]any{"type": "member", "group": name, "user": m.User, "role": m.Role})
	}
	return nil
}

func groupSend(a *app, argv []string) error {
	return sendText(a, "group send", "group send NAME TEXT...", true, argv, func(c *client.Client, name string, text []byte) (client.Ack, error) {
		return c.GroupSend(a.ctx, name, text)
	})
}

// printGroupMessage prints a group entry (recv, chat): a message as
// "[group] from: text", an event as "[group] * ...".
func (a *app) printGroupMessage(m client.GroupMessage, layout string) {
	obj := map[string]any{"type": "group_message", "group": m.Group, "seq": m.Seq, "id": m.ID, "from": m.From, "sent": ts(m.Sent)}
	var text string
	if m.Kind == "" {
		obj["from_device"] = m.FromDevice
		obj["body"] = string(m.Body)
		obj["own"] = m.Own
		if !utf8.Valid(m.Body) {
			obj["body_b64"] = m.Body
		}
		from := m.From
		if m.Own {
			from += " (you)"
		}
		text = fmt.Sprintf("%s: %s", from, m.Body)
	} else {
		obj["kind"] = m.Kind
		if m.Subject != "" {
			obj["subject"] = m.Subject
		}
		if m.Role != "" {
			obj["role"] = m.Role
		}
		text = "* " + groupEventText(m)
	}
	a.emit(fmt.Sprintf("%s [%s] %s", m.Sent.Local().Format(layout), m.Group, text), obj)
}

func groupEventText(m client.GroupMessage) string {
	switch m.Kind {
	case client.GroupCreated:
		return m.From + " created the group"
	case client.GroupInvited:
		return m.From + " invited " + m.Subject
	case client.GroupJoined:
		return m.From + " joined"
	case client.GroupLeft:
		return m.From + " left"
	case client.GroupKicked:
		return m.From + " removed " + m.Subject
	case client.GroupRoleSet:
		return m.From + " made " + m.Subject + " " + m.Role
	case client.GroupInfoSet:
		return m.From + " changed the settings"
	case client.GroupDeleted:
		return m.From + " deleted the group"
	}
	return m.From + " " + m.Kind
}

// groupCursors keeps in the state the group positions the client
// reached (recv, chat): the next run starts after them. Groups the device
// is no longer in drop out.
func (a *app) groupCursors(c *client.Client) {
	got := c.GroupCursors()
	for g, seq := range got {
		got[g] = max(seq, a.st.Groups[g])
	}
	if len(got) == 0 {
		got = nil
	}
	a.st.Groups = got
}
