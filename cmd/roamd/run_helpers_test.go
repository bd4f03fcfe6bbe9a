package main

import (
	"bufio"
	"io"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/roamhq/roam/internal/roamdproc"
)

// inProcess is run(args) on a goroutine of the test, with its stdout on a
// pipe the test reads.
type inProcess struct {
	t     *testing.T
	out   *bufio.Reader // stdout after the ready line
	done  chan int      // run's exit code
	ready roamdproc.Ready
}

// runReady starts run(args) in-process and waits for its first line,
// which must be the ready line.
func runReady(t *testing.T, args []string, stderr io.Writer) *inProcess {
	t.Helper()
	pr, pw := io.Pipe()
	p := &inProcess{t: t, out: bufio.NewReader(pr), done: make(chan int, 1)}
	go func() {
		p.done <- run(args, env(nil), pw, stderr)
		pw.Close()
	}()
	line, err := p.out.ReadString('\n')
	if err != nil {
		t.Fatalf("no ready line: %v (stderr %v)", err, stderr)
	}
	r, ok := roamdproc.ParseReady(line)
	if !ok {
		t.Fatalf("first line %q is not the ready line", line)
	}
	p.ready = r
	return p
}

// sigterm sends SIGTERM to the test process (run has installed its
// handler before printing the ready line, so the signal is caught rather
// than killing the test) and returns run's exit code and the rest of its
// stdout.
func (p *inProcess) sigterm() (code int, rest string) {
	p.t.Helper()
	var b strings.Builder
	copied := make(chan struct{})
	go func() {
		io.Copy(&b, p.out)
		close(copied)
	}()
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		p.t.Fatal(err)
	}
	select {
	case code = <-p.done:
	case <-time.After(20 * time.Second):
		p.t.Fatal("run did not return after SIGTERM")
	}
	<-copied
	return code, b.String()
}
