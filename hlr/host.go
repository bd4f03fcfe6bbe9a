package hlr

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/cockroachdb/pebble"
	"github.com/hashicorp/raft"

	"github.com/roamhq/roam/hist"
	"github.com/roamhq/roam/hlr/logstore"
)

// Host runs the partitions this node replicates. It owns one goroutine, the
// maintenance loop, that lets each partition it leads deliver its outbox and
// collect expired data; every partition owns its Raft goroutines and two
// proposer goroutines.
type Host struct {
	cfg     Config
	db      *pebble.DB
	effects Effects
	log     *slog.Logger

	mu      sync.RWMutex
	parts   map[uint16]*Partition
	opening map[uint16]bool // partitions being opened
	started bool            // the maintenance loop runs
	closed  bool

	// logOpts is for the power-loss control test only (NoSync).
	logOpts logstore.Options

	kickCh chan struct{}

	// The leadership hook (leader.go).
	hooks      leaderHooks
	obs        *raft.Observer
	obsCh      chan raft.Observation
	leaderKick chan struct{}

	ctx    context.Context // cancelled by Shutdown
	cancel context.CancelFunc
	wg     sync.WaitGroup

	batches *hist.Histogram // commands per proposed entry, every partition (batchstats.go)

	hold holdState // hold.go
}

// New creates a host with no partitions open, on the node's Pebble
// database db (which it does not close), handing the effects of the
// commands its partitions lead to effects (NopEffects to ignore them).
// Partitions can be opened at once; the maintenance loop (outbox delivery,
// expiry) runs from Start on.
func New(cfg Config, db *pebble.DB, effects Effects) (*Host, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	switch {
	case db == nil:
		return nil, errors.New("hlr: a DB is required")
	case effects == nil:
		return nil, errors.New("hlr: Effects are required (use NopEffects)")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(cfg.SnapshotDir, 0o755); err != nil {
		return nil, fmt.Errorf("hlr: snapshot dir: %w", err)
	}
	h := &Host{
		cfg:     cfg,
		db:      db,
		effects: effects,
		log:     cfg.Logger.With("component", "hlr"),
		parts:   make(map[uint16]*Partition),
		opening: make(map[uint16]bool),
		kickCh:  make(chan struct{}, 1),
		batches: newBatchHistogram(),
	}
	h.ctx, h.cancel = context.WithCancel(context.Background())
	h.startLeaderLoop()
	return h, nil
}

// Start runs the maintenance loop: each partition this node leads
// delivers its outbox through router (the node's, which reaches every
// partition's leader; nil leaves outbox items waiting) and collects
// expired data. The router may itself use the host, which is why it comes
// here and not to New. Start once; a second call, or one after Shutdown,
// does nothing.
func (h *Host) Start(router Router) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.started || h.closed {
		return
	}
	h.started = true
	h.wg.Add(1)
	go h.maintainLoop(router)
}

// Partitions returns P.
func (h *Host) Partitions() int { return h.cfg.Partitions }

// Open starts partition pid on transport trans. If the partition has no
// Raft state on this node and bootstrap is non-empty, the group is
// bootstrapped with that configuration; a node that has state never
// bootstraps again.
func (h *Host) Open(pid uint16, trans raft.Transport, bootstrap []raft.Server) (*Partition, error) {
	if int(pid) >= h.cfg.Partitions {
		return nil, fmt.Errorf("%w: %d", ErrUnknownPartition, pid)
	}
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil, ErrClosed
	}
	if _, ok := h.parts[pid]; ok || h.opening[pid] {
		h.mu.Unlock()
		return nil, fmt.Errorf("hlr: partition %d already open", pid)
	}
	h.opening[pid] = true
	h.mu.Unlock()

	p, err := h.openPartition(pid, trans, bootstrap)
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.opening, pid)
	if err != nil {
		return nil, err
	}
	if h.closed {
		p.shutdown()
		return nil, ErrClosed
	}
	h.parts[pid] = p
	h.kickLeaders()
	return p, nil
}

