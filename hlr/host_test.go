package hlr

import (
	"context"
	"errors"
	"os"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cockroachdb/pebble"
	"github.com/cockroachdb/pebble/vfs"
	"github.com/hashicorp/raft"

	"github.com/roamhq/roam/hlr/keyspace"
	"github.com/roamhq/roam/hlr/logstore"
)

const testPID = 3

// powerLossHost registers users through a single-voter partition on a
// strict in-memory file system and pulls the plug while the writers are
// still running. It returns the users acknowledged before the plug was
// pulled and those of them that a linearizable read finds after restart.
func powerLossHost(t *testing.T, noSync bool) (acked, missing []string) {
	fs := vfs.NewStrictMem()
	n := newTestNode(t, "n1", fs)
	if noSync {
		n.hook = func(h *Host) { h.logOpts = logstore.Options{NoSync: true} }
	}
	n.start()
	p := n.open(testPID, n.self())
	waitLeader(t, p)

	// Acknowledgements are counted until the moment syncs stop; whatever
	// is acknowledged later may legitimately be lost.
	var mu sync.Mutex
	var live []string
	var frozen atomic.Bool
	reached := make(chan struct{})
	var once sync.Once
	done := make(chan struct{})
	go func() {
		defer close(done)
		registerMany(t, p, 3000, 32, func(u string) {
			if frozen.Load() {
				return
			}
			mu.Lock()
			live = append(live, u)
			if len(live) == 400 {
				once.Do(func() { close(reached) })
			}
			mu.Unlock()
		})
		once.Do(func() { close(reached) })
	}()
	<-reached
	mu.Lock()
	frozen.Store(true)
	acked = append([]string(nil), live...)
	fs.SetIgnoreSyncs(true) // the plug is pulled here
	mu.Unlock()
	n.crash()
	<-done
	t.Logf("%d registrations acknowledged before power loss", len(acked))

	// Restart on what survived. The node has state, so passing a bootstrap
	// configuration again must not bootstrap (except in the control, where
	// everything was lost).
	n.start()
	p = n.open(testPID, n.self())
	t.Logf("after restart: state machine at index %d, raft log ends at %d", p.AppliedIndex(), p.Raft().LastIndex())
	waitLeader(t, p)
	missing = missingAccounts(t, p, acked)
	return acked, missing
}

// TestPowerLoss_HostKeepsAcknowledgedCommands is the state-machine level
// durability proof: every command acknowledged by Exec is readable after
// power loss and restart. The state machine commits without fsync; raft's
// synced log is replayed into it.
func TestPowerLoss_HostKeepsAcknowledgedCommands(t *testing.T) {
	acked, missing := powerLossHost(t, false)
	if len(acked) < 400 {
		t.Fatalf("only %d acknowledged", len(acked))
	}
	if len(missing) > 0 {
		t.Fatalf("%d of %d acknowledged registrations lost, e.g. %v", len(missing), len(acked), missing[:min(5, len(missing))])
	}
}

// TestPowerLoss_HostControlWithoutSyncLoses shows that the test above can
// fail: with a log store that does not fsync, acknowledged registrations
// are lost.
func TestPowerLoss_HostControlWithoutSyncLoses(t *testing.T) {
	acked, missing := powerLossHost(t, true)
	if len(missing) == 0 {
		t.Fatalf("all %d acknowledged registrations survived without fsync: the test cannot fail", len(acked))
	}
	t.Logf("control lost %d of %d acknowledged registrations, as expected", len(missing), len(acked))
}

