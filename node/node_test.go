package node

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/vfs"
	"github.com/hashicorp/raft"
	"go.uber.org/goleak"

	"github.com/roamhq/roam/hlr"
	"github.com/roamhq/roam/internal/roamdproc"
)

// testLogger sends logs to t.Log.
func testLogger(t *testing.T) *slog.Logger {
	return roamdproc.TestLogger(t, slog.LevelInfo)
}

// testConfig is a small, fast node on random loopback ports.
func testConfig(t *testing.T, dir string) Config {
	cfg := DefaultConfig()
	cfg.DataDir = dir
	cfg.ClientAddr = "127.0.0.1:0"
	cfg.InternalAddr = "127.0.0.1:0"
	cfg.GossipAddr = "127.0.0.1:0"
	cfg.Partitions = 8
	cfg.HLR.Raft.HeartbeatTimeout = 50 * time.Millisecond
	cfg.HLR.Raft.ElectionTimeout = 50 * time.Millisecond
	cfg.HLR.Raft.LeaderLeaseTimeout = 50 * time.Millisecond
	cfg.HLR.Raft.CommitTimeout = 5 * time.Millisecond
	cfg.HLR.MaintainInterval = 50 * time.Millisecond
	cfg.VLR.ShutdownGrace = time.Second
	cfg.Logger = testLogger(t)
	return cfg
}

func startNode(t *testing.T, cfg Config) *Node {
	t.Helper()
	n, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := n.WaitReady(ctx); err != nil {
		n.Shutdown()
		t.Fatalf("WaitReady: %v", err)
	}
	return n
}

func shutdown(t *testing.T, n *Node) {
	t.Helper()
	if err := n.Shutdown(); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if err := n.Shutdown(); err != nil {
		t.Fatalf("second Shutdown: %v", err)
	}
}

// noLeaks returns a check, to defer, that fails t when a goroutine the test
// started is still running. Goroutines earlier tests left are theirs, not
// this test's. The waiter hlr.futureError starts is ignored: raft never
// answers a future still queued in its apply channel when it shuts down, so
// that waiter stays blocked by design (see hlr/proposer.go).
func noLeaks(t *testing.T) func() {
	t.Helper()
	before := goleak.IgnoreCurrent()
	return func() {
		t.Helper()
		goleak.VerifyNone(t, before, goleak.IgnoreAnyFunction("github.com/roamhq/roam/hlr.futureError.func1"))
	}
}

func testCreds() *hlr.Creds {
	return &hlr.Creds{Salt: make([]byte, 16), Iters: 4096, StoredKey: make([]byte, 32), ServerKey: make([]byte, 32)}
}

func TestNew_AdvertisesBoundAddressesAndServes(t *testing.T) {
	defer noLeaks(t)()
	n := startNode(t, testConfig(t, t.TempDir()))

	// Port 0 was resolved: the advertised and bootstrapped address is the
	// one the mux really listens on.
	if got := n.mux.Addr().String(); got != n.InternalAddr() || strings.HasSuffix(got, ":0") {
		t.Fatalf("InternalAddr %q, mux listens on %q", n.InternalAddr(), got)
	}
	if strings.HasSuffix(n.ClientAddr(), ":0") {
		t.Fatalf("ClientAddr %q", n.ClientAddr())
	}
	c, err := net.Dial("tcp", n.ClientAddr())
	if err != nil {
		t.Fatalf("dial client port: %v", err)
	}
	c.Close()
	for _, pid := range n.openPids() {
		p, _ := n.host.Partition(pid)
		f := p.Raft().GetConfiguration()
		if err := f.Error(); err != nil {
			t.Fatal(err)
		}
		want := []raft.Server{{Suffrage: raft.Voter, ID: raft.ServerID(n.ID()), Address: raft.ServerAddress(n.InternalAddr())}}
		if got := f.Configuration().Servers; len(got) != 1 || got[0] != want[0] {
			t.Fatalf("partition %d configuration %+v, want %+v", pid, got, want)
		}
		if id, addr := p.Leader(); id != n.ID() || addr != n.InternalAddr() {
			t.Fatalf("partition %d leader %s at %s", pid, id, addr)
		}
	}
	if len(n.openPids()) != 8 || n.Partitions() != 8 {
		t.Fatalf("opened %d partitions, P=%d", len(n.openPids()), n.Partitions())
	}

	// The router reaches the home partition of a user.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	res, err := n.rt.Exec(ctx, hlr.Cmd{Op: hlr.OpRegister, User: "alice", Creds: testCreds()})
	if err != nil || res.Status != hlr.StatusOK {
		t.Fatalf("register: %+v, %v", res, err)
	}
	shutdown(t, n)
	if err := n.WaitReady(context.Background()); !errors.Is(err, ErrNotReady) {
		t.Fatalf("WaitReady after Shutdown: %v", err)
	}
}

