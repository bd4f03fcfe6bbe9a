package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/roamhq/roam/client"
	"github.com/roamhq/roam/wire"
)

const defaultAddr = "127.0.0.1:7400"

// env is the process environment, replaceable in tests.
type env struct {
	stdin  io.Reader
	stdout io.Writer
	stderr io.Writer
	getenv func(string) string
}

// app is one run of the CLI.
type app struct {
	env
	ctx context.Context

	addrFlag      string
	caFlag        string
	insecure      bool
	plaintext     bool
	statePath     string
	deviceFlag    string
	json          bool
	passwordStdin bool
	timeout       time.Duration

	st     State
	in     *bufio.Reader
	client *client.Client
	inbox  bool // the client receives messages: save its cursor at the end
}

// usageError is a mistake on the command line (exit status 2).
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// errHelp asks for the usage text on stdout (exit status 0).
var errHelp = errors.New("help")

// errNotLoggedIn is returned, without asking the server, when the state
// file has no session.
var errNotLoggedIn = &client.Error{Code: wire.CodeNotLoggedIn, Message: "not logged in; run: roam login USER"}

// run runs the CLI and returns the exit status.
func run(ctx context.Context, args []string, e env) int {
	a := &app{env: e, ctx: ctx}
	err := a.main(args)
	if a.client != nil {
		if ferr := a.finish(); err == nil {
			err = ferr
		}
	}
	return a.exit(err)
}

func (a *app) main(args []string) error {
	fs := flag.NewFlagSet("roam", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&a.addrFlag, "addr", "", "")
	fs.StringVar(&a.caFlag, "ca", "", "")
	fs.BoolVar(&a.insecure, "insecure", false, "")
	fs.BoolVar(&a.plaintext, "plaintext", false, "")
	fs.StringVar(&a.statePath, "state", "", "")
	fs.StringVar(&a.deviceFlag, "device", "", "")
	fs.BoolVar(&a.json, "json", false, "")
	fs.BoolVar(&a.passwordStdin, "password-stdin", false, "")
	fs.DurationVar(&a.timeout, "timeout", 10*time.Second, "")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return errHelp
		}
		return &usageError{msg: err.Error()}
	}
	if a.timeout <= 0 {
		return usagef("--timeout must be positive")
	}
	if a.deviceFlag != "" && !validDevice(a.deviceFlag) {
		return usagef("--device must be 1-64 printable ASCII characters without spaces")
	}
	if a.plaintext && (a.caFlag != "" || a.insecure) {
		return usagef("--plaintext excludes --ca and --insecure")
	}
	rest := fs.Args()
	if len(rest) == 0 {
		return usagef("no command")
	}
	name, rest := rest[0], rest[1:]
	if name == "help" {
		return errHelp
	}
	if name == "admin" {
		return cmdAdmin(a, rest) // no session, no state file (admin.go)
	}
	cmd, ok := commands[name]
	if !ok {
		return usagef("unknown command %q", name)
	}
	if err := a.loadState(); err != nil {
		return err
	}
	return cmd(a, rest)
}

// exit prints err and returns the exit status.
func (a *app) exit(err error) int {
	var ue *usageError
	switch {
	case err == nil:
		return 0
	case errors.Is(err, errHelp):
		fmt.Fprint(a.stdout, usageText)
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(a.stderr, "roam: %s\nRun 'roam help' for usage.\n", ue.msg)
		return 2
	}
	msg := strings.TrimPrefix(err.Error(), "client: ")
	fmt.Fprintf(a.stderr, "roam: %s\n", msg)
	return 1
}

func (a *app) loadState() error {
	if a.statePath == "" {
		a.statePath = a.getenv("ROAM_STATE")
	}
	if a.statePath == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return fmt.Errorf("no --state, no ROAM_STATE and no home directory: %w", err)
		}
		a.statePath = filepath.Join(home, ".roam", "session.json")
	}
	st, err := loadState(a.statePath)
	if err != nil {
		return err
	}
	a.st = st
	return nil
}

func (a *app) save() error { return saveState(a.statePath, a.st) }