// logTypes counts the entries of each type in partition pid's log.
func logTypes(t testing.TB, db *pebble.DB, pid uint16) map[raft.LogType]int {
	t.Helper()
	s, err := logstore.New(db, pid, logstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	first, _ := s.FirstIndex()
	last, _ := s.LastIndex()
	out := map[raft.LogType]int{}
	for i := first; i <= last && last > 0; i++ {
		var l raft.Log
		if err := s.GetLog(i, &l); err != nil {
			t.Fatalf("log %d: %v", i, err)
		}
		out[l.Type]++
	}
	return out
}

func TestHost_RestartNeverBootstrapsAgainAndKeepsData(t *testing.T) {
	n := newTestNode(t, "n1", vfs.NewMem())
	n.start()
	p := n.open(testPID, n.self())
	waitLeader(t, p)
	users := registerMany(t, p, 50, 8, nil)
	if len(users) != 50 {
		t.Fatalf("registered %d of 50", len(users))
	}
	snapDir := n.snapDir
	n.host.Shutdown()
	n.host = nil

	for round := 0; round < 2; round++ {
		cfg := testConfig(t, "n1", snapDir)
		h, err := New(cfg, n.db, NopEffects{})
		if err != nil {
			t.Fatal(err)
		}
		// A different bootstrap configuration would show up if it were
		// applied: it names a second voter that does not exist.
		_, trans := raft.NewInmemTransport(n.addr)
		bogus := append(n.self(), raft.Server{Suffrage: raft.Voter, ID: "ghost", Address: "inmem-ghost"})
		p, err := h.Open(testPID, trans, bogus)
		if err != nil {
			t.Fatalf("reopen: %v", err)
		}
		waitLeader(t, p)
		if missing := missingAccounts(t, p, users); len(missing) > 0 {
			t.Fatalf("round %d: lost %v", round, missing)
		}
		cf := p.Raft().GetConfiguration()
		if err := cf.Error(); err != nil {
			t.Fatal(err)
		}
		if srv := cf.Configuration().Servers; len(srv) != 1 || srv[0].ID != "n1" {
			t.Fatalf("configuration after restart: %+v", srv)
		}
		h.Shutdown()
	}
	if c := logTypes(t, n.db, testPID)[raft.LogConfiguration]; c != 1 {
		t.Fatalf("%d configuration entries in the log; a restart bootstrapped again", c)
	}
}

// TestHost_ReplaysLogIntoLaggingStateMachine deletes the state machine's
// data (as if none of its unsynced batches had survived) and checks that a
// restart rebuilds it from the synced Raft log.
func TestHost_ReplaysLogIntoLaggingStateMachine(t *testing.T) {
	n := newTestNode(t, "n1", vfs.NewMem())
	n.start()
	p := n.open(testPID, n.self())
	waitLeader(t, p)
	users := registerMany(t, p, 200, 16, nil)
	n.host.Shutdown()
	n.host = nil
	lo, hi := keyspace.Range(testPID, keyspace.KindFSM)
	if err := n.db.DeleteRange(lo, hi, pebble.Sync); err != nil {
		t.Fatal(err)
	}
	h, err := New(testConfig(t, "n1", n.snapDir), n.db, NopEffects{})
	if err != nil {
		t.Fatal(err)
	}
	n.host = h
	p = n.open(testPID, nil) // no bootstrap configuration at all
	waitLeader(t, p)
	if missing := missingAccounts(t, p, users); len(missing) > 0 {
		t.Fatalf("replay lost %d accounts", len(missing))
	}
}

// TestHost_RestoresSnapshotWhenStateIsBehindIt covers the case raft's
// NoSnapshotRestoreOnStart cannot: the log before the snapshot has been
// compacted away and the state machine is behind the snapshot. The host
// must restore the snapshot rather than skip what it covers.
func TestHost_RestoresSnapshotWhenStateIsBehindIt(t *testing.T) {
	n := newTestNode(t, "n1", vfs.NewMem())
	n.tweak = func(c *Config) { c.Raft.TrailingLogs = 1 }
	n.start()
	p := n.open(testPID, n.self())
	waitLeader(t, p)
	before := registerMany(t, p, 100, 8, nil)
	if err := p.Raft().Snapshot().Error(); err != nil {
		t.Fatal(err)
	}
	// More commands after the snapshot: they are replayed from the log.
	var more []string
	for i := 0; i < 20; i++ {
		u := "late" + userName(i)
		res, err := p.Exec(ctxT(t), Cmd{Op: OpRegister, User: u, Creds: creds(1)})
		if err != nil || res.Status != StatusOK {
			t.Fatalf("register %s: %+v %v", u, res, err)
		}
		more = append(more, u)
	}
	s, _ := logstore.New(n.db, testPID, logstore.Options{})
	if first, _ := s.FirstIndex(); first <= 2 {
		t.Fatalf("log was not compacted (first index %d)", first)
	}
	n.host.Shutdown()
	n.host = nil
	lo, hi := keyspace.Range(testPID, keyspace.KindFSM)
	if err := n.db.DeleteRange(lo, hi, pebble.Sync); err != nil {
		t.Fatal(err)
	}
	h, err := New(testConfig(t, "n1", n.snapDir), n.db, NopEffects{})
	if err != nil {
		t.Fatal(err)
	}
	n.host = h
	p = n.open(testPID, n.self())
	waitLeader(t, p)
	if missing := missingAccounts(t, p, append(before, more...)); len(missing) > 0 {
		t.Fatalf("lost %d accounts, e.g. %v", len(missing), missing[0])
	}
}

// TestSnapshot_InstalledOnNewNodeGivesSameState takes a Raft snapshot,
// compacts the log behind it and adds a second node, which can only catch
// up by installing the snapshot. Both state machines must then be equal.
func TestSnapshot_InstalledOnNewNodeGivesSameState(t *testing.T) {
	a := newTestNode(t, "a", vfs.NewMem())
	b := newTestNode(t, "b", vfs.NewMem())
	for _, n := range []*testNode{a, b} {
		n.tweak = func(c *Config) { c.Raft.TrailingLogs = 1 }
		n.start()
	}
	a.trans.Connect(b.addr, b.trans)
	b.trans.Connect(a.addr, a.trans)
	pa := a.open(testPID, a.self())
	waitLeader(t, pa)
	users := registerMany(t, pa, 100, 8, nil)
	ctx := ctxT(t)
	// Some state of every kind, not only accounts.
	pa.Exec(ctx, Cmd{Op: OpFriendRequest, User: users[1], Peer: users[0]})
	pa.Exec(ctx, Cmd{Op: OpFriendAccept, User: users[1], Peer: users[0]})
	pa.Exec(ctx, Cmd{Op: OpLogin, User: users[2], Device: "d", Node: "a", Token: []byte("t"), TTLMS: 60_000, CredGen: 1})
	if err := pa.Raft().Snapshot().Error(); err != nil {
		t.Fatal(err)
	}
	pb := b.open(testPID, nil)
	if err := pa.Raft().AddVoter("b", b.addr, 0, 10*time.Second).Error(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the new node to catch up", 10*time.Second, func() bool {
		return pb.AppliedIndex() == pa.AppliedIndex() && pa.AppliedIndex() > 0
	})
	if got := pb.Raft().Stats()["last_snapshot_index"]; got == "0" {
		t.Fatal("the new node caught up without installing a snapshot")
	}
	da, db := dump(t, a.db, testPID), dump(t, b.db, testPID)
	if len(da) == 0 || !reflect.DeepEqual(da, db) {
		t.Fatalf("states differ after snapshot install (%d vs %d keys)", len(da), len(db))
	}
	// The new node serves reads once it leads.
	if err := pa.Raft().LeadershipTransfer().Error(); err != nil {
		t.Fatal(err)
	}
	waitLeader(t, pb)
	if missing := missingAccounts(t, pb, users); len(missing) > 0 {
		t.Fatalf("new leader misses %d accounts", len(missing))
	}
}

