package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/roamhq/roam/client"
)

// Message commands: send, recv, chat.

func cmdSend(a *app, argv []string) error {
	return sendText(a, "send", "send USER TEXT...", false, argv, func(c *client.Client, to string, text []byte) (client.Ack, error) {
		return c.Send(a.ctx, to, text)
	})
}

// sendText is send and group send: the recipient (a user or a group) and
// the text from argv or, with the recipient alone, from stdin; the ack
// printed. A scheduled send (--at, --in) goes to cmdScheduleSend.
func sendText(a *app, cmd, usage string, group bool, argv []string, send func(c *client.Client, to string, text []byte) (client.Ack, error)) error {
	if isScheduled(argv) {
		return cmdScheduleSend(a, cmd, argv, group) // scheduled.go
	}
	if len(argv) > 0 && argv[0] == "--" {
		argv = argv[1:]
	}
	if err := args(usage, argv, 1, -1); err != nil {
		return err
	}
	to := strings.ToLower(argv[0])
	text := strings.Join(argv[1:], " ")
	if len(argv) == 1 {
		b, err := io.ReadAll(a.stdin)
		if err != nil {
			return err
		}
		text = strings.TrimRight(string(b), "\r\n")
	}
	if text == "" {
		return usagef("%s: empty message", cmd)
	}
	c, err := a.session(false)
	if err != nil {
		return err
	}
	ack, err := send(c, to, []byte(text))
	if err != nil {
		return err
	}
	dup := ""
	if ack.Dup {
		dup = " (duplicate)"
	}
	key := "to"
	if group {
		key = "group"
	}
	a.emit(fmt.Sprintf("sent to %s: id %d, seq %d%s", to, ack.ID, ack.Seq, dup),
		map[string]any{"type": "sent", key: to, "id": ack.ID, "seq": ack.Seq, "dup": ack.Dup, "cmid": ack.CMID})
	return nil
}

// recvProgressEvery is how often (in messages) recv reports on stderr
// while it syncs a long backlog.
const recvProgressEvery = 5000

func cmdRecv(a *app, argv []string) error {
	fs := a.subFlags("recv")
	wait := fs.Duration("wait", 0, "")
	if err := parseSub(fs, argv); err != nil {
		return err
	}
	if err := args("recv [--wait D]", fs.Args(), 0, 0); err != nil {
		return err
	}
	if *wait < 0 {
		return usagef("recv: --wait must not be negative")
	}
	c, err := a.session(true)
	if err != nil {
		return err
	}
	// Until the first sync is complete, then for --wait longer. The sync
	// may take long for a big backlog: it fails only when nothing has
	// arrived for --timeout, not after a fixed time.
	start := time.Now()
	synced := false
	got := 0
	var deadline <-chan time.Time
	stalled := time.NewTimer(a.timeout)
	defer stalled.Stop()
	for {
		select {
		case <-a.ctx.Done():
			return nil
		case <-deadline:
			return nil
		case <-stalled.C:
			return fmt.Errorf("inbox sync made no progress for %v (%d messages received)", a.timeout, got)
		case ev := <-c.Events():
			switch ev.Kind {
			case client.EventGroupsSynced: // after the inbox's EventSynced
				if !synced {
					synced = true
					stalled.Stop()
					if got >= recvProgressEvery {
						a.progress(got, start, "inbox synced: ")
					}
					if *wait == 0 {
						return nil
					}
					deadline = time.After(*wait)
				}
			case client.EventMessage, client.EventGroupMessage:
				if ev.Kind == client.EventMessage {
					a.printMessage(ev.Message, time.DateTime)
				} else {
					a.printGroupMessage(ev.GroupMessage, time.DateTime)
				}
				got++
				if !synced {
					stalled.Reset(a.timeout)
					if got%recvProgressEvery == 0 {
						a.progress(got, start, "")
					}
				}
			case client.EventSessionEnded:
				return ev.Err
			case client.EventReconnected:
				a.saveToken(c)
			}
		}
	}
}

// progress reports on stderr how many messages recv has received.
func (a *app) progress(n int, start time.Time, what string) {
	d := time.Since(start)
	rate := float64(n) / max(d.Seconds(), 1e-3)
	fmt.Fprintf(a.stderr, "roam: recv: %s%d messages in %v (%.0f/s)\n", what, n, d.Round(100*time.Millisecond), rate)
}

