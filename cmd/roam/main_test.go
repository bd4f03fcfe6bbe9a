package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/roamhq/roam/client"
	"github.com/roamhq/roam/wire"
)

// runCLI runs the CLI with the given stdin and environment.
func runCLI(t *testing.T, stdin string, environ map[string]string, argv ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	e := env{stdin: strings.NewReader(stdin), stdout: &out, stderr: &errb, getenv: func(k string) string { return environ[k] }}
	code = run(context.Background(), argv, e)
	return code, out.String(), errb.String()
}

func TestStateRoundTripAndMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "session.json")
	want := State{Addrs: []string{"a:1", "b:2"}, User: "alice", Device: "dev-1", Token: []byte{1, 2, 3, 255}, Cursor: 42}
	if err := saveState(path, want); err != nil {
		t.Fatal(err)
	}
	got, err := loadState(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want 0600", fi.Mode().Perm())
	}
	di, _ := os.Stat(filepath.Dir(path))
	if di.Mode().Perm() != 0o700 {
		t.Fatalf("dir mode %v, want 0700", di.Mode().Perm())
	}
	// Overwriting keeps the mode, even over a file that was readable by all.
	os.Chmod(path, 0o644)
	want.Token = nil
	if err := saveState(path, want); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode after overwrite %v", fi.Mode().Perm())
	}
	b, _ := os.ReadFile(path)
	if strings.Contains(string(b), "token") {
		t.Fatalf("cleared token still in the file: %s", b)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Fatalf("temporary files left: %v", entries)
	}
	// A missing file is an empty state; a corrupt one is an error.
	if st, err := loadState(filepath.Join(t.TempDir(), "none.json")); err != nil || !reflect.DeepEqual(st, State{}) {
		t.Fatalf("missing file: %+v %v", st, err)
	}
	os.WriteFile(path, []byte("{"), 0o600)
	if _, err := loadState(path); err == nil {
		t.Fatal("corrupt state accepted")
	}
}

func TestUsageErrors(t *testing.T) {
	state := filepath.Join(t.TempDir(), "s.json")
	for _, tc := range []struct {
		argv []string
		want string
	}{
		{nil, "no command"},
		{[]string{"bogus"}, `unknown command "bogus"`},
		{[]string{"--nope", "whoami"}, "flag provided but not defined: -nope"},
		{[]string{"--timeout", "0", "whoami"}, "--timeout must be positive"},
		{[]string{"--device", "a b", "whoami"}, "--device"},
		{[]string{"--plaintext", "--ca", "ca.crt", "whoami"}, "--plaintext excludes --ca and --insecure"},
		{[]string{"--plaintext", "--insecure", "whoami"}, "--plaintext excludes"},
		{[]string{"login"}, "login USER: missing argument"},
		{[]string{"login", "a", "b"}, "too many arguments"},
		{[]string{"register"}, "missing argument"},
		{[]string{"whoami", "x"}, "too many arguments"},
		{[]string{"logout", "x"}, "too many arguments"},
		{[]string{"friend"}, "friend: missing subcommand"},
		{[]string{"friend", "poke", "bob"}, `unknown subcommand "poke"`},
		{[]string{"friend", "request"}, "missing argument"},
		{[]string{"friend", "list", "x"}, "too many arguments"},
		{[]string{"presence", "set"}, "missing argument"},
		{[]string{"presence", "set", "happy"}, "status must be online, away, busy or invisible"},
		{[]string{"profile", "set"}, "give --name and/or --about"},
		{[]string{"profile", "set", "--color", "red"}, "flag provided but not defined"},
		{[]string{"profile", "a", "b"}, "too many arguments"},
		{[]string{"send"}, "missing argument"},
		{[]string{"send", "bob"}, "send: empty message"},
		{[]string{"recv", "--wait", "soon"}, "invalid value"},
		{[]string{"recv", "--wait", "-1s"}, "must not be negative"},
		{[]string{"chat"}, "missing argument"},
		{[]string{"passwd", "x"}, "too many arguments"},
	} {
		argv := append([]string{"--state", state}, tc.argv...)
		code, out, errs := runCLI(t, "", nil, argv...)
		if code != 2 || !strings.Contains(errs, tc.want) || out != "" {
			t.Errorf("%q: exit %d, stderr %q, stdout %q; want 2 and %q", tc.argv, code, errs, out, tc.want)
		}
		if !strings.HasPrefix(errs, "roam: ") {
			t.Errorf("%q: stderr %q lacks the roam: prefix", tc.argv, errs)
		}
	}
}

func TestHelp(t *testing.T) {
	for _, argv := range [][]string{{"help"}, {"-h"}, {"--help"}} {
		code, out, _ := runCLI(t, "", nil, argv...)
		if code != 0 || !strings.Contains(out, "usage: roam") || !strings.Contains(out, "chat USER") {
			t.Errorf("%q: exit %d, %q", argv, code, out)
		}
	}
}

func TestNotLoggedIn(t *testing.T) {
	state := filepath.Join(t.TempDir(), "s.json")
	for _, argv := range [][]string{{"whoami"}, {"logout"}, {"send", "bob", "hi"}, {"recv"}, {"friend", "list"}, {"passwd"}, {"delete"}} {
		code, _, errs := runCLI(t, "", nil, append([]string{"--state", state}, argv...)...)
		if code != 1 || errs != "roam: not_logged_in (201): not logged in; run: roam login USER\n" {
			t.Errorf("%q: exit %d, %q", argv, code, errs)
		}
	}
}

