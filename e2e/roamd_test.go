package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/roamhq/roam/internal/roamdproc"
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
	rp     *roamdproc.Proc // the current process; nil before the first start
	client string          // client address, from the ready line
	logs   *roamdproc.Buffer
}

// startRoamd spawns a node with its data in dir; extra flags are appended.
func startRoamd(t *testing.T, dir string, extra ...string) *proc {
	t.Helper()
	// Port 0 everywhere: the kernel picks free ports and the ready line
	// says which client port (picking "free" ports in the test and
	// passing them raced with other processes taking them).
	p := &proc{t: t, dir: dir, logs: &roamdproc.Buffer{}}
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

// start starts the process (again, on the same data and flags) and waits
// for its ready line.
func (p *proc) start() {
	p.t.Helper()
	p.spawn(roamdproc.DefaultConfig(roamdBin, p.args...))
	r, err := p.rp.WaitReady(context.Background())
	if err != nil {
		p.t.Fatalf("%v\n%s", err, p.logs.String())
	}
	p.client = r.Client // a restart may get a new port
}

// spawn starts the process as cfg says, its lines going to p.logs unless
// cfg has a Log, without waiting for it to be ready.
func (p *proc) spawn(cfg roamdproc.Config) {
	p.t.Helper()
	if cfg.Log == nil {
		cfg.Log = p.logs
	}
	rp, err := roamdproc.Spawn(cfg)
	if err != nil {
		p.t.Fatal(err)
	}
	p.rp = rp
}

// kill sends SIGKILL (kill -9) and waits for the process to go.
func (p *proc) kill() {
	if p.rp != nil {
		p.rp.Kill()
	}
}

// stop sends SIGTERM and waits for a clean exit.
func (p *proc) stop() {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := p.rp.Stop(ctx); err != nil {
		p.t.Fatalf("roamd after SIGTERM: %v\n%s", err, p.logs.String())
	}
}

// restart starts the process again on the same data and addresses.
func (p *proc) restart() {
	p.t.Helper()
	p.start()
}

// logLevel is the daemon's log level: ROAM_E2E_LOG, or info.
func logLevel() string {
	if l := os.Getenv("ROAM_E2E_LOG"); l != "" {
		return l
	}
	return "info"
}
