package main

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/roamhq/roam/node"
)

func TestSceneUsageErrors(t *testing.T) {
	state := filepath.Join(t.TempDir(), "s.json")
	for _, tc := range []struct {
		argv []string
		want string
	}{
		{[]string{"scene"}, "scene: missing subcommand"},
		{[]string{"scene", "dance"}, `scene: unknown subcommand "dance"`},
		{[]string{"scene", "join", "plaza", "1"}, "missing argument"},
		{[]string{"scene", "join", "plaza", "x", "1"}, "X and Y must be finite numbers"},
		{[]string{"scene", "join", "plaza", "NaN", "1"}, "X and Y must be finite numbers"},
		{[]string{"scene", "move", "1", "Inf"}, "X and Y must be finite numbers"},
		{[]string{"scene", "move", "1", "2"}, "not in a scene"},
		{[]string{"scene", "say", "hi"}, "not in a scene"},
		{[]string{"scene", "say"}, "missing argument"},
		{[]string{"scene", "watch", "plaza"}, "scene watch takes no arguments, or SCENE X Y"},
	} {
		argv := append([]string{"--state", state}, tc.argv...)
		code, out, errs := runCLI(t, "", nil, argv...)
		if code != 2 || !strings.Contains(errs, tc.want) || out != "" {
			t.Errorf("%q: exit %d, stderr %q, stdout %q; want 2 and %q", tc.argv, code, errs, out, tc.want)
		}
	}
	if code, out, _ := runCLI(t, "", nil, "scene", "help"); code != 0 || !strings.Contains(out, "scene watch [SCENE X Y]") {
		t.Errorf("scene help: exit %d, %q", code, out)
	}
	if _, out, _ := runCLI(t, "", nil, "help"); !strings.Contains(out, "scene join|move|say|act|watch|leave") {
		t.Errorf("help lacks scenes: %q", out)
	}
}

// lockedBuffer is a bytes.Buffer safe for a writer and a reader.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestE2E_CLIScene: join, move, say and act from separate invocations
// reach a player watching, who also types a move and a say.
func TestE2E_CLIScene(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real node")
	}
	cfg := node.DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.ClientAddr = "127.0.0.1:0"
	cfg.InternalAddr = "127.0.0.1:0"
	cfg.GossipAddr = "127.0.0.1:0"
	cfg.Partitions = 4
	cfg.VLR.RegisterBurst = 1000
	cfg.VLR.LoginFailures = 1000
	cfg.Scenes.ViewInterval = 20 * time.Millisecond
	cfg.Logger = slog.New(slog.DiscardHandler)
	n, err := node.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Shutdown()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := n.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	environ := map[string]string{"ROAM_ADDR": n.ClientAddr(), "ROAM_PLAINTEXT": "1"}
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
	for _, u := range []struct{ state, name string }{{alice, "alice"}, {bob, "bob"}} {
		ok(u.state, "pw-"+u.name+"\n", "--password-stdin", "register", u.name)
		ok(u.state, "pw-"+u.name+"\n", "--password-stdin", "login", u.name)
	}
	if out := ok(bob, "", "scene", "join", "Plaza", "500", "0"); !strings.Contains(out, "in scene plaza at (500, 0) as player") {
		t.Fatalf("join: %q", out)
	}
	if out := ok(bob, "", "scene", "move", "20", "0"); out != "position in plaza: (20, 0)\n" {
		t.Fatalf("move: %q", out)
	}
	if st, _ := loadState(bob); st.Scene == nil || st.Scene.Name != "plaza" || st.Scene.X != 20 {
		t.Fatalf("bob's state: %+v", st.Scene)
	}

	// alice watches, typing into stdin.
	stdinR, stdinW := io.Pipe()
	var out, errs lockedBuffer
	wctx, wcancel := context.WithCancel(context.Background())
	done := make(chan int)
	go func() {
		e := env{stdin: stdinR, stdout: &out, stderr: &errs, getenv: func(k string) string { return environ[k] }}
		done <- run(wctx, []string{"--state", alice, "scene", "watch", "plaza", "0", "0"}, e)
	}()
	exited := false
	defer func() {
		wcancel()
		stdinW.Close()
		if !exited {
			<-done
		}
	}()
	wait := func(want string) {
		t.Helper()
		for deadline := time.Now().Add(15 * time.Second); !strings.Contains(out.String(), want); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("watch did not print %q; stdout %q, stderr %q", want, out.String(), errs.String())
			}
		}
	}
	wait("in scene plaza at (0, 0)")
	ok(bob, "", "scene", "say", "hello", "there")
	wait("[plaza] bob: hello there")
	// (A one-shot command enters, speaks and leaves within one view
	// interval: the enter and the leave cancel out, nothing is printed.)
	ok(bob, "", "scene", "act", "waves")
	wait("[plaza] * bob waves")
	// Out of hearing: not printed (the act after it is).
	ok(bob, "", "scene", "move", "70", "0")
	ok(bob, "", "scene", "say", "too far")
	ok(bob, "", "scene", "act", "shouts")
	wait("* bob shouts")
	if strings.Contains(out.String(), "too far") {
		t.Fatalf("a say from 70 away was printed: %q", out.String())
	}
	// Typed lines work and are checked.
	io.WriteString(stdinW, "move 1 2\nfly\n")
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(errs.String(), `unknown "fly"`); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("stderr %q", errs.String())
		}
	}
	wcancel()
	exited = true
	if code := <-done; code != 0 {
		t.Fatalf("watch exited %d: %s", code, errs.String())
	}
}