// TestProposer_BatchesConcurrentCommands checks that concurrent commands
// share Raft entries.
func TestProposer_BatchesConcurrentCommands(t *testing.T) {
	n := newTestNode(t, "n1", vfs.NewMem())
	n.start()
	p := n.open(testPID, n.self())
	waitLeader(t, p)
	// Let the election's entries settle first.
	if _, err := p.Query(ctxT(t), Query{Kind: QueryAccount, User: "x", Linear: true}); err != nil {
		t.Fatal(err)
	}
	start := p.Raft().LastIndex()
	const cmds = 2000
	users := registerMany(t, p, cmds, 200, nil)
	if len(users) != cmds {
		t.Fatalf("registered %d of %d", len(users), cmds)
	}
	entries := p.Raft().LastIndex() - start
	t.Logf("%d commands in %d raft entries (%.1f per entry)", cmds, entries, float64(cmds)/float64(entries))
	if entries >= cmds {
		t.Fatalf("%d commands took %d raft entries: no batching", cmds, entries)
	}
}

// TestView_LinearReadsAfterElection checks that a linearizable read does
// not wait for an index the state machine never sees (the no-op and
// barrier entries of a new term are not handed to a BatchingFSM).
func TestView_LinearReadsAfterElection(t *testing.T) {
	n := newTestNode(t, "n1", vfs.NewMem())
	n.start()
	p := n.open(testPID, n.self())
	waitLeader(t, p)
	for i := 0; i < 3; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		_, err := p.Query(ctx, Query{Kind: QueryAccount, User: "nobody", Linear: true})
		cancel()
		if err != nil {
			t.Fatalf("linear read %d on an idle leader: %v", i, err)
		}
	}
	t.Logf("state machine applied %d, raft commit index %d", p.AppliedIndex(), p.Raft().CommitIndex())
}

// TestHost_CloseWithDropForgetsEverything checks that a dropped partition
// leaves no Raft state behind, so it can be joined afresh later.
func TestHost_CloseWithDropForgetsEverything(t *testing.T) {
	n := newTestNode(t, "n1", vfs.NewMem())
	n.start()
	p := n.open(testPID, n.self())
	waitLeader(t, p)
	registerMany(t, p, 20, 4, nil)
	if err := p.Raft().Snapshot().Error(); err != nil {
		t.Fatal(err)
	}
	if err := n.host.Close(testPID, true); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(n.host.snapDir(testPID)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("snapshot folder survived the drop: %v", err)
	}
	if len(dump(t, n.db, testPID)) != 0 {
		t.Fatal("state-machine keys survived the drop")
	}
	s, _ := logstore.New(n.db, testPID, logstore.Options{})
	snaps, err := raft.NewFileSnapshotStore(n.host.snapDir(testPID), 1, os.Stderr)
	if err != nil {
		t.Fatal(err)
	}
	if has, err := raft.HasExistingState(s, s, snaps); err != nil || has {
		t.Fatalf("raft state after drop: %v %v", has, err)
	}
	// Reopening bootstraps a new, empty group.
	_, n.trans = raft.NewInmemTransport(n.addr)
	p = n.open(testPID, n.self())
	waitLeader(t, p)
	if a, err := p.Query(ctxT(t), Query{Kind: QueryAccount, User: userName(0), Linear: true}); err != nil || a.Account != nil {
		t.Fatalf("account after drop: %+v %v", a, err)
	}
}