// addrs returns the node addresses: --addr, ROAM_ADDR, the saved ones or
// the default.
func (a *app) addrs() []string {
	for _, s := range []string{a.addrFlag, a.getenv("ROAM_ADDR")} {
		if list := splitList(s); len(list) > 0 {
			return list
		}
	}
	if len(a.st.Addrs) > 0 {
		return a.st.Addrs
	}
	return []string{defaultAddr}
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// device returns the device id: --device, the saved one, or a new one
// (saved at once, so that it is generated only once).
func (a *app) device() (string, error) {
	if a.deviceFlag != "" {
		return a.deviceFlag, nil
	}
	if a.st.Device == "" {
		a.st.Device = client.NewDeviceID()
		if err := a.save(); err != nil {
			return "", err
		}
	}
	return a.st.Device, nil
}

func validDevice(d string) bool {
	if d == "" || len(d) > 64 {
		return false
	}
	for i := 0; i < len(d); i++ {
		if d[i] <= ' ' || d[i] > '~' {
			return false
		}
	}
	return true
}

// dial connects without logging in. inbox says whether the client
// receives messages (recv, chat) or not.
func (a *app) dial(inbox bool) (*client.Client, error) {
	dev, err := a.device()
	if err != nil {
		return nil, err
	}
	cfg := client.DefaultConfig(a.addrs()...)
	cfg.Device = dev
	cfg.ClientName = "roam-cli/" + client.Version
	cfg.RequestTimeout = a.timeout
	cfg.DialTimeout = min(5*time.Second, a.timeout)
	cfg.SkipInbox = !inbox
	if cfg.TLS, err = a.tlsConfig(); err != nil {
		return nil, err
	}
	cfg.AllowPlaintext = cfg.TLS == nil // the user asked for plaintext by name
	if a.getenv("ROAM_DEBUG") != "" {
		cfg.Logger = slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	c, err := client.Dial(a.ctx, cfg)
	if err != nil {
		return nil, tlsHint(err, cfg.TLS != nil)
	}
	a.client, a.inbox = c, inbox
	return c, nil
}

// session dials and resumes the saved session, saving the new token.
func (a *app) session(inbox bool) (*client.Client, error) {
	if a.st.User == "" || len(a.st.Token) == 0 {
		return nil, errNotLoggedIn
	}
	c, err := a.dial(inbox)
	if err != nil {
		return nil, err
	}
	if inbox {
		c.SetCursor(a.st.Cursor)
		c.SetGroupCursors(a.st.Groups)
	}
	if err := c.Resume(a.ctx, a.st.User, a.st.Token); err != nil {
		if errors.Is(err, client.ErrSessionInvalid) {
			a.st.Token = nil
			if serr := a.save(); serr != nil {
				return nil, serr
			}
			return nil, fmt.Errorf("%w; log in again: roam login %s", err, a.st.User)
		}
		return nil, err
	}
	a.st.Token = c.Token()
	if err := a.save(); err != nil {
		return nil, err
	}
	if err := a.repickRole(c); err != nil {
		return nil, err
	}
	return c, nil
}

// finish closes the client (sending the last acknowledgement) and saves
// the token it ended with and the inbox cursor.
func (a *app) finish() error {
	c := a.client
	a.client = nil
	c.Close()
	// A token the command cleared (logout, delete) stays cleared.
	if tok := c.Token(); tok != nil && a.st.Token != nil && c.User() == a.st.User {
		a.st.Token = tok
		if a.inbox {
			a.st.Cursor = max(a.st.Cursor, c.Cursor())
			a.groupCursors(c)
		}
	}
	return a.save()
}

// readLine reads one line from stdin, without its line ending.
func (a *app) readLine() (string, error) {
	if a.in == nil {
		a.in = bufio.NewReader(a.stdin)
	}
	line, err := a.in.ReadString('\n')
	if err != nil && (err != io.EOF || line == "") {
		if err == io.EOF {
			return "", io.EOF
		}
		return "", err
	}
	return strings.TrimRight(line, "\r\n"), nil
}

// secret reads a password: a line of stdin with --password-stdin, else
// the environment variable, else a line of stdin after a prompt on
// stderr (not echoed on a terminal).
func (a *app) secret(prompt, envVar string) (string, error) {
	if !a.passwordStdin {
		if v := a.getenv(envVar); v != "" {
			return v, nil
		}
		fmt.Fprint(a.stderr, prompt)
		if f, ok := a.stdin.(*os.File); ok {
			if restore, ok := noEcho(f); ok {
				defer fmt.Fprintln(a.stderr)
				defer restore()
			}
		}
	}
	pw, err := a.readLine()
	if err == io.EOF {
		return "", usagef("no password on stdin (use --password-stdin, %s or a terminal)", envVar)
	}
	if err != nil {
		return "", err
	}
	if pw == "" {
		return "", usagef("empty password")
	}
	return pw, nil
}

// emit prints one result: text, or obj as one JSON line with --json.
func (a *app) emit(text string, obj map[string]any) {
	if a.json {
		b, err := json.Marshal(obj)
		if err != nil {
			fmt.Fprintf(a.stderr, "roam: %v\n", err)
			return
		}
		a.stdout.Write(append(b, '\n'))
		return
	}
	if text != "" {
		fmt.Fprintln(a.stdout, text)
	}
}

// args checks the number of positional arguments.
func args(name string, got []string, min, max int) error {
	if len(got) < min {
		return usagef("%s: missing argument", name)
	}
	if max >= 0 && len(got) > max {
		return usagef("%s: too many arguments", name)
	}
	return nil
}

// subFlags returns a flag set for a command's own flags; --password-stdin
// is accepted there too.
func (a *app) subFlags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.BoolVar(&a.passwordStdin, "password-stdin", a.passwordStdin, "")
	return fs
}

func parseSub(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return errHelp
		}
		return usagef("%s: %v", fs.Name(), err)
	}
	return nil
}

func ts(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }
