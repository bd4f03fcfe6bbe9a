package main

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/roamhq/roam/node"
)

// TestE2E_CLIScheduled: send --at/--in (to a friend and a group), --json
// printing the id, scheduled list, edit, cancel and now, and a limit's
// error, against a real node.
func TestE2E_CLIScheduled(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real node")
	}
	environ := cliNode(t, func(cfg *node.Config) {
		cfg.VLR.SendRate, cfg.VLR.SendBurst = 1000, 10000
		cfg.VLR.GroupOpRate, cfg.VLR.GroupOpBurst = 1000, 10000
	})
	dir := t.TempDir()
	alice := filepath.Join(dir, "alice.json")
	bob := filepath.Join(dir, "bob.json")
	ok := func(state string, argv ...string) string {
		t.Helper()
		code, out, errs := runCLI(t, "", environ, append([]string{"--state", state}, argv...)...)
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
	id := func(out string) string {
		t.Helper()
		var obj map[string]any
		if err := json.Unmarshal([]byte(out), &obj); err != nil {
			t.Fatalf("not JSON: %q", out)
		}
		v, isNum := obj["id"].(float64)
		if !isNum || v == 0 {
			t.Fatalf("no id in %q", out)
		}
		return fmt.Sprint(uint64(v))
	}
	for _, u := range []struct{ state, name string }{{alice, "alice"}, {bob, "bob"}} {
		code, _, errs := runCLI(t, "pw-"+u.name+"\n", environ, "--state", u.state, "--password-stdin", "register", u.name)
		if code != 0 {
			t.Fatal(errs)
		}
		if code, _, errs = runCLI(t, "pw-"+u.name+"\n", environ, "--state", u.state, "--password-stdin", "login", u.name); code != 0 {
			t.Fatal(errs)
		}
	}
	ok(alice, "friend", "request", "bob")
	ok(bob, "friend", "accept", "alice")

	later := id(ok(alice, "--json", "send", "--in", "1h", "bob", "much", "later"))
	at := time.Now().Add(48 * time.Hour).UTC().Format(time.RFC3339)
	byTime := id(ok(alice, "--json", "send", "--at", at, "bob", "on a date"))
	if out := ok(alice, "scheduled", "list"); !strings.Contains(out, later) || !strings.Contains(out, "much later") || !strings.Contains(out, byTime) {
		t.Fatalf("list: %q", out)
	}
	if out := ok(alice, "scheduled", "edit", later, "--in", "2h", "new", "text"); !strings.Contains(out, "edited "+later) {
		t.Fatalf("edit: %q", out)
	}
	if out := ok(alice, "--json", "scheduled", "get", later); !strings.Contains(out, `"body":"new text"`) {
		t.Fatalf("get after the edit: %q", out)
	}
	ok(alice, "scheduled", "cancel", byTime)
	fails(alice, "roam: schedule_not_found (221):", "scheduled", "get", byTime)
	ok(alice, "scheduled", "now", later)
	if out := ok(bob, "recv", "--wait", "3s"); !strings.Contains(out, "new text") || strings.Contains(out, "on a date") {
		t.Fatalf("bob's recv: %q", out)
	}
	fails(alice, "roam: schedule_too_soon (217):", "send", "--in", "1s", "bob", "x")
	fails(alice, "roam: schedule_too_far (218):", "send", "--in", "9000h", "bob", "x")
	ok(alice, "group", "create", "team")
	if out := ok(alice, "--json", "group", "send", "--in", "1h", "team", "hi", "team"); !strings.Contains(out, `"group":"team"`) {
		t.Fatalf("group schedule: %q", out)
	}
}
