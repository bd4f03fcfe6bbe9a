package roamdproc

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Config says how to run one roamd process.
type Config struct {
	// Bin is the roamd binary; Args its flags.
	Bin  string
	Args []string
	// Log receives every line the process writes on stdout and stderr,
	// one Write a line (newline included); nil drops them.
	Log io.Writer
	// ReadyTimeout bounds WaitReady's wait for the ready line.
	ReadyTimeout time.Duration
	// Prepare, when set, is called on the command before it starts (to
	// set SysProcAttr, Env, Dir...). It must not touch Stdout or Stderr.
	Prepare func(*exec.Cmd)
}

// DefaultConfig runs bin with args and waits up to 60 s for it to be
// ready.
func DefaultConfig(bin string, args ...string) Config {
	return Config{Bin: bin, Args: args, ReadyTimeout: 60 * time.Second}
}

// Validate reports a Config that cannot run.
func (c Config) Validate() error {
	if c.Bin == "" {
		return errors.New("roamdproc: no binary")
	}
	if c.ReadyTimeout <= 0 {
		return fmt.Errorf("roamdproc: ReadyTimeout %v must be positive", c.ReadyTimeout)
	}
	return nil
}

// tailLines is how many of the last lines a Proc keeps for its errors.
const tailLines = 20

// Proc is one running (or exited) roamd process.
type Proc struct {
	cfg    Config
	cmd    *exec.Cmd
	ready  chan struct{} // closed at the first ready line
	exited chan struct{} // closed once the process is reaped and its output copied

	mu      sync.Mutex // guards the fields below and the writes to cfg.Log
	info    Ready
	readyAt time.Time
	tail    []string
	err     error // cmd.Wait's, once exited is closed
}

// Spawn starts the process and returns at once; see WaitReady.
func Spawn(cfg Config) (*Proc, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cmd := exec.Command(cfg.Bin, cfg.Args...)
	if cfg.Prepare != nil {
		cfg.Prepare(cmd)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("roamdproc: start %s: %w", cfg.Bin, err)
	}
	p := &Proc{cfg: cfg, cmd: cmd, ready: make(chan struct{}), exited: make(chan struct{})}
	var copying sync.WaitGroup
	copying.Add(2)
	go func() {
		defer copying.Done()
		p.copyLines(stdout, true)
	}()
	go func() {
		defer copying.Done()
		p.copyLines(stderr, false)
	}()
	go func() {
		// Wait closes the pipes: read them to their end first.
		copying.Wait()
		err := cmd.Wait()
		p.mu.Lock()
		p.err = err
		p.mu.Unlock()
		close(p.exited)
	}()
	return p, nil
}

// Start spawns the process and waits until it is ready. If it is not, it
// kills it and returns WaitReady's error.
func Start(ctx context.Context, cfg Config) (*Proc, error) {
	p, err := Spawn(cfg)
	if err != nil {
		return nil, err
	}
	if _, err := p.WaitReady(ctx); err != nil {
		p.Kill()
		return nil, err
	}
	return p, nil
}

// copyLines copies r to the log line by line, keeps the tail and, on
// stdout, watches for the ready line.
func (p *Proc) copyLines(r io.Reader, stdout bool) {
	br := bufio.NewReader(r)
	for {
		line, err := br.ReadString('\n')
		if line != "" {
			p.line(strings.TrimSuffix(line, "\n"), stdout)
		}
		if err != nil {
			return
		}
	}
}

func (p *Proc) line(s string, stdout bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cfg.Log != nil {
		p.cfg.Log.Write([]byte(s + "\n"))
	}
	if len(p.tail) == tailLines {
		p.tail = append(p.tail[:0], p.tail[1:]...)
	}
	p.tail = append(p.tail, s)
	if !stdout || !p.readyAt.IsZero() {
		return
	}
	if r, ok := ParseReady(s); ok {
		p.info, p.readyAt = r, time.Now()
		close(p.ready)
	}
}

// WaitReady waits for the ready line and returns what it says. It fails
// with ErrExited if the process exits first, ErrNotReady after
// Config.ReadyTimeout, or ctx's error; it leaves the process running.
func (p *Proc) WaitReady(ctx context.Context) (Ready, error) {
	t := time.NewTimer(p.cfg.ReadyTimeout)
	defer t.Stop()
	select {
	case <-p.ready:
		return p.Ready(), nil
	case <-p.exited:
		select {
		case <-p.ready: // it printed the line, then exited
			return p.Ready(), nil
		default:
		}
		return Ready{}, fmt.Errorf("%w (%v); its last lines:\n%s", ErrExited, p.Err(), p.Tail())
	case <-t.C:
		return Ready{}, fmt.Errorf("%w: no ready line after %v; its last lines:\n%s", ErrNotReady, p.cfg.ReadyTimeout, p.Tail())
	case <-ctx.Done():
		return Ready{}, ctx.Err()
	}
}

// WhenReady is closed when the ready line has come.
func (p *Proc) WhenReady() <-chan struct{} { return p.ready }

// Ready is what the ready line said (zero until WhenReady is closed).
func (p *Proc) Ready() Ready {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.info
}

// ReadyAt is when the ready line was read (zero until then).
func (p *Proc) ReadyAt() time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.readyAt
}

// Exited is closed once the process has exited and all its output has
// reached Config.Log.
func (p *Proc) Exited() <-chan struct{} { return p.exited }

// Err is the process's exit as exec.Cmd.Wait reports it (nil for status
// 0), once Exited is closed; nil before.
func (p *Proc) Err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// PID is the process id.
func (p *Proc) PID() int { return p.cmd.Process.Pid }

// Tail returns the last lines the process wrote, stdout and stderr.
func (p *Proc) Tail() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.tail, "\n")
}

// Signal sends sig; it does nothing once the process has exited.
func (p *Proc) Signal(sig os.Signal) error {
	select {
	case <-p.exited:
		return nil
	default:
	}
	err := p.cmd.Process.Signal(sig)
	if errors.Is(err, os.ErrProcessDone) {
		return nil
	}
	return err
}

// Kill sends SIGKILL (kill -9) and waits until the process has gone.
func (p *Proc) Kill() {
	p.Signal(syscall.SIGKILL)
	<-p.exited
}

// Wait waits for the process to exit and returns Err. If ctx ends first,
// it kills the process and fails with ErrNotStopped.
func (p *Proc) Wait(ctx context.Context) error {
	select {
	case <-p.exited:
		return p.Err()
	case <-ctx.Done():
		p.Kill()
		return fmt.Errorf("%w: %v; its last lines:\n%s", ErrNotStopped, ctx.Err(), p.Tail())
	}
}

// Stop sends SIGTERM (roamd drains and shuts down cleanly) and waits as
// Wait does: nil means it exited with status 0. roamd exits at once on a
// second signal, so Stop signals once.
func (p *Proc) Stop(ctx context.Context) error {
	if err := p.Signal(syscall.SIGTERM); err != nil {
		return err
	}
	return p.Wait(ctx)
}
