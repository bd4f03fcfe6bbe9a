package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/roamhq/roam/client"
)

// Scheduled messages (PROTOCOL.md §17): `roam send --at TIME|--in
// DURATION USER TEXT`, `roam group send --at|--in ...`, and `roam
// scheduled list|get|cancel|edit|now`.

const scheduledUsage = `scheduled list                      your scheduled messages, by fire time
  scheduled get ID
  scheduled cancel ID                 it never fires (or forget a finished one)
  scheduled edit ID [--at TIME|--in D] [TEXT...]  (flags after the ID)
  scheduled now ID                    fire it now
  send --at TIME|--in D USER TEXT...  schedule a message (TIME: RFC 3339, e.g.
                                      2027-01-31T09:00:00Z; D: a Go duration, 90m)
  group send --at TIME|--in D NAME TEXT...`

// isScheduled reports whether a send's arguments ask for a schedule.
func isScheduled(argv []string) bool {
	if len(argv) == 0 {
		return false
	}
	f := strings.TrimLeft(argv[0], "-")
	return strings.HasPrefix(argv[0], "-") && (f == "at" || f == "in" || strings.HasPrefix(f, "at=") || strings.HasPrefix(f, "in="))
}

// parseWhen reads --at / --in into a time (zero if neither was given).
func parseWhen(name, at string, in time.Duration) (time.Time, error) {
	switch {
	case at != "" && in != 0:
		return time.Time{}, usagef("%s: give --at or --in, not both", name)
	case at != "":
		t, err := time.Parse(time.RFC3339, at)
		if err != nil {
			return time.Time{}, usagef("%s: --at: want an RFC 3339 time such as 2027-01-31T09:00:00Z: %v", name, err)
		}
		return t, nil
	case in < 0:
		return time.Time{}, usagef("%s: --in must not be negative", name)
	case in > 0:
		return time.Now().Add(in), nil
	}
	return time.Time{}, nil
}

// scheduledText is the text of the remaining arguments, or stdin.
func (a *app) scheduledText(name string, words []string, stdin bool) (string, error) {
	text := strings.Join(words, " ")
	if len(words) == 0 && stdin {
		b, err := io.ReadAll(a.stdin)
		if err != nil {
			return "", err
		}
		text = strings.TrimRight(string(b), "\r\n")
	}
	if text == "" && stdin {
		return "", usagef("%s: empty message", name)
	}
	return text, nil
}

// cmdScheduleSend schedules a message to a friend, or to a group.
func cmdScheduleSend(a *app, name string, argv []string, group bool) error {
	fs := a.subFlags(name)
	at := fs.String("at", "", "")
	in := fs.Duration("in", 0, "")
	if err := parseSub(fs, argv); err != nil {
		return err
	}
	rest := fs.Args()
	if len(rest) > 0 && rest[0] == "--" {
		rest = rest[1:]
	}
	if err := args(name+" --at TIME|--in D TO TEXT...", rest, 1, -1); err != nil {
		return err
	}
	when, err := parseWhen(name, *at, *in)
	if err != nil {
		return err
	}
	if when.IsZero() {
		return usagef("%s: --at or --in is required", name)
	}
	to := strings.ToLower(rest[0])
	text, err := a.scheduledText(name, rest[1:], true)
	if err != nil {
		return err
	}
	c, err := a.session(false)
	if err != nil {
		return err
	}
	var s client.Scheduled
	if group {
		s, err = c.ScheduleGroupAt(a.ctx, to, []byte(text), when)
	} else {
		s, err = c.ScheduleAt(a.ctx, to, []byte(text), when)
	}
	if err != nil {
		return err
	}
	a.emitScheduled("scheduled", s)
	return nil
}

// emitScheduled prints one scheduled message.
func (a *app) emitScheduled(what string, s client.Scheduled) {
	to := s.To
	if s.Group != "" {
		to = "group " + s.Group
	}
	line := fmt.Sprintf("%s %d to %s at %s: %s", what, s.ID, to, ts(s.Fire), s.State)
	if what == "scheduled_item" {
		line = fmt.Sprintf("%d to %s at %s: %s", s.ID, to, ts(s.Fire), s.State)
	}
	if s.Reason != "" {
		line += " (" + s.Reason + ")"
	}
	obj := map[string]any{"type": what, "id": s.ID, "fire": ts(s.Fire), "state": s.State, "body": string(s.Body)}
	if s.To != "" {
		obj["to"] = s.To
	} else {
		obj["group"] = s.Group
	}
	if s.Reason != "" {
		obj["reason"] = s.Reason
	}
	if s.MsgID != 0 {
		obj["msg_id"], obj["seq"] = s.MsgID, s.Seq
	}
	if what == "scheduled_item" {
		line += ": " + string(s.Body)
	}
	a.emit(line, obj)
}

func cmdScheduled(a *app, argv []string) error {
	if len(argv) == 0 {
		return usagef("scheduled: missing subcommand (list, get, cancel, edit, now)")
	}
	sub, rest := argv[0], argv[1:]
	if sub == "list" {
		if err := args("scheduled list", rest, 0, 0); err != nil {
			return err
		}
		c, err := a.session(false)
		if err != nil {
			return err
		}
		all, err := c.ScheduleList(a.ctx)
		if err != nil {
			return err
		}
		for _, s := range all {
			a.emitScheduled("scheduled_item", s)
		}
		return nil
	}
	if sub == "help" {
		fmt.Fprintln(a.stdout, "usage: roam [flags] "+scheduledUsage)
		return nil
	}
	if err := args("scheduled "+sub+" ID", rest, 1, -1); err != nil {
		return err
	}
	id, err := strconv.ParseUint(rest[0], 10, 64)
	if err != nil || id == 0 {
		return usagef("scheduled %s: %q is not a schedule id", sub, rest[0])
	}
	fs := a.subFlags("scheduled " + sub)
	at := fs.String("at", "", "")
	in := fs.Duration("in", 0, "")
	if err := parseSub(fs, rest[1:]); err != nil {
		return err
	}
	rest = append(rest[:1:1], fs.Args()...)
	var when time.Time
	var body []byte
	switch sub {
	case "get", "cancel", "now":
		if len(rest) > 1 || *at != "" || *in != 0 {
			return usagef("scheduled %s ID takes no other argument", sub)
		}
	case "edit":
		if when, err = parseWhen("scheduled edit", *at, *in); err != nil {
			return err
		}
		if len(rest) > 1 {
			body = []byte(strings.Join(rest[1:], " "))
		}
		if when.IsZero() && body == nil {
			return usagef("scheduled edit: give --at, --in or a new TEXT")
		}
	default:
		return usagef("scheduled: unknown subcommand %q", sub)
	}
	c, err := a.session(false)
	if err != nil {
		return err
	}
	var s client.Scheduled
	switch sub {
	case "get":
		s, err = c.ScheduleGet(a.ctx, id)
	case "cancel":
		s, err = c.ScheduleCancel(a.ctx, id)
	case "now":
		s, err = c.ScheduleNow(a.ctx, id)
	case "edit":
		s, err = c.ScheduleEdit(a.ctx, id, body, when)
	}
	if err != nil {
		return err
	}
	what := map[string]string{"get": "scheduled_item", "cancel": "cancelled", "now": "scheduled", "edit": "edited"}[sub]
	a.emitScheduled(what, s)
	return nil
}
