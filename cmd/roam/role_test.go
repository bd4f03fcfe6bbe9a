package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/roamhq/roam/node"
)

func TestRoleUsageErrors(t *testing.T) {
	state := filepath.Join(t.TempDir(), "s.json")
	for _, tc := range []struct {
		argv []string
		want string
	}{
		{[]string{"role"}, "role: missing subcommand"},
		{[]string{"role", "poke"}, `role: unknown subcommand "poke"`},
		{[]string{"role", "create"}, "role create NAME: missing argument"},
		{[]string{"role", "create", "a", "b"}, "too many arguments"},
		{[]string{"role", "delete", "--realm", "x", "a"}, "flag provided but not defined"},
		{[]string{"role", "rename", "a"}, "missing argument"},
		{[]string{"role", "list", "x"}, "too many arguments"},
		{[]string{"role", "pick"}, "missing argument"},
		{[]string{"role", "pick", "--none", "knight"}, "too many arguments"},
	} {
		argv := append([]string{"--state", state}, tc.argv...)
		code, out, errs := runCLI(t, "", nil, argv...)
		if code != 2 || !strings.Contains(errs, tc.want) || out != "" || !strings.HasPrefix(errs, "roam: ") {
			t.Errorf("%q: exit %d, stderr %q, stdout %q; want 2 and %q", tc.argv, code, errs, out, tc.want)
		}
	}
	if code, out, _ := runCLI(t, "", nil, "role", "help"); code != 0 || !strings.Contains(out, "role pick [--ns NS] NAME") {
		t.Errorf("role help: exit %d, %q", code, out)
	}
	if code, out, _ := runCLI(t, "", nil, "help"); code != 0 || !strings.Contains(out, "role create|rename|delete|list|pick") || !strings.Contains(out, "login --role NAME") {
		t.Errorf("help lacks roles: %q", out)
	}
	code, _, errs := runCLI(t, "", nil, "--state", state, "role", "list")
	if code != 1 || errs != "roam: not_logged_in (201): not logged in; run: roam login USER\n" {
		t.Errorf("role list without a session: exit %d, %q", code, errs)
	}
}

