package node

import (
	"context"
	"os"
	"runtime/pprof"
	"syscall"
	"testing"
	"time"
)

// TestIdleCPU measures what an idle single node with the default 64
// partitions and production Raft timing costs. It takes ~15 s, so it runs
// only with ROAM_IDLE=1:
//
//	ROAM_IDLE=1 go test -run TestIdleCPU -v ./node
//
// ROAM_IDLE_PROFILE=file also writes a CPU profile of the idle window.
func TestIdleCPU(t *testing.T) {
	if os.Getenv("ROAM_IDLE") == "" {
		t.Skip("set ROAM_IDLE=1 to measure idle CPU")
	}
	cfg := DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.ClientAddr, cfg.InternalAddr, cfg.GossipAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
	cfg.Logger = testLogger(t)
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer n.Shutdown()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := n.WaitReady(ctx); err != nil {
		t.Fatal(err)
	}
	time.Sleep(3 * time.Second) // let the elections' aftermath settle
	if f := os.Getenv("ROAM_IDLE_PROFILE"); f != "" {
		out, err := os.Create(f)
		if err != nil {
			t.Fatal(err)
		}
		defer out.Close()
		pprof.StartCPUProfile(out)
		defer pprof.StopCPUProfile()
	}
	const window = 10 * time.Second
	before, start := cpuTime(t), time.Now()
	time.Sleep(window)
	used, wall := cpuTime(t)-before, time.Since(start)
	t.Logf("idle node, P=%d: %v CPU in %v = %.2f%% of one core", n.Partitions(), used, wall.Round(time.Millisecond), 100*float64(used)/float64(wall))
}

func cpuTime(t *testing.T) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		t.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
