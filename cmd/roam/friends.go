package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/roamhq/roam/client"
)

// Friend and presence commands.

var friendOps = map[string]func(*client.Client, context.Context, string) error{
	"request": (*client.Client).FriendRequest,
	"accept":  (*client.Client).FriendAccept,
	"decline": (*client.Client).FriendDecline,
	"remove":  (*client.Client).FriendRemove,
	"block":   (*client.Client).Block,
	"unblock": (*client.Client).Unblock,
}

var friendDone = map[string]string{
	"request": "friend request sent to %s",
	"accept":  "%s is now a friend",
	"decline": "declined %s's request",
	"remove":  "%s is no longer a friend",
	"block":   "blocked %s",
	"unblock": "unblocked %s",
}

func cmdFriend(a *app, argv []string) error {
	if len(argv) == 0 {
		return usagef("friend: missing subcommand (request, accept, decline, remove, block, unblock or list)")
	}
	sub, rest := argv[0], argv[1:]
	if sub == "list" {
		if err := args("friend list", rest, 0, 0); err != nil {
			return err
		}
		return friendList(a)
	}
	op, ok := friendOps[sub]
	if !ok {
		return usagef("friend: unknown subcommand %q", sub)
	}
	if err := args("friend "+sub+" USER", rest, 1, 1); err != nil {
		return err
	}
	user := strings.ToLower(rest[0])
	c, err := a.session(false)
	if err != nil {
		return err
	}
	if err := op(c, a.ctx, user); err != nil {
		return err
	}
	a.emit(fmt.Sprintf(friendDone[sub], user), map[string]any{"type": "ok", "op": "friend_" + sub, "user": user})
	return nil
}

func friendList(a *app) error {
	c, err := a.session(false)
	if err != nil {
		return err
	}
	f, err := c.Friends(a.ctx)
	if err != nil {
		return err
	}
	if a.json {
		friends := make([]map[string]any, 0, len(f.Friends))
		for _, x := range f.Friends {
			friends = append(friends, map[string]any{"user": x.User, "status": x.Status})
		}
		a.emit("", map[string]any{"type": "friends", "friends": friends,
			"incoming": nonNil(f.Incoming), "outgoing": nonNil(f.Outgoing), "blocked": nonNil(f.Blocked)})
		return nil
	}
	for _, x := range f.Friends {
		fmt.Fprintf(a.stdout, "friend    %-32s %s\n", x.User, x.Status)
	}
	for _, u := range f.Incoming {
		fmt.Fprintf(a.stdout, "incoming  %s\n", u)
	}
	for _, u := range f.Outgoing {
		fmt.Fprintf(a.stdout, "outgoing  %s\n", u)
	}
	for _, u := range f.Blocked {
		fmt.Fprintf(a.stdout, "blocked   %s\n", u)
	}
	return nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func cmdPresence(a *app, argv []string) error {
	if len(argv) > 0 && argv[0] == "set" {
		if err := args("presence set STATUS", argv[1:], 1, 1); err != nil {
			return err
		}
		status := strings.ToLower(argv[1])
		switch status {
		case client.StatusOnline, client.StatusAway, client.StatusBusy, client.StatusInvisible:
		default:
			return usagef("presence set: status must be online, away, busy or invisible")
		}
		c, err := a.session(false)
		if err != nil {
			return err
		}
		if err := c.SetPresence(a.ctx, status); err != nil {
			return err
		}
		a.emit("status set to "+status, map[string]any{"type": "ok", "op": "presence_set", "status": status})
		return nil
	}
	if err := args("presence", argv, 0, 0); err != nil {
		return err
	}
	c, err := a.session(false)
	if err != nil {
		return err
	}
	f, err := c.Friends(a.ctx)
	if err != nil {
		return err
	}
	for _, x := range f.Friends {
		a.emit(fmt.Sprintf("%-32s %s", x.User, x.Status), map[string]any{"type": "presence", "user": x.User, "status": x.Status})
	}
	return nil
}