func TestRestart_KeepsIdentityAndStateWithoutBootstrap(t *testing.T) {
	defer noLeaks(t)()
	dir := t.TempDir()
	cfg := testConfig(t, dir)
	n := startNode(t, cfg)
	id, cluster, firstAddr := n.ID(), n.ClusterID(), n.InternalAddr()
	salt := append([]byte(nil), n.meta.FakeSalt...)
	terms := map[uint16]uint64{}
	for _, pid := range n.openPids() {
		p, _ := n.host.Partition(pid)
		terms[pid] = p.Raft().CurrentTerm()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if res, err := n.rt.Exec(ctx, hlr.Cmd{Op: hlr.OpRegister, User: "bob", Creds: testCreds()}); err != nil || res.Status != hlr.StatusOK {
		t.Fatalf("register: %+v, %v", res, err)
	}
	shutdown(t, n)

	// Restart with neither id nor partition count: both come from disk.
	cfg.Partitions = 0
	n = startNode(t, cfg)
	defer n.Shutdown()
	if n.ID() != id || n.ClusterID() != cluster || n.Partitions() != 8 || !bytes.Equal(n.meta.FakeSalt, salt) {
		t.Fatalf("restart: id %s cluster %s P %d, want %s %s 8 (salt kept: %v)",
			n.ID(), n.ClusterID(), n.Partitions(), id, cluster, bytes.Equal(n.meta.FakeSalt, salt))
	}
	for _, pid := range n.openPids() {
		p, _ := n.host.Partition(pid)
		// A bootstrap would have written a configuration with the new
		// port; the stored one still names the first start's address.
		servers := p.Raft().GetConfiguration().Configuration().Servers
		if len(servers) != 1 || string(servers[0].Address) != firstAddr {
			t.Fatalf("partition %d was bootstrapped again: %+v (first address %s)", pid, servers, firstAddr)
		}
		if term := p.Raft().CurrentTerm(); term <= terms[pid] {
			t.Fatalf("partition %d term %d after restart, was %d", pid, term, terms[pid])
		}
	}
	ans, err := n.rt.Query(ctx, hlr.Query{Kind: hlr.QueryAccount, User: "bob", Linear: true})
	if err != nil || ans.Account == nil {
		t.Fatalf("account after restart: %+v, %v", ans, err)
	}
	shutdown(t, n)
}

func TestRestart_RefusesDifferentPartitionsOrNodeID(t *testing.T) {
	defer noLeaks(t)()
	dir := t.TempDir()
	cfg := testConfig(t, dir)
	n, err := New(cfg) // no need to wait for leaders
	if err != nil {
		t.Fatal(err)
	}
	id := n.ID()
	shutdown(t, n)

	bad := cfg
	bad.Partitions = 16
	_, err = New(bad)
	if !errors.Is(err, ErrPartitionsMismatch) || !strings.Contains(err.Error(), "created with 8 partitions, config asks for 16") {
		t.Fatalf("New with 16 partitions: %v", err)
	}
	bad = cfg
	bad.NodeID = "someone-else"
	if _, err := New(bad); !errors.Is(err, ErrNodeIDMismatch) {
		t.Fatalf("New with another node id: %v", err)
	}
	// The refused starts released everything: the same dir opens again.
	cfg.NodeID = id
	n = startNode(t, cfg)
	shutdown(t, n)
}

func TestNew_CleansUpWhenAStepFails(t *testing.T) {
	defer noLeaks(t)()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	dir := t.TempDir()
	cfg := testConfig(t, dir)
	cfg.ClientAddr = busy.Addr().String() // vlr cannot listen
	if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), "listen") {
		t.Fatalf("New on a busy client port: %v", err)
	}
	// DB lock, internal listener and goroutines are all released.
	cfg.ClientAddr = "127.0.0.1:0"
	n := startNode(t, cfg)
	shutdown(t, n)
}