// TestE2E_CLIRoles drives the role commands against a real one-node
// cluster: each command is a new connection, so the picked role shown by
// whoami is the one the CLI picked again after its resume.
func TestE2E_CLIRoles(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real node")
	}
	environ := cliNode(t, func(cfg *node.Config) {
		cfg.VLR.Roles.Rate, cfg.VLR.Roles.Burst = 1000, 10000
	})
	dir := t.TempDir()
	alice := filepath.Join(dir, "alice.json")
	alice2 := filepath.Join(dir, "alice2.json")
	bob := filepath.Join(dir, "bob.json")
	run := func(state, stdin string, argv ...string) (int, string, string) {
		t.Helper()
		return runCLI(t, stdin, environ, append([]string{"--state", state}, argv...)...)
	}
	ok := func(state, stdin string, argv ...string) string {
		t.Helper()
		code, out, errs := run(state, stdin, argv...)
		if code != 0 {
			t.Fatalf("roam %s: exit %d: %s", strings.Join(argv, " "), code, errs)
		}
		return out
	}
	fails := func(state, want string, argv ...string) {
		t.Helper()
		code, _, errs := run(state, "", argv...)
		if code != 1 || !strings.Contains(errs, want) {
			t.Fatalf("roam %s: exit %d, stderr %q; want 1 and %q", strings.Join(argv, " "), code, errs, want)
		}
	}
	whoami := func(state string) string {
		t.Helper()
		return ok(state, "", "whoami")
	}
	for _, u := range []struct{ state, name string }{{alice, "alice"}, {bob, "bob"}} {
		ok(u.state, "pw-"+u.name+"\n", "--password-stdin", "register", u.name)
		ok(u.state, "pw-"+u.name+"\n", "--password-stdin", "login", u.name)
	}
	if out := ok(alice, "", "role", "create", "Knight"); out != "created role default/knight\n" {
		t.Fatalf("create: %q", out)
	}
	fails(bob, "roam: role_taken (223):", "role", "create", "knight")
	fails(bob, "roam: bad_name (203):", "role", "create", "--ns", "x", "thief")
	ok(alice, "", "role", "create", "--ns", "europe", "mage")
	if out := ok(alice, "", "role", "list"); !strings.Contains(out, "knight") || !strings.Contains(out, "europe") || !strings.Contains(out, "2 of 8 roles") {
		t.Fatalf("list: %q", out)
	}
	if out := whoami(alice); strings.Contains(out, "as role") {
		t.Fatalf("whoami before a pick: %q", out)
	}
	if out := ok(alice, "", "role", "pick", "knight"); out != "picked role default/knight\n" {
		t.Fatalf("pick: %q", out)
	}
	if out := whoami(alice); !strings.Contains(out, "as role default/knight") {
		t.Fatalf("whoami after the pick (a new connection): %q", out)
	}
	fails(alice, "roam: role_not_found (225):", "role", "pick", "cleric")
	if out := whoami(alice); !strings.Contains(out, "as role default/knight") {
		t.Fatalf("whoami after a refused pick: %q", out)
	}
	ok(alice, "", "role", "rename", "knight", "paladin")
	if out := whoami(alice); !strings.Contains(out, "as role default/paladin") {
		t.Fatalf("whoami after the rename: %q", out)
	}
	// A second device logs in with a role of its own.
	if out := ok(alice2, "pw-alice\n", "--password-stdin", "--device", "alice-phone", "login", "--role", "mage", "--ns", "europe", "alice"); !strings.Contains(out, "as role europe/mage") {
		t.Fatalf("login --role: %q", out)
	}
	var w map[string]any
	if err := json.Unmarshal([]byte(ok(alice2, "", "--json", "whoami")), &w); err != nil || w["role"] != "mage" || w["ns"] != "europe" {
		t.Fatalf("whoami --json on the second device: %v %v", w, err)
	}
	if out := whoami(alice); !strings.Contains(out, "as role default/paladin") {
		t.Fatalf("the first device's role: %q", out)
	}
	var list []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(ok(alice2, "", "--json", "role", "list")), "\n") {
		var obj map[string]any
		if err := json.Unmarshal([]byte(line), &obj); err != nil {
			t.Fatalf("role list --json: %q: %v", line, err)
		}
		list = append(list, obj)
	}
	if len(list) != 3 || list[0]["role"] != "paladin" || list[1]["role"] != "mage" || list[1]["picked"] != true || list[2]["max"] != float64(8) {
		t.Fatalf("role list --json: %v", list)
	}
	// A role deleted by another device is dropped at the next resume.
	ok(alice, "", "role", "delete", "--ns", "europe", "mage")
	code, out, errs := run(alice2, "", "whoami")
	if code != 0 || strings.Contains(out, "as role") || !strings.Contains(errs, "the picked role europe/mage is gone") {
		t.Fatalf("whoami after the role went: exit %d, %q, %q", code, out, errs)
	}
	if st, _ := loadState(alice2); st.Role != "" {
		t.Fatalf("the state keeps the gone role: %+v", st)
	}
	if code, _, errs := run(alice2, "pw-alice\n", "--password-stdin", "login", "--role", "nobody", "alice"); code != 1 ||
		!strings.Contains(errs, "logged in, but the role was not picked: role_not_found (225)") {
		t.Fatalf("login --role of a role it does not own: exit %d, %q", code, errs)
	}
	// Deleting the picked role drops it; the name is free again.
	ok(alice, "", "role", "delete", "paladin")
	if out := whoami(alice); strings.Contains(out, "as role") {
		t.Fatalf("whoami after deleting the picked role: %q", out)
	}
	ok(bob, "", "role", "create", "paladin")
	ok(alice, "", "role", "pick", "--none")
}
