package e2e

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// roamdBin is the daemon built once for the whole test binary.
var roamdBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "roam-e2e-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	roamdBin = filepath.Join(dir, "roamd")
	out, err := exec.Command("go", "build", "-o", roamdBin, "github.com/roamhq/roam/cmd/roamd").CombinedOutput()
	if err != nil {
		fmt.Fprintf(os.Stderr, "build roamd: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// proc is a spawned roamd process.
type proc struct {
	t      *testing.T
	dir    string
	args   []string
	cmd    *exec.Cmd
	client string // client address, from the ready line
	logs   *lockedBuf
	exited chan struct{}
}

type lockedBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuf) add(s string) {
	l.mu.Lock()
	l.b.WriteString(s)
	l.b.WriteByte('\n')
	l.mu.Unlock()
}

func (l *lockedBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

var readyRE = regexp.MustCompile(`roamd: node (\S+) ready; clients connect to ([^;\s]+)(?:; other nodes join (\S+))?`)

// startRoamd spawns a node with its data in dir; extra flags are appended.
func startRoamd(t *testing.T, dir string, extra ...string) *proc {
	t.Helper()
	// Port 0 everywhere: the kernel picks free ports and the ready line
	// says which client port (picking "free" ports in the test and
	// passing them raced with other processes taking them).
	p := &proc{t: t, dir: dir, logs: &lockedBuf{}}
	p.args = append([]string{"-data", dir, "-client", "127.0.0.1:0", "-internal", "127.0.0.1:0", "-gossip", "127.0.0.1:0", "-partitions", "8", "-log-level", logLevel()}, extra...)
	p.start()
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			t.Logf("roamd logs:\n%s", p.logs.String())
		}
	})
	return p
}

func (p *proc) start() {
	p.t.Helper()
	p.cmd = exec.Command(roamdBin, p.args...)
	stdout, err := p.cmd.StdoutPipe()
	if err != nil {
		p.t.Fatal(err)
	}
	p.cmd.Stderr = logWriter{p.logs}
	if err := p.cmd.Start(); err != nil {
		p.t.Fatalf("start roamd: %v", err)
	}
	p.exited = make(chan struct{})
	ready := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			p.logs.add(line)
			if m := readyRE.FindStringSubmatch(line); m != nil {
				select {
				case ready <- m[2]:
				default:
				}
			}
		}
	}()
	go func() {
		p.cmd.Wait()
		close(p.exited)
	}()
	select {
	case addr := <-ready:
		p.client = addr // a restart may get a new port
	case <-p.exited:
		p.t.Fatalf("roamd exited before it was ready:\n%s", p.logs.String())
	case <-time.After(60 * time.Second):
		p.t.Fatalf("roamd not ready after 60s:\n%s", p.logs.String())
	}
}

// kill sends SIGKILL (kill -9) and waits for the process to go.
func (p *proc) kill() {
	if p.cmd == nil || p.cmd.Process == nil {
		return
	}
	select {
	case <-p.exited:
		return
	default:
	}
	p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.exited
}

// stop sends SIGTERM and waits for a clean exit.
func (p *proc) stop() {
	p.t.Helper()
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		p.t.Fatalf("roamd did not stop on SIGTERM:\n%s", p.logs.String())
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		p.t.Fatalf("roamd exited with %d after SIGTERM:\n%s", code, p.logs.String())
	}
}

// restart starts the process again on the same data and addresses.
func (p *proc) restart() {
	p.t.Helper()
	p.start()
}

type logWriter struct{ b *lockedBuf }

func (w logWriter) Write(p []byte) (int, error) {
	for _, line := range strings.Split(strings.TrimRight(string(p), "\n"), "\n") {
		w.b.add(line)
	}
	return len(p), nil
}

// logLevel is the daemon's log level: ROAM_E2E_LOG, or info.
func logLevel() string {
	if l := os.Getenv("ROAM_E2E_LOG"); l != "" {
		return l
	}
	return "info"
}