func (h *Host) openPartition(pid uint16, trans raft.Transport, bootstrap []raft.Server) (*Partition, error) {
	log := h.log.With("partition", pid)
	store, err := logstore.New(h.db, pid, h.logOpts)
	if err != nil {
		return nil, err
	}
	logs, err := raft.NewLogCache(512, store)
	if err != nil {
		return nil, err
	}
	snapDir := h.snapDir(pid)
	snaps, err := raft.NewFileSnapshotStoreWithLogger(snapDir, 2, newHclog(log))
	if err != nil {
		return nil, fmt.Errorf("hlr: snapshot store: %w", err)
	}
	fsm, err := NewFSM(h.db, pid, h.cfg.Logger)
	if err != nil {
		return nil, err
	}
	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(h.cfg.NodeID)
	rc.Logger = newHclog(h.cfg.Logger.With("component", "raft", "partition", pid))
	t := h.cfg.Raft
	rc.HeartbeatTimeout, rc.ElectionTimeout = t.HeartbeatTimeout, t.ElectionTimeout
	rc.LeaderLeaseTimeout, rc.CommitTimeout = t.LeaderLeaseTimeout, t.CommitTimeout
	rc.SnapshotInterval, rc.SnapshotThreshold, rc.TrailingLogs = t.SnapshotInterval, t.SnapshotThreshold, t.TrailingLogs
	rc.MaxAppendEntries = t.MaxAppendEntries
	// The proposer already batches commands into few entries and keeps at
	// most maxInflight of them queued, so raft's buffered apply channel
	// would add nothing but a way to lose futures at shutdown.
	rc.BatchApplyCh = false
	// The state machine keeps its own state in Pebble, so a restart does
	// not need to reload it from the last snapshot: raft replays the log
	// after the snapshot and the FSM skips what it has applied. Raft does
	// not replay what the snapshot covers, though, so if the state machine
	// is behind the snapshot (a crash in the middle of a restore, or state
	// deleted by hand) it must be restored from it.
	restore, err := stateBehindSnapshot(fsm.AppliedIndex(), snaps, logs)
	if err != nil {
		return nil, err
	}
	rc.NoSnapshotRestoreOnStart = !restore
	if restore {
		log.Warn("state machine is behind the latest snapshot; restoring it", "applied", fsm.AppliedIndex())
	}
	if err := raft.ValidateConfig(rc); err != nil {
		return nil, fmt.Errorf("hlr: raft config: %w", err)
	}
	has, err := raft.HasExistingState(logs, store, snaps)
	if err != nil {
		return nil, err
	}
	if !has && fsm.AppliedIndex() > 0 {
		// State-machine data without any Raft state is left over from an
		// interrupted drop. The group's log will start again from index 1
		// (or a snapshot), and the FSM would skip those entries as applied.
		log.Warn("dropping state-machine data that has no Raft state", "applied", fsm.AppliedIndex())
		if err := fsm.drop(); err != nil {
			return nil, err
		}
	}
	if len(bootstrap) > 0 {
		if !has {
			if err := raft.BootstrapCluster(rc, logs, store, snaps, trans, raft.Configuration{Servers: bootstrap}); err != nil {
				return nil, fmt.Errorf("hlr: bootstrap partition %d: %w", pid, err)
			}
			log.Debug("bootstrapped", "servers", len(bootstrap))
		}
	}
	r, err := raft.NewRaft(rc, fsm, logs, store, snaps, trans)
	if err != nil {
		return nil, fmt.Errorf("hlr: start partition %d: %w", pid, err)
	}
	if ts, ok := trans.(termSourced); ok {
		ts.SetTermSource(r.CurrentTerm)
	}
	h.observe(r)
	p := &Partition{
		id: pid, raft: r, fsm: fsm, drop: store.Drop, trans: trans, snapDir: snapDir, snaps: snaps,
		effects: h.effects, kick: h.kick, log: log, now: h.cfg.Now,
		restored: func() { h.markRestored(pid) }, held: h.Held,
	}
	p.prop = newProposer(r, h.cfg.MaxBatchCmds, h.cfg.MaxBatchBytes, h.cfg.Now)
	p.prop.batches = h.batches
	p.wg.Add(2)
	go func() { defer p.wg.Done(); p.prop.collect() }()
	go func() { defer p.wg.Done(); p.prop.wait() }()
	return p, nil
}

