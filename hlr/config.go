package hlr

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/cockroachdb/pebble"
)

// RaftTiming holds the Raft settings roam tunes. Every partition of a node
// uses the same values.
type RaftTiming struct {
	HeartbeatTimeout   time.Duration
	ElectionTimeout    time.Duration
	LeaderLeaseTimeout time.Duration
	// CommitTimeout is how often an idle leader re-sends its commit index.
	// Every idle group pays for it, so roam raises it far above raft's 50ms:
	// followers learn commits with the next append or heartbeat anyway.
	CommitTimeout     time.Duration
	SnapshotInterval  time.Duration
	SnapshotThreshold uint64
	TrailingLogs      uint64
	MaxAppendEntries  int
}

// DefaultRaftTiming returns the production settings.
func DefaultRaftTiming() RaftTiming {
	return RaftTiming{
		HeartbeatTimeout:   1000 * time.Millisecond,
		ElectionTimeout:    1000 * time.Millisecond,
		LeaderLeaseTimeout: 750 * time.Millisecond, // leaders heartbeat every 187-375 ms (node/quiet.go)
		CommitTimeout:      2 * time.Second,
		SnapshotInterval:   120 * time.Second,
		SnapshotThreshold:  8192,
		TrailingLogs:       10240,
		MaxAppendEntries:   256,
	}
}

// Config configures a Host.
type Config struct {
	// NodeID is this node's Raft server id.
	NodeID string
	// DB is the node's Pebble database; the host does not close it.
	DB *pebble.DB
	// SnapshotDir holds one folder of Raft snapshots per partition.
	SnapshotDir string
	// Partitions is the number of partitions P of the cluster.
	Partitions int
	Raft       RaftTiming
	// MaxBatchCmds and MaxBatchBytes bound one Raft entry.
	MaxBatchCmds  int
	MaxBatchBytes int
	// MaintainInterval is how often leaders deliver their outbox and
	// collect expired data.
	MaintainInterval time.Duration
	// Effects receives the leader's post-commit effects.
	Effects Effects
	// Router reaches other partitions (outbox delivery). It may be set
	// after New with SetRouter, before partitions are opened.
	Router Router
	// OnLeader, if set, is told when this node starts (true) and stops
	// (false) leading a partition; see leader.go. It is called from one
	// goroutine of the host, in order, and must not block.
	OnLeader func(pid uint16, leader bool)
	Logger   *slog.Logger
	// Now is the clock (tests may replace it).
	Now func() time.Time
}

// DefaultConfig returns a Config with production defaults; NodeID, DB and
// SnapshotDir must still be filled in.
func DefaultConfig() Config {
	return Config{
		Partitions:       64,
		Raft:             DefaultRaftTiming(),
		MaxBatchCmds:     512,
		MaxBatchBytes:    1 << 20,
		MaintainInterval: time.Second,
		Effects:          NopEffects{},
		Now:              time.Now,
	}
}

// MaxPartitions is the largest supported partition count.
const MaxPartitions = 1024

// Validate reports the first problem with the configuration.
func (c *Config) Validate() error {
	switch {
	case c.NodeID == "":
		return errors.New("hlr: NodeID is required")
	case c.DB == nil:
		return errors.New("hlr: DB is required")
	case c.SnapshotDir == "":
		return errors.New("hlr: SnapshotDir is required")
	case c.Partitions < 1 || c.Partitions > MaxPartitions:
		return fmt.Errorf("hlr: Partitions must be 1..%d, got %d", MaxPartitions, c.Partitions)
	case c.MaxBatchCmds < 1 || c.MaxBatchBytes < 4096:
		return errors.New("hlr: MaxBatchCmds must be >= 1 and MaxBatchBytes >= 4096")
	case c.MaintainInterval <= 0:
		return errors.New("hlr: MaintainInterval must be positive")
	case c.Raft.HeartbeatTimeout < 5*time.Millisecond || c.Raft.ElectionTimeout < 5*time.Millisecond:
		return errors.New("hlr: Raft timeouts are too small")
	case c.Raft.CommitTimeout <= 0 || c.Raft.LeaderLeaseTimeout <= 0:
		return errors.New("hlr: Raft CommitTimeout and LeaderLeaseTimeout must be positive")
	case c.Effects == nil:
		return errors.New("hlr: Effects is required (use NopEffects)")
	case c.Now == nil:
		return errors.New("hlr: Now is required")
	}
	return nil
}
