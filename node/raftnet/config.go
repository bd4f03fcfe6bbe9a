package raftnet

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"time"
)

// Config configures a Net.
type Config struct {
	// LocalID is this node's Raft server id (its node id) and LocalAddr
	// the internal address peers reach it at (what raft calls the
	// server address).
	LocalID   string
	LocalAddr string

	// Dial opens an authenticated connection to the node at addr for
	// stream arg (StreamRPC or StreamSnapshot), header written: the
	// node passes the mux's Dial with KindRaftNet.
	Dial func(ctx context.Context, addr string, arg uint16) (net.Conn, error)

	// Identify returns the node id an incoming connection's peer proved
	// (mux.PeerNodeID). Every request must carry that id as its Raft
	// server id, or it is refused. With Insecure set (a plaintext
	// internal port) nothing was proved and nothing is checked.
	Identify func(net.Conn) (id string, verified bool)
	Insecure bool

	// Timeout bounds every RPC but heartbeats (and, scaled by size,
	// snapshots), like raft's NetworkTransport Timeout.
	Timeout time.Duration
	// HeartbeatTimeout bounds a heartbeat: raft sends the next one soon
	// anyway, and a leader's VerifyLeader waits for it.
	HeartbeatTimeout time.Duration
	// HeartbeatWindow is how long the first heartbeat queued for a
	// peer waits for others (one timer per peer): every heartbeat of
	// every partition queued meanwhile goes out in the same write.
	HeartbeatWindow time.Duration
	// MaxInFlight is the pipeline depth per partition and follower: how
	// many AppendEntries may await their answer. 1 turns pipelining off
	// (AppendEntriesPipeline then says it is not supported).
	MaxInFlight int
	// MaxFrame bounds one frame on the wire.
	MaxFrame int

	Logger *slog.Logger
}

// DefaultConfig returns the production settings; LocalID, LocalAddr,
// Dial and Identify are the caller's.
func DefaultConfig() Config {
	return Config{
		Timeout:          10 * time.Second,
		HeartbeatTimeout: time.Second,
		HeartbeatWindow:  20 * time.Millisecond,
		MaxInFlight:      1,
		MaxFrame:         DefaultMaxFrame,
	}
}

// Validate reports the first problem with c.
func (c Config) Validate() error {
	switch {
	case c.LocalID == "" || c.LocalAddr == "":
		return errors.New("raftnet: LocalID and LocalAddr are required")
	case c.Dial == nil:
		return errors.New("raftnet: Dial is required")
	case c.Identify == nil && !c.Insecure:
		return errors.New("raftnet: Identify is required (or Insecure)")
	case c.Timeout <= 0 || c.HeartbeatTimeout <= 0:
		return errors.New("raftnet: Timeout and HeartbeatTimeout must be positive")
	case c.HeartbeatWindow < 0:
		return errors.New("raftnet: HeartbeatWindow must not be negative")
	case c.MaxInFlight < 1:
		return errors.New("raftnet: MaxInFlight must be at least 1")
	case c.MaxFrame < 1<<16:
		return errors.New("raftnet: MaxFrame must be at least 64 KiB")
	}
	return nil
}