// termSourced is a transport that needs the partition's current term:
// raftnet's, to keep heartbeats of a newer term off raft's fast path
// (raftnet.Transport.SetTermSource).
type termSourced interface{ SetTermSource(func() uint64) }

func (h *Host) snapDir(pid uint16) string {
	return filepath.Join(h.cfg.SnapshotDir, fmt.Sprintf("p%04d", pid))
}

// stateBehindSnapshot reports whether a state machine that has applied
// through index applied lacks something the newest snapshot holds. Entries
// between the two that never reach the state machine (no-ops, barriers) do
// not count; an entry the log no longer has does.
func stateBehindSnapshot(applied uint64, snaps raft.SnapshotStore, logs raft.LogStore) (bool, error) {
	list, err := snaps.List()
	if err != nil {
		return false, fmt.Errorf("hlr: list snapshots: %w", err)
	}
	if len(list) == 0 || list[0].Index <= applied {
		return false, nil
	}
	const maxScan = 1024
	if list[0].Index-applied > maxScan {
		return true, nil
	}
	var l raft.Log
	for i := applied + 1; i <= list[0].Index; i++ {
		if err := logs.GetLog(i, &l); err != nil {
			return true, nil
		}
		if l.Type == raft.LogCommand || l.Type == raft.LogConfiguration {
			return true, nil
		}
	}
	return false, nil
}

// Partition returns the open partition pid.
func (h *Host) Partition(pid uint16) (*Partition, bool) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	p, ok := h.parts[pid]
	return p, ok
}

// Each calls fn for every open partition.
func (h *Host) Each(fn func(*Partition)) {
	h.mu.RLock()
	ps := make([]*Partition, 0, len(h.parts))
	for _, p := range h.parts {
		ps = append(ps, p)
	}
	h.mu.RUnlock()
	for _, p := range ps {
		fn(p)
	}
}

// Close stops partition pid on this node. With drop set, its Raft log and
// state are deleted too (the node no longer replicates it).
func (h *Host) Close(pid uint16, drop bool) error {
	h.mu.Lock()
	p, ok := h.parts[pid]
	delete(h.parts, pid)
	h.mu.Unlock()
	if !ok {
		return ErrUnknownPartition
	}
	h.kickLeaders()
	err := p.shutdown()
	if drop {
		// Log first: without it raft sees no state to resume.
		err = errors.Join(err, p.drop(), p.fsm.drop(), os.RemoveAll(p.snapDir))
	}
	return err
}

func (h *Host) kick() {
	select {
	case h.kickCh <- struct{}{}:
	default:
	}
}

func (h *Host) maintainLoop(router Router) {
	defer h.wg.Done()
	t := time.NewTicker(h.cfg.MaintainInterval)
	defer t.Stop()
	for {
		select {
		case <-h.ctx.Done():
			return
		case <-t.C:
		case <-h.kickCh:
		}
		h.Each(func(p *Partition) {
			ctx, cancel := context.WithTimeout(h.ctx, 5*time.Second)
			defer cancel()
			p.maintain(ctx, router)
		})
	}
}

// Shutdown stops every partition and the maintenance loop. It is safe to
// call more than once.
func (h *Host) Shutdown() error {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil
	}
	h.closed = true
	parts := h.parts
	h.parts = map[uint16]*Partition{}
	h.mu.Unlock()
	h.cancel()
	h.wg.Wait()
	var errs []error
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, p := range parts {
		wg.Add(1)
		go func(p *Partition) {
			defer wg.Done()
			if err := p.shutdown(); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}(p)
	}
	wg.Wait()
	return errors.Join(errs...)
}
