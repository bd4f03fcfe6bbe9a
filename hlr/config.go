package hlr

import (
	"errors"
	"fmt"
	"log/slog"
	"time"
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

// Config holds a Host's settings; its collaborators (the DB, the effects,
// the router) are arguments of New and Start.
type Config struct {
	// NodeID is this node's Raft server id.
	NodeID string
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
	Logger           *slog.Logger
	// Now is the clock (tests may replace it).
	Now func() time.Time
}

// DefaultConfig returns a Config with production defaults; NodeID and
// SnapshotDir must still be filled in.
func DefaultConfig() Config {
	return Config{
		Partitions:       64,
		Raft:             DefaultRaftTiming(),
		MaxBatchCmds:     512,
		MaxBatchBytes:    1 << 20,
		MaintainInterval: time.Second,
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
	case c.SnapshotDir == "":
		return errors.New("hlr: SnapshotDir is required")
	case c.Partitions < 1 || c.Partitions > MaxPartitions:
		return fmt.Errorf("hlr: Partitions must be 1..%d, got %d", MaxPartitions, c.Partitions)
	}
	return c.ValidateTuning()
}

// ValidateTuning reports the first problem with the settings an operator
// tunes: everything but NodeID, SnapshotDir and Partitions, which the node
// fills in (node.Config.Validate checks the rest before anything exists).
func (c *Config) ValidateTuning() error {
	switch {
	case c.MaxBatchCmds < 1 || c.MaxBatchBytes < 4096:
		return errors.New("hlr: MaxBatchCmds must be >= 1 and MaxBatchBytes >= 4096")
	case c.MaintainInterval <= 0:
		return errors.New("hlr: MaintainInterval must be positive")
	case c.Raft.HeartbeatTimeout < 5*time.Millisecond || c.Raft.ElectionTimeout < 5*time.Millisecond:
		return errors.New("hlr: Raft timeouts are too small")
	case c.Raft.CommitTimeout <= 0 || c.Raft.LeaderLeaseTimeout <= 0:
		return errors.New("hlr: Raft CommitTimeout and LeaderLeaseTimeout must be positive")
	case c.Now == nil:
		return errors.New("hlr: Now is required")
	}
	return nil
}
