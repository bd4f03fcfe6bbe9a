package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/roamhq/roam/node"
)

func TestGroupUsageErrors(t *testing.T) {
	state := filepath.Join(t.TempDir(), "s.json")
	for _, tc := range []struct {
		argv []string
		want string
	}{
		{[]string{"group"}, "group: missing subcommand"},
		{[]string{"group", "poke", "team"}, `group: unknown subcommand "poke"`},
		{[]string{"group", "create"}, "group create NAME: missing argument"},
		{[]string{"group", "create", "a", "b"}, "too many arguments"},
		{[]string{"group", "create", "--color", "red", "team"}, "flag provided but not defined"},
		{[]string{"group", "set", "team"}, "give --title, --topic and/or --open"},
		{[]string{"group", "invite", "team"}, "missing argument"},
		{[]string{"group", "kick", "team", "a", "b"}, "too many arguments"},
		{[]string{"group", "join"}, "missing argument"},
		{[]string{"group", "leave", "a", "b"}, "too many arguments"},
		{[]string{"group", "delete"}, "missing argument"},
		{[]string{"group", "members"}, "missing argument"},
		{[]string{"group", "list", "x"}, "too many arguments"},
		{[]string{"group", "role", "team", "bob"}, "missing argument"},
		{[]string{"group", "role", "team", "bob", "king"}, "ROLE must be admin, member or owner"},
		{[]string{"group", "send"}, "missing argument"},
		{[]string{"group", "send", "team"}, "group send: empty message"},
	} {
		argv := append([]string{"--state", state}, tc.argv...)
		code, out, errs := runCLI(t, "", nil, argv...)
		if code != 2 || !strings.Contains(errs, tc.want) || out != "" || !strings.HasPrefix(errs, "roam: ") {
			t.Errorf("%q: exit %d, stderr %q, stdout %q; want 2 and %q", tc.argv, code, errs, out, tc.want)
		}
	}
	code, out, _ := runCLI(t, "", nil, "group", "help")
	if code != 0 || !strings.Contains(out, "group role NAME USER admin|member|owner") {
		t.Errorf("group help: exit %d, %q", code, out)
	}
	if code, out, _ := runCLI(t, "", nil, "help"); code != 0 || !strings.Contains(out, "group SUBCOMMAND") {
		t.Errorf("help lacks groups: %q", out)
	}
	code, _, errs := runCLI(t, "", nil, "--state", state, "group", "list")
	if code != 1 || errs != "roam: not_logged_in (201): not logged in; run: roam login USER\n" {
		t.Errorf("group list without a session: exit %d, %q", code, errs)
	}
}

// TestE2E_CLIGroups drives the group commands, and recv of group
// messages, against a real one-node cluster.
func TestE2E_CLIGroups(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real node")
	}
	environ := cliNode(t, func(cfg *node.Config) {
		cfg.VLR.GroupOpRate, cfg.VLR.GroupOpBurst = 1000, 10000
		cfg.VLR.GroupSendRate, cfg.VLR.GroupSendBurst = 1000, 10000
	})
	dir := t.TempDir()
	alice := filepath.Join(dir, "alice.json")
	bob := filepath.Join(dir, "bob.json")
	ok := func(state, stdin string, argv ...string) string {
		t.Helper()
		code, out, errs := runCLI(t, stdin, environ, append([]string{"--state", state}, argv...)...)
		if code != 0 {
			t.Fatalf("roam %s: exit %d: %s", strings.Join(argv, " "), code, errs)
		}
		return out
	}
	fails := func(state, want string, argv ...string) {
		t.Helper()
		code, _, errs := runCLI(t, "", environ, append([]string{"--state", state}, argv...)...)
		if code != 1 || !strings.Contains(errs, want) {
			t.Fatalf("roam %s: exit %d, stderr %q; want 1 and %q", strings.Join(argv, " "), code, errs, want)
		}
	}
	for _, u := range []struct{ state, name string }{{alice, "alice"}, {bob, "bob"}} {
		ok(u.state, "pw-"+u.name+"\n", "--password-stdin", "register", u.name)
		ok(u.state, "pw-"+u.name+"\n", "--password-stdin", "login", u.name)
	}

	if out := ok(alice, "", "group", "create", "--title", "The Team", "Team"); out != "created group team\n" {
		t.Fatalf("create: %q", out)
	}
	fails(bob, "roam: name_taken (204):", "group", "create", "team")
	fails(bob, "roam: bad_name (203):", "group", "create", "x!")
	fails(bob, "roam: refused (210):", "group", "join", "team")
	ok(alice, "", "group", "invite", "team", "bob")
	if out := ok(bob, "", "--json", "group", "list"); !strings.Contains(out, `"role":"invited"`) {
		t.Fatalf("bob's list: %q", out)
	}
	ok(bob, "", "group", "join", "team")
	if out := ok(alice, "", "group", "members", "team"); !strings.Contains(out, "alice") || !strings.Contains(out, "owner") || !strings.Contains(out, "bob") {
		t.Fatalf("members: %q", out)
	}
	ok(alice, "", "group", "role", "team", "bob", "admin")
	fails(bob, "roam: refused (210):", "group", "delete", "team")
	ok(bob, "", "group", "set", "--topic", "plans", "team")
	if out := ok(alice, "", "group", "list"); !strings.Contains(out, "team") || !strings.Contains(out, "The Team") || !strings.Contains(out, "2 members") {
		t.Fatalf("alice's list: %q", out)
	}

	// Group messages: recv prints them with the group's name, once.
	if out := ok(alice, "", "group", "send", "team", "hello", "team"); !strings.Contains(out, "sent to team:") {
		t.Fatalf("send: %q", out)
	}
	ok(alice, "second\n", "group", "send", "team")
	out := ok(bob, "", "recv")
	if !strings.Contains(out, "[team] alice: hello team") || !strings.Contains(out, "[team] alice: second") ||
		strings.Index(out, "hello team") > strings.Index(out, "second") || strings.Contains(out, "created the group") {
		t.Fatalf("bob's recv: %q", out)
	}
	if out := ok(bob, "", "recv"); out != "" {
		t.Fatalf("second recv printed %q", out)
	}
	st, _ := loadState(bob)
	if st.Groups["team"] == 0 {
		t.Fatalf("bob's state has no group cursor: %+v", st)
	}
	ok(alice, "", "group", "send", "team", "third")
	out = ok(bob, "", "--json", "recv")
	var msg map[string]any
	if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &msg); err != nil || msg["type"] != "group_message" || msg["group"] != "team" ||
		msg["body"] != "third" || msg["seq"] != float64(st.Groups["team"]+1) || msg["own"] != false {
		t.Fatalf("recv --json: %q %v", out, err)
	}
	// The sender's own device sees its messages as its own.
	if out := ok(alice, "", "recv"); !strings.Contains(out, "[team] alice (you): third") || !strings.Contains(out, "* bob joined") {
		t.Fatalf("alice's recv: %q", out)
	}

	ok(alice, "", "group", "kick", "team", "bob")
	fails(bob, "roam: refused (210):", "group", "send", "team", "still here?")
	ok(bob, "", "group", "leave", "team") // not in it any more: done already (PROTOCOL §16.1)
	ok(alice, "", "group", "delete", "team")
	fails(alice, "roam: refused (210):", "group", "members", "team")
}