func TestErrorOutput(t *testing.T) {
	var errb bytes.Buffer
	a := &app{env: env{stderr: &errb}}
	if code := a.exit(&client.Error{Code: wire.CodeRefused, Message: "not allowed"}); code != 1 {
		t.Fatalf("exit %d", code)
	}
	if got := errb.String(); got != "roam: refused (210): not allowed\n" {
		t.Fatalf("%q", got)
	}
	errb.Reset()
	a.exit(errors.Join(client.ErrBusy))
	if got := errb.String(); got != "roam: busy, try later\n" {
		t.Fatalf("%q", got)
	}
}

func TestPasswordSources(t *testing.T) {
	newApp := func(stdin string, environ map[string]string, fromStdin bool) (*app, *bytes.Buffer) {
		var errb bytes.Buffer
		return &app{env: env{stdin: strings.NewReader(stdin), stderr: &errb, getenv: func(k string) string { return environ[k] }}, passwordStdin: fromStdin}, &errb
	}
	// --password-stdin: one line each, even if the environment has one.
	a, _ := newApp("old pw \nnew\r\n", map[string]string{"ROAM_PASSWORD": "env"}, true)
	if pw, err := a.secret("Old: ", "ROAM_PASSWORD"); err != nil || pw != "old pw " {
		t.Fatalf("%q %v", pw, err)
	}
	if pw, err := a.secret("New: ", "ROAM_NEW_PASSWORD"); err != nil || pw != "new" {
		t.Fatalf("%q %v", pw, err)
	}
	if _, err := a.secret("More: ", "ROAM_PASSWORD"); err == nil {
		t.Fatal("read past the end of stdin")
	}
	// The environment.
	a, errb := newApp("", map[string]string{"ROAM_PASSWORD": "p1", "ROAM_NEW_PASSWORD": "p2"}, false)
	if pw, _ := a.secret("Old: ", "ROAM_PASSWORD"); pw != "p1" {
		t.Fatal(pw)
	}
	if pw, _ := a.secret("New: ", "ROAM_NEW_PASSWORD"); pw != "p2" {
		t.Fatal(pw)
	}
	if errb.Len() != 0 {
		t.Fatalf("prompted: %q", errb)
	}
	// A prompt on stderr, then a line of stdin.
	a, errb = newApp("typed\n", nil, false)
	if pw, err := a.secret("Password: ", "ROAM_PASSWORD"); err != nil || pw != "typed" || errb.String() != "Password: " {
		t.Fatalf("%q %v %q", pw, err, errb)
	}
	// An empty password is refused.
	a, _ = newApp("\n", nil, true)
	var ue *usageError
	if _, err := a.secret("Password: ", "ROAM_PASSWORD"); !errors.As(err, &ue) {
		t.Fatalf("empty password: %v", err)
	}
}

func TestAddressesAndDevice(t *testing.T) {
	dir := t.TempDir()
	a := &app{env: env{getenv: func(k string) string { return map[string]string{"ROAM_ADDR": "e1:1, e2:2"}[k] }}, statePath: filepath.Join(dir, "s.json")}
	a.st.Addrs = []string{"s:1"}
	if got := a.addrs(); !reflect.DeepEqual(got, []string{"e1:1", "e2:2"}) {
		t.Fatalf("env: %v", got)
	}
	a.addrFlag = "f:1,f:2"
	if got := a.addrs(); !reflect.DeepEqual(got, []string{"f:1", "f:2"}) {
		t.Fatalf("flag: %v", got)
	}
	a.addrFlag = ""
	a.getenv = func(string) string { return "" }
	if got := a.addrs(); !reflect.DeepEqual(got, []string{"s:1"}) {
		t.Fatalf("state: %v", got)
	}
	a.st.Addrs = nil
	if got := a.addrs(); !reflect.DeepEqual(got, []string{defaultAddr}) {
		t.Fatalf("default: %v", got)
	}

	d1, err := a.device()
	if err != nil || d1 == "" {
		t.Fatal(d1, err)
	}
	st, _ := loadState(a.statePath)
	if st.Device != d1 {
		t.Fatalf("device not saved: %+v", st)
	}
	if d2, _ := a.device(); d2 != d1 {
		t.Fatal("device generated twice")
	}
	a.deviceFlag = "laptop"
	if d, _ := a.device(); d != "laptop" {
		t.Fatal(d)
	}
}

func TestStatePathFromEnv(t *testing.T) {
	path := filepath.Join(t.TempDir(), "from-env.json")
	saveState(path, State{User: "zed", Token: []byte("0123456789abcdef")})
	// The saved session is found through ROAM_STATE: the command then
	// tries to reach the (absent) server.
	code, _, errs := runCLI(t, "", map[string]string{"ROAM_STATE": path, "ROAM_ADDR": "127.0.0.1:1"}, "--timeout", "1s", "whoami")
	if code != 1 || !strings.Contains(errs, "no node reachable") {
		t.Fatalf("exit %d %q", code, errs)
	}
}
