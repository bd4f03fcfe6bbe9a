package node

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble"

	"github.com/roamhq/roam/hlr/keyspace"
)

// Node metadata lives in the node's Pebble DB under keyspace.NodeKey. It is
// written once, on first start, in one synced batch, and checked on every
// later start.
const (
	metaNodeID     = "node_id"
	metaClusterID  = "cluster_id"
	metaPartitions = "partitions" // uint32 BE
	metaFakeSalt   = "fake_salt_secret"

	fakeSaltLen = 32
)

// meta is what a node remembers about itself across restarts.
type meta struct {
	NodeID     string
	ClusterID  string
	Partitions int
	FakeSalt   []byte
}

func readMeta(db *pebble.DB) (meta, error) {
	var m meta
	get := func(name string) ([]byte, error) {
		v, closer, err := db.Get(keyspace.NodeKey(name))
		if errors.Is(err, pebble.ErrNotFound) {
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("node: read %s: %w", name, err)
		}
		defer closer.Close()
		return append([]byte(nil), v...), nil
	}
	id, err := get(metaNodeID)
	if err != nil {
		return m, err
	}
	cl, err := get(metaClusterID)
	if err != nil {
		return m, err
	}
	p, err := get(metaPartitions)
	if err != nil {
		return m, err
	}
	if m.FakeSalt, err = get(metaFakeSalt); err != nil {
		return m, err
	}
	m.NodeID, m.ClusterID = string(id), string(cl)
	if p != nil {
		if len(p) != 4 {
			return m, fmt.Errorf("node: stored partition count is corrupt (%d bytes)", len(p))
		}
		m.Partitions = int(binary.BigEndian.Uint32(p))
	}
	return m, nil
}

// loadMeta reads the stored metadata, checks cfg against it, fills in what
// is missing (first start) and stores that with Sync.
func loadMeta(db *pebble.DB, cfg *Config) (meta, error) {
	m, err := readMeta(db)
	if err != nil {
		return m, err
	}
	stored := m
	switch {
	case m.NodeID != "" && cfg.NodeID != "" && m.NodeID != cfg.NodeID:
		return m, fmt.Errorf("%w: %s belongs to node %q, config asks for %q", ErrNodeIDMismatch, cfg.DataDir, m.NodeID, cfg.NodeID)
	case m.Partitions != 0 && cfg.Partitions != 0 && m.Partitions != cfg.Partitions:
		return m, fmt.Errorf("%w: %s was created with %d partitions, config asks for %d; the partition count is fixed when a cluster is created (leave it unset to use the stored value)",
			ErrPartitionsMismatch, cfg.DataDir, m.Partitions, cfg.Partitions)
	}
	if m.NodeID == "" {
		m.NodeID = cfg.NodeID
		if m.NodeID == "" {
			m.NodeID = "n" + randomHex(8)
		}
	}
	if m.ClusterID == "" {
		m.ClusterID = randomHex(16)
	}
	if m.Partitions == 0 {
		m.Partitions = cfg.Partitions
		if m.Partitions == 0 {
			m.Partitions = DefaultPartitions
		}
	}
	if len(m.FakeSalt) == 0 {
		m.FakeSalt = make([]byte, fakeSaltLen)
		rand.Read(m.FakeSalt)
	}

	b := db.NewBatch()
	defer b.Close()
	if stored.NodeID == "" {
		b.Set(keyspace.NodeKey(metaNodeID), []byte(m.NodeID), nil)
	}
	if stored.ClusterID == "" {
		b.Set(keyspace.NodeKey(metaClusterID), []byte(m.ClusterID), nil)
	}
	if stored.Partitions == 0 {
		b.Set(keyspace.NodeKey(metaPartitions), binary.BigEndian.AppendUint32(nil, uint32(m.Partitions)), nil)
	}
	if len(stored.FakeSalt) == 0 {
		b.Set(keyspace.NodeKey(metaFakeSalt), m.FakeSalt, nil)
	}
	if b.Empty() {
		return m, nil
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return m, fmt.Errorf("node: store metadata: %w", err)
	}
	return m, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
