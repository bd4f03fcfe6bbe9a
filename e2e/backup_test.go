package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/roamhq/roam/client"
)

// internalAddr is the -internal address p was started with.
func internalAddr(t *testing.T, p *proc) string {
	t.Helper()
	for i := 0; i+1 < len(p.args); i++ {
		if p.args[i] == "-internal" {
			return p.args[i+1]
		}
	}
	t.Fatal("no -internal flag")
	return ""
}

// roamdTool runs the roamd binary with args and returns its output.
func roamdTool(t *testing.T, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, roamdBin, args...).CombinedOutput()
	return string(out), err
}

// TestBackup_RoundTripWithRoamdProcesses: three roamd processes; register
// and send; roamd backup; kill -9 every node and throw their data away;
// three new processes make a new cluster; roamd restore; the accounts log
// in with their passwords, and the inbox holds every message in order.
func TestBackup_RoundTripWithRoamdProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns two clusters")
	}
	keyFile := filepath.Join(t.TempDir(), "cluster.key")
	if err := os.WriteFile(keyFile, []byte(e2eClusterKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	procs := startCluster(t, 3)
	a, b := friendsAt(t, ctx, procs)
	const n = 3
	for i := 0; i < n; i++ {
		if _, err := a.Send(ctx, "bob", []byte(fmt.Sprint("kept ", i))); err != nil {
			t.Fatal(err)
		}
	}
	a.Close()
	b.Close()

	dir := filepath.Join(t.TempDir(), "backup")
	out, err := roamdTool(t, "backup", "-peer", internalAddr(t, procs[2]), "-dir", dir, "-cluster-key-file", keyFile)
	if err != nil || !strings.Contains(out, "partitions") || !strings.Contains(out, "backed up to") {
		t.Fatalf("roamd backup: %v\n%s", err, out)
	}
	for _, p := range procs {
		p.kill()
		os.RemoveAll(p.dir)
	}

	procs = startCluster(t, 3)
	out, err = roamdTool(t, "restore", "-peer", internalAddr(t, procs[1]), "-dir", dir, "-cluster-key-file", keyFile)
	if err != nil || !strings.Contains(out, "restored from") {
		t.Fatalf("roamd restore: %v\n%s", err, out)
	}
	bob, err := clientAt(ctx, procs[2].client, "b2")
	if err != nil {
		t.Fatal(err)
	}
	defer bob.Close()
	if err := bob.Login(ctx, "bob", "pw-bob"); err != nil {
		t.Fatalf("bob's login after the restore: %v", err)
	}
	timeout := time.After(30 * time.Second)
	for i := 0; i < n; {
		select {
		case ev := <-bob.Events():
			if ev.Kind != client.EventMessage {
				continue
			}
			if want := fmt.Sprint("kept ", i); string(ev.Message.Body) != want || ev.Message.Seq != uint64(i+1) {
				t.Fatalf("message %d: seq %d %q, want %q", i, ev.Message.Seq, ev.Message.Body, want)
			}
			i++
		case <-timeout:
			t.Fatalf("bob got %d of %d messages after the restore", i, n)
		}
	}
	// Bad use: no credentials, exit 2.
	if out, err := roamdTool(t, "backup", "-peer", internalAddr(t, procs[0]), "-dir", dir); err == nil || !strings.Contains(out, "credentials") {
		t.Fatalf("backup without credentials: %v\n%s", err, out)
	}
}