// printMessage prints an inbox message.
func (a *app) printMessage(m client.Message, layout string) {
	obj := map[string]any{"type": "message", "seq": m.Seq, "id": m.ID, "from": m.From, "from_device": m.FromDevice,
		"body": string(m.Body), "sent": ts(m.Sent)}
	if !utf8.Valid(m.Body) {
		obj["body_b64"] = m.Body
	}
	a.emit(fmt.Sprintf("%s %s: %s", m.Sent.Local().Format(layout), m.From, m.Body), obj)
}

// saveToken saves the token after an automatic resume rotated it.
func (a *app) saveToken(c *client.Client) {
	if tok := c.Token(); tok != nil {
		a.st.Token = tok
		if err := a.save(); err != nil {
			fmt.Fprintf(a.stderr, "roam: saving the session: %v\n", err)
		}
	}
}

func cmdChat(a *app, argv []string) error {
	if err := args("chat USER", argv, 1, 1); err != nil {
		return err
	}
	peer := strings.ToLower(argv[0])
	c, err := a.session(true)
	if err != nil {
		return err
	}
	if f, err := c.Friends(a.ctx); err == nil {
		for _, x := range f.Friends {
			if x.User == peer {
				a.note(fmt.Sprintf("* %s is %s", x.User, x.Status), map[string]any{"type": "presence", "user": x.User, "status": x.Status})
			}
		}
	}
	if !a.json {
		fmt.Fprintf(a.stderr, "chatting with %s as %s; type a line to send it, /quit to leave\n", peer, c.User())
	}
	lines := make(chan string)
	go a.readLines(a.ctx, lines) // ends with stdin (or at exit)
	for {
		select {
		case <-a.ctx.Done():
			return nil
		case line, ok := <-lines:
			if !ok || strings.TrimSpace(line) == "/quit" {
				return nil
			}
			if strings.TrimSpace(line) == "" {
				continue
			}
			ack, err := c.Send(a.ctx, peer, []byte(line))
			if err != nil {
				a.warn(err)
				continue
			}
			if a.json {
				a.emit("", map[string]any{"type": "sent", "to": peer, "id": ack.ID, "seq": ack.Seq, "dup": ack.Dup, "cmid": ack.CMID})
			}
		case ev, ok := <-c.Events():
			if !ok {
				return nil
			}
			switch ev.Kind {
			case client.EventMessage:
				a.printMessage(ev.Message, time.TimeOnly)
			case client.EventGroupMessage:
				if !ev.GroupMessage.Own { // typed here
					a.printGroupMessage(ev.GroupMessage, time.TimeOnly)
				}
			case client.EventPresence:
				a.note(fmt.Sprintf("* %s is %s", ev.User, ev.Status), map[string]any{"type": "presence", "user": ev.User, "status": ev.Status})
			case client.EventFriend:
				a.note(fmt.Sprintf("* friend %s: %s", ev.Friend, ev.User), map[string]any{"type": "friend", "event": ev.Friend, "user": ev.User})
			case client.EventDisconnected:
				a.note("* connection lost; reconnecting", map[string]any{"type": "disconnected", "error": ev.Err.Error()})
			case client.EventReconnected:
				a.saveToken(c)
				a.note("* reconnected to "+ev.Addr, map[string]any{"type": "reconnected", "addr": ev.Addr})
			case client.EventSessionEnded:
				return ev.Err
			}
		}
	}
}

// readLines sends the lines of stdin to out and closes it at the end.
func (a *app) readLines(ctx context.Context, out chan<- string) {
	defer close(out)
	for {
		line, err := a.readLine()
		if err != nil {
			return
		}
		select {
		case out <- line:
		case <-ctx.Done():
			return
		}
	}
}

// note prints a status line, on stdout so that a transcript keeps the
// order of events.
func (a *app) note(text string, obj map[string]any) { a.emit(text, obj) }

// warn prints a non-fatal error.
func (a *app) warn(err error) {
	fmt.Fprintf(a.stderr, "roam: %s\n", strings.TrimPrefix(err.Error(), "client: "))
}
