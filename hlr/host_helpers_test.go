package hlr

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble"
	"github.com/cockroachdb/pebble/vfs"
	"github.com/hashicorp/raft"
)

// testConfig returns a host configuration with fast Raft timing for
// in-process tests.
func testConfig(t testing.TB, id string, snapDir string) Config {
	cfg := DefaultConfig()
	cfg.NodeID = id
	cfg.SnapshotDir = snapDir
	cfg.Partitions = 8
	cfg.Raft = RaftTiming{
		HeartbeatTimeout:   50 * time.Millisecond,
		ElectionTimeout:    50 * time.Millisecond,
		LeaderLeaseTimeout: 25 * time.Millisecond,
		CommitTimeout:      5 * time.Millisecond,
		SnapshotInterval:   time.Hour, // snapshots only when a test asks
		SnapshotThreshold:  1 << 40,
		TrailingLogs:       10240,
		MaxAppendEntries:   64,
	}
	cfg.MaintainInterval = 50 * time.Millisecond
	cfg.Logger = testLogger(t)
	return cfg
}

// testNode is one host on one Pebble DB, restartable on the same files.
type testNode struct {
	t       testing.TB
	id      string
	addr    raft.ServerAddress
	fs      vfs.FS
	snapDir string
	db      *pebble.DB
	host    *Host
	trans   *raft.InmemTransport
	tweak   func(*Config)
	hook    func(*Host) // runs after New, before Start and before partitions open
	router  Router      // the host's router (nil: none)
}

func newTestNode(t testing.TB, id string, fs vfs.FS) *testNode {
	n := &testNode{t: t, id: id, addr: raft.ServerAddress("inmem-" + id), fs: fs, snapDir: t.TempDir()}
	t.Cleanup(n.stop)
	return n
}

// start opens the DB and a host; it does not open partitions.
func (n *testNode) start() {
	n.t.Helper()
	db, err := pebble.Open("", &pebble.Options{FS: n.fs, Logger: pebbleLog{n.t}})
	if err != nil {
		n.t.Fatal(err)
	}
	n.db = db
	cfg := testConfig(n.t, n.id, n.snapDir)
	if n.tweak != nil {
		n.tweak(&cfg)
	}
	h, err := New(cfg, db, NopEffects{})
	if err != nil {
		n.t.Fatal(err)
	}
	if n.hook != nil {
		n.hook(h)
	}
	h.Start(n.router)
	n.host = h
	_, n.trans = raft.NewInmemTransport(n.addr)
}

func (n *testNode) self() []raft.Server {
	return []raft.Server{{Suffrage: raft.Voter, ID: raft.ServerID(n.id), Address: n.addr}}
}

func (n *testNode) open(pid uint16, bootstrap []raft.Server) *Partition {
	n.t.Helper()
	p, err := n.host.Open(pid, n.trans, bootstrap)
	if err != nil {
		n.t.Fatal(err)
	}
	return p
}

// stop shuts the host down cleanly and closes the DB.
func (n *testNode) stop() {
	if n.host != nil {
		if err := n.host.Shutdown(); err != nil {
			n.t.Errorf("shutdown: %v", err)
		}
		n.host = nil
	}
	if n.db != nil {
		if err := n.db.Close(); err != nil {
			n.t.Errorf("close db: %v", err)
		}
		n.db = nil
	}
}

// crash simulates power loss (the DB must be on a strict MemFS): syncs are
// ignored from now on, the host and DB stop, and whatever was not synced is
// discarded.
func (n *testNode) crash() {
	n.t.Helper()
	mfs := n.fs.(*vfs.MemFS)
	mfs.SetIgnoreSyncs(true)
	n.stop()
	mfs.ResetToSyncedState()
	mfs.SetIgnoreSyncs(false)
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func waitLeader(t testing.TB, p *Partition) {
	t.Helper()
	waitFor(t, fmt.Sprintf("leadership of partition %d", p.ID()), 10*time.Second, p.IsLeader)
}

func ctxT(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func userName(i int) string { return fmt.Sprintf("user%05d", i) }

// registerMany runs n OpRegister commands from workers goroutines and
// returns the users whose registration was acknowledged with StatusOK, in
// acknowledgement order. ack, if set, is called (under a lock) after each
// acknowledgement.
func registerMany(t testing.TB, p *Partition, n, workers int, ack func(user string)) []string {
	t.Helper()
	ctx := ctxT(t)
	var mu sync.Mutex
	var acked []string
	next := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				u := userName(i)
				res, err := p.Exec(ctx, Cmd{Op: OpRegister, User: u, Creds: creds(byte(i))})
				if err != nil || res.Status != StatusOK {
					continue
				}
				mu.Lock()
				acked = append(acked, u)
				if ack != nil {
					ack(u)
				}
				mu.Unlock()
			}
		}()
	}
	for i := 0; i < n; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	return acked
}

// missingAccounts returns the users among users that a linearizable read at
// the leader does not find.
func missingAccounts(t testing.TB, p *Partition, users []string) []string {
	t.Helper()
	ctx := ctxT(t)
	var missing []string
	for _, u := range users {
		a, err := p.Query(ctx, Query{Kind: QueryAccount, User: u, Linear: true})
		if err != nil {
			t.Fatalf("query %s: %v", u, err)
		}
		if a.Account == nil || a.Account.User != u {
			missing = append(missing, u)
		}
	}
	return missing
}

// pebbleLog sends Pebble's log to t.Log.
type pebbleLog struct{ t testing.TB }

func (l pebbleLog) Infof(format string, args ...interface{}) { l.t.Logf("pebble: "+format, args...) }
func (l pebbleLog) Fatalf(format string, args ...interface{}) {
	l.t.Errorf("pebble fatal: "+format, args...)
	panic("pebble fatal error")
}