func TestNew_OnStrictMemFS(t *testing.T) {
	defer noLeaks(t)()
	cfg := testConfig(t, t.TempDir())
	fs := vfs.NewStrictMem()
	cfg.FS = fs
	n := startNode(t, cfg)
	id := n.ID()
	shutdown(t, n)
	cfg.Partitions = 0
	n = startNode(t, cfg)
	if n.ID() != id {
		t.Fatalf("id %s after restart on the same FS, want %s", n.ID(), id)
	}
	shutdown(t, n)
}

func TestConfigValidate(t *testing.T) {
	ok := DefaultConfig()
	ok.DataDir = "/tmp/x"
	if err := ok.Validate(); err != nil {
		t.Fatalf("default config: %v", err)
	}
	cases := map[string]func(c *Config){
		"no data dir":        func(c *Config) { c.DataDir = "" },
		"bad node id":        func(c *Config) { c.NodeID = "a b" },
		"long node id":       func(c *Config) { c.NodeID = strings.Repeat("a", MaxNodeIDLen+1) },
		"partitions":         func(c *Config) { c.Partitions = hlr.MaxPartitions + 1 },
		"negative":           func(c *Config) { c.Partitions = -1 },
		"client addr":        func(c *Config) { c.ClientAddr = "localhost" },
		"internal addr":      func(c *Config) { c.InternalAddr = "" },
		"wildcard advertise": func(c *Config) { c.InternalAdvertise = "0.0.0.0:7401" },
		"port 0 advertise":   func(c *Config) { c.InternalAdvertise = "10.0.0.1:0" },
		"raft timing":        func(c *Config) { c.HLR.Raft.HeartbeatTimeout = 0 },
		"vlr limits":         func(c *Config) { c.VLR.MaxBody = 0 },
		"short salt secret":  func(c *Config) { c.VLR.FakeSaltSecret = []byte("short") },
	}
	for name, mutate := range cases {
		c := ok
		mutate(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("%s: Validate accepted it", name)
		}
	}
}

// TestPowerLoss_NodeKeepsAcknowledgedAccounts pulls the plug on a whole
// node running on Pebble's strict in-memory file system: everything that
// was not fsynced is dropped, including directory entries. Every
// registration the node acknowledged must be there after the restart.
// (Without the fsync of the data directory's parent, the whole DB
// directory vanished here.)
func TestPowerLoss_NodeKeepsAcknowledgedAccounts(t *testing.T) {
	cfg := testConfig(t, t.TempDir())
	fs := vfs.NewStrictMem()
	cfg.FS = fs
	n := startNode(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var acked []string
	for i := 0; i < 20; i++ {
		user := fmt.Sprintf("user%02d", i)
		res, err := n.rt.Exec(ctx, hlr.Cmd{Op: hlr.OpRegister, User: user, Creds: testCreds()})
		if err != nil || res.Status != hlr.StatusOK {
			t.Fatalf("register %s: %+v, %v", user, res, err)
		}
		acked = append(acked, user)
	}
	// Power loss: syncs from now on are ignored, then unsynced data goes.
	fs.SetIgnoreSyncs(true)
	id := n.ID()
	n.Shutdown()
	fs.ResetToSyncedState()
	fs.SetIgnoreSyncs(false)

	n = startNode(t, cfg)
	defer shutdown(t, n)
	if n.ID() != id {
		t.Fatalf("node id %s after power loss, want %s: the node metadata was lost", n.ID(), id)
	}
	for _, user := range acked {
		ans, err := n.rt.Query(ctx, hlr.Query{Kind: hlr.QueryAccount, User: user, Linear: true})
		if err != nil || ans.Account == nil {
			t.Fatalf("acknowledged account %s lost after power loss: %+v, %v", user, ans, err)
		}
	}
}
