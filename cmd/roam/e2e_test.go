package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestE2E_CLI drives the CLI (the same run function main calls) against a
// real one-node cluster: two users with their own state files.
func TestE2E_CLI(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real node")
	}
	environ := cliNode(t, nil)
	dir := t.TempDir()
	alice := filepath.Join(dir, "alice.json")
	bob := filepath.Join(dir, "bob.json")

	// ok runs a command that must succeed and returns its stdout.
	ok := func(state, stdin string, argv ...string) string {
		t.Helper()
		code, out, errs := runCLI(t, stdin, environ, append([]string{"--state", state}, argv...)...)
		if code != 0 {
			t.Fatalf("roam %s: exit %d: %s", strings.Join(argv, " "), code, errs)
		}
		return out
	}
	// fails runs a command that must fail with the given stderr.
	fails := func(state, stdin, want string, argv ...string) {
		t.Helper()
		code, _, errs := runCLI(t, stdin, environ, append([]string{"--state", state}, argv...)...)
		if code != 1 || !strings.Contains(errs, want) {
			t.Fatalf("roam %s: exit %d, stderr %q; want 1 and %q", strings.Join(argv, " "), code, errs, want)
		}
	}

	// Without it, the CLI insists on TLS and says why it failed.
	code, _, errs := runCLI(t, "pw\n", map[string]string{"ROAM_ADDR": environ["ROAM_ADDR"]}, "--state", alice, "--password-stdin", "register", "nobody")
	if code != 1 || !strings.Contains(errs, "does not speak TLS; use --plaintext") {
		t.Fatalf("TLS to a plaintext node: exit %d, %q", code, errs)
	}

	ok(alice, "pw-alice\n", "--password-stdin", "register", "alice")
	ok(bob, "pw-bob\n", "register", "--password-stdin", "bob")
	fails(alice, "x\n", "roam: name_taken (204):", "--password-stdin", "register", "alice")
	fails(alice, "wrong\n", "roam: auth_failed (205):", "--password-stdin", "login", "alice")
	if out := ok(alice, "pw-alice\n", "--password-stdin", "login", "alice"); !strings.Contains(out, "logged in as alice") {
		t.Fatalf("login said %q", out)
	}
	st, _ := loadState(alice)
	if st.User != "alice" || len(st.Token) != 16 || st.Device == "" {
		t.Fatalf("state after login: %+v", st)
	}
	if fi, _ := os.Stat(alice); fi.Mode().Perm() != 0o600 {
		t.Fatalf("state mode %v", fi.Mode().Perm())
	}
	environ["ROAM_PASSWORD"] = "pw-bob" // the environment works too
	ok(bob, "", "login", "bob")
	delete(environ, "ROAM_PASSWORD")

	// Every command resumes and saves the rotated token.
	tok := st.Token
	out := ok(alice, "", "--json", "whoami")
	var who map[string]any
	if err := json.Unmarshal([]byte(out), &who); err != nil || who["user"] != "alice" || who["auth"] != "resume" {
		t.Fatalf("whoami --json: %q %v", out, err)
	}
	st, _ = loadState(alice)
	if string(st.Token) == string(tok) {
		t.Fatal("token not rotated in the state file")
	}

	ok(alice, "", "profile", "set", "--name", "Alice Liddell", "--about", "curious")
	if out := ok(alice, "", "profile"); !strings.Contains(out, "Alice Liddell") || !strings.Contains(out, "curious") {
		t.Fatalf("profile: %q", out)
	}
	fails(alice, "", "roam: refused (210):", "profile", "bob")
	fails(alice, "", "roam: refused (210):", "send", "bob", "hello?")

	ok(alice, "", "friend", "request", "bob")
	if out := ok(bob, "", "friend", "list"); !strings.Contains(out, "incoming  alice") {
		t.Fatalf("bob's list: %q", out)
	}
	ok(bob, "", "friend", "accept", "alice")
	if out := ok(alice, "", "--json", "friend", "list"); !strings.Contains(out, `"user":"bob"`) {
		t.Fatalf("alice's list: %q", out)
	}
	if out := ok(alice, "", "profile", "bob"); !strings.Contains(out, "user:    bob") {
		t.Fatalf("bob's profile: %q", out)
	}

	// Messages wait in bob's inbox; recv prints them once.
	ok(alice, "", "send", "bob", "hello", "bob")
	ok(alice, "second message\n", "send", "bob")
	out = ok(bob, "", "recv")
	if !strings.Contains(out, "alice: hello bob") || !strings.Contains(out, "alice: second message") ||
		strings.Index(out, "hello bob") > strings.Index(out, "second message") {
		t.Fatalf("recv: %q", out)
	}
	if out := ok(bob, "", "recv"); out != "" {
		t.Fatalf("second recv printed %q", out)
	}
	st, _ = loadState(bob)
	if st.Cursor != 2 {
		t.Fatalf("bob's cursor %d", st.Cursor)
	}
	ok(alice, "", "send", "bob", "third")
	out = ok(bob, "", "--json", "recv", "--wait", "200ms")
	var msg map[string]any
	if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &msg); err != nil || msg["type"] != "message" || msg["body"] != "third" || msg["seq"] != 3.0 {
		t.Fatalf("recv --json: %q %v", out, err)
	}

	// Presence.
	ok(bob, "", "presence", "set", "busy")
	if out := ok(alice, "", "presence"); !strings.Contains(out, "bob") {
		t.Fatalf("presence: %q", out)
	}

	// Password change: the old password is checked, then replaced.
	fails(alice, "wrong\nnew\n", "roam: auth_failed (205):", "--password-stdin", "passwd")
	ok(alice, "pw-alice\npw-alice-2\n", "--password-stdin", "passwd")
	ok(alice, "", "whoami")
	fails(alice, "pw-alice\n", "auth_failed", "--password-stdin", "login", "alice")
	ok(alice, "pw-alice-2\n", "--password-stdin", "login", "alice")

	// Logout: the token is gone, locally and at the server.
	bobTok := func() []byte { st, _ := loadState(bob); return st.Token }()
	if code, _, errs := runCLI(t, "", environ, "--state", bob, "logout"); code != 0 {
		t.Errorf("logout: exit %d: %s", code, errs)
	}
	fails(bob, "", "roam: not_logged_in (201):", "whoami")
	saveState(bob, State{User: "bob", Token: bobTok, Device: func() string { st, _ := loadState(bob); return st.Device }()})
	fails(bob, "", "roam: session_invalid (207):", "whoami")

	// Delete.
	code, _, errs = runCLI(t, "pw-alice-2\n", environ, "--state", alice, "--password-stdin", "delete")
	if code != 0 {
		t.Errorf("delete: exit %d: %s", code, errs)
	}
	fails(alice, "pw-alice-2\n", "auth_failed", "--password-stdin", "login", "alice")
}