func TestHost_OpenTwiceFails(t *testing.T) {
	n := newTestNode(t, "n1", vfs.NewMem())
	n.start()
	n.open(testPID, n.self())
	if _, err := n.host.Open(testPID, n.trans, n.self()); err == nil {
		t.Fatal("second Open of the same partition succeeded")
	}
	if _, err := n.host.Open(100, n.trans, n.self()); !errors.Is(err, ErrUnknownPartition) {
		t.Fatalf("partition beyond P: %v", err)
	}
}

// TestExec_AfterShutdownFails checks that no caller hangs on a closed
// partition.
func TestExec_AfterShutdownFails(t *testing.T) {
	n := newTestNode(t, "n1", vfs.NewMem())
	n.start()
	p := n.open(testPID, n.self())
	waitLeader(t, p)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := 0; i < 64; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			_, err := p.Exec(context.Background(), Cmd{Op: OpRegister, User: userName(i), Creds: creds(1)})
			errs <- err
		}(i)
	}
	n.host.Shutdown()
	wg.Wait() // would hang if a proposal were orphaned
	close(errs)
	for err := range errs {
		if err != nil && !errors.Is(err, ErrClosed) && !errors.Is(err, ErrNotLeader) {
			t.Fatalf("unexpected error after shutdown: %v", err)
		}
	}
	if _, err := p.Exec(context.Background(), Cmd{Op: OpRegister, User: "late", Creds: creds(1)}); err == nil {
		t.Fatal("Exec after shutdown succeeded")
	}
}

// TestHost_OrphanedStateIsDroppedBeforeBootstrap: state-machine data left
// without Raft state (a drop interrupted between its steps) must not make
// the new group's entries look applied already.
func TestHost_OrphanedStateIsDroppedBeforeBootstrap(t *testing.T) {
	n := newTestNode(t, "n1", vfs.NewMem())
	n.start()
	p := n.open(testPID, n.self())
	waitLeader(t, p)
	registerMany(t, p, 100, 8, nil)
	if err := n.host.Close(testPID, false); err != nil {
		t.Fatal(err)
	}
	s, _ := logstore.New(n.db, testPID, logstore.Options{})
	if err := s.Drop(); err != nil { // the log goes, the state stays
		t.Fatal(err)
	}
	_, n.trans = raft.NewInmemTransport(n.addr)
	p = n.open(testPID, n.self())
	waitLeader(t, p)
	res, err := p.Exec(ctxT(t), Cmd{Op: OpRegister, User: "fresh", Creds: creds(1)})
	if err != nil || res.Status != StatusOK {
		t.Fatalf("register in the new group: %+v %v", res, err)
	}
	if missing := missingAccounts(t, p, []string{"fresh"}); len(missing) > 0 {
		t.Fatal("the new group's first command was skipped")
	}
	if m := missingAccounts(t, p, []string{userName(0)}); len(m) != 1 {
		t.Fatal("orphaned state survived")
	}
}

func TestExec_TooLargeAndNotLeader(t *testing.T) {
	a := newTestNode(t, "a", vfs.NewMem())
	b := newTestNode(t, "b", vfs.NewMem())
	a.start()
	b.start()
	a.trans.Connect(b.addr, b.trans)
	b.trans.Connect(a.addr, a.trans)
	pa := a.open(testPID, a.self())
	waitLeader(t, pa)
	pb := b.open(testPID, nil)
	if err := pa.Raft().AddVoter("b", b.addr, 0, 10*time.Second).Error(); err != nil {
		t.Fatal(err)
	}
	ctx := ctxT(t)
	big := make([]byte, 2<<20)
	if _, err := pa.Exec(ctx, Cmd{Op: OpSend, User: "u", Peer: "v", Body: big}); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("oversized command: %v", err)
	}
	if _, err := pb.Exec(ctx, Cmd{Op: OpRegister, User: "u", Creds: creds(1)}); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("Exec at a follower: %v", err)
	}
	if _, err := pb.Query(ctx, Query{Kind: QueryAccount, User: "u"}); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("Query at a follower: %v", err)
	}
	waitFor(t, "the follower to learn the leader", 5*time.Second, func() bool {
		id, addr := pb.Leader()
		return id == "a" && addr == string(a.addr)
	})
}
