package roamdproc

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The test binary stands in for roamd: with ROAMDPROC_FAKE set it acts
// out a mode and exits.
func TestMain(m *testing.M) {
	if mode := os.Getenv("ROAMDPROC_FAKE"); mode != "" {
		os.Exit(fake(mode))
	}
	os.Exit(m.Run())
}

var fakeReady = Ready{Node: "fake", Client: "127.0.0.1:1", Join: "127.0.0.1:2"}

func fake(mode string) int {
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	fmt.Fprintln(os.Stderr, "level=INFO msg=starting")
	switch mode {
	case "exit":
		fmt.Fprintln(os.Stderr, "roamd: listen tcp 127.0.0.1:1: bind: address already in use")
		return 1
	case "silent":
		// The ready line on stderr is not the ready line.
		fmt.Fprintf(os.Stderr, "pid=%d %s\n", os.Getpid(), fakeReady.String())
		for {
			<-term // ignored
		}
	}
	fmt.Println(fakeReady.String())
	fmt.Println("roamd: a line after the ready line")
	fmt.Fprint(os.Stderr, "a last line without newline")
	for {
		<-term
		switch mode {
		case "stubborn":
			continue
		case "code3":
			return 3
		}
		return 0
	}
}

func fakeConfig(mode string) Config {
	bin, err := os.Executable()
	if err != nil {
		panic(err)
	}
	cfg := DefaultConfig(bin, "-test.run=^$")
	cfg.Prepare = func(c *exec.Cmd) { c.Env = append(os.Environ(), "ROAMDPROC_FAKE="+mode) }
	return cfg
}

func TestStart_ReadyLineAndStop(t *testing.T) {
	var log Buffer
	cfg := fakeConfig("ready")
	cfg.Log = &log
	before := time.Now()
	p, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Kill) // should the test fail before it stops
	if got := p.Ready(); got != fakeReady {
		t.Fatalf("Ready %+v, want %+v", got, fakeReady)
	}
	if at := p.ReadyAt(); at.Before(before) || at.After(time.Now()) {
		t.Fatalf("ReadyAt %v", at)
	}
	if p.PID() <= 0 {
		t.Fatalf("PID %d", p.PID())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.Stop(ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	// Every line of both pipes reached the log, each whole, the partial
	// last line too, before Exited closed.
	got := log.String()
	for _, want := range []string{"level=INFO msg=starting\n", fakeReady.String() + "\n", "roamd: a line after the ready line\n", "a last line without newline\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("log lacks %q:\n%s", want, got)
		}
	}
	if !strings.Contains(p.Tail(), "a last line without newline") {
		t.Errorf("tail %q", p.Tail())
	}
	if err := p.Signal(syscall.SIGTERM); err != nil {
		t.Errorf("Signal after exit: %v", err)
	}
	p.Kill() // after exit: returns at once
}

func TestStop_ReportsTheExitStatus(t *testing.T) {
	p, err := Start(context.Background(), fakeConfig("code3"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Kill)
	var ee *exec.ExitError
	if err := p.Stop(context.Background()); !errors.As(err, &ee) || ee.ExitCode() != 3 {
		t.Fatalf("Stop: %v, want exit status 3", err)
	}
}

func TestWaitReady_ExitedFirst(t *testing.T) {
	p, err := Spawn(fakeConfig("exit"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Kill)
	_, err = p.WaitReady(context.Background())
	if !errors.Is(err, ErrExited) || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("WaitReady: %v, want ErrExited with the last lines", err)
	}
	if !strings.Contains(p.Tail(), "address already in use") {
		t.Fatalf("tail %q", p.Tail())
	}
	<-p.Exited()
	if p.Err() == nil {
		t.Fatal("Err nil after exit status 1")
	}
}

func TestStart_NotReadyInTimeKills(t *testing.T) {
	cfg := fakeConfig("silent")
	cfg.ReadyTimeout = 300 * time.Millisecond
	var log Buffer
	cfg.Log = &log
	if _, err := Start(context.Background(), cfg); !errors.Is(err, ErrNotReady) {
		t.Fatalf("Start: %v, want ErrNotReady", err)
	}
	var pid int
	if _, err := fmt.Sscanf(log.String()[strings.Index(log.String(), "pid="):], "pid=%d", &pid); err != nil {
		t.Fatalf("no pid in the log %q: %v", log.String(), err)
	}
	// Start killed it and waited for it to go.
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Fatalf("process %d still there: %v", pid, err)
	}
}

func TestWaitReady_Context(t *testing.T) {
	p, err := Spawn(fakeConfig("silent"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Kill)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := p.WaitReady(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitReady: %v", err)
	}
}

func TestStop_KillsWhatDoesNotStop(t *testing.T) {
	p, err := Start(context.Background(), fakeConfig("stubborn"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Kill)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := p.Stop(ctx); !errors.Is(err, ErrNotStopped) {
		t.Fatalf("Stop: %v, want ErrNotStopped", err)
	}
	select {
	case <-p.Exited():
	default:
		t.Fatal("not killed")
	}
}

func TestConfig_Validate(t *testing.T) {
	if err := DefaultConfig("roamd").Validate(); err != nil {
		t.Fatal(err)
	}
	if err := (Config{Bin: "roamd"}).Validate(); err == nil {
		t.Fatal("no ReadyTimeout accepted")
	}
	if err := DefaultConfig("").Validate(); err == nil {
		t.Fatal("no binary accepted")
	}
	if _, err := Spawn(DefaultConfig("/nonexistent/roamd")); err == nil {
		t.Fatal("Spawn of a missing binary")
	}
}
