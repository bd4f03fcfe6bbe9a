package node

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"

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
	metaReplicas   = "replicas"    // uint32 BE
	metaClusterKey = "cluster_key" // gossip encryption key

	fakeSaltLen = 32
)

// meta is what a node remembers about itself across restarts.
type meta struct {
	NodeID     string
	ClusterID  string
	Partitions int
	Replicas   int
	ClusterKey []byte
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
	if m.ClusterKey, err = get(metaClusterKey); err != nil {
		return m, err
	}
	r, err := get(metaReplicas)
	if err != nil {
		return m, err
	}
	if len(r) == 4 {
		m.Replicas = int(binary.BigEndian.Uint32(r))
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

// loadMeta reads the stored metadata and checks cfg against it. It fills
// in the node id (stored at once) but not the cluster fields: those come
// from createCluster or joinCluster on a node that has none yet.
func loadMeta(db *pebble.DB, cfg *Config) (meta, error) {
	m, err := readMeta(db)
	if err != nil {
		return m, err
	}
	switch {
	case m.NodeID != "" && cfg.NodeID != "" && m.NodeID != cfg.NodeID:
		return m, fmt.Errorf("%w: %s belongs to node %q, config asks for %q", ErrNodeIDMismatch, cfg.DataDir, m.NodeID, cfg.NodeID)
	case m.Partitions != 0 && cfg.Partitions != 0 && m.Partitions != cfg.Partitions:
		return m, fmt.Errorf("%w: %s was created with %d partitions, config asks for %d; the partition count is fixed when a cluster is created (leave it unset to use the stored value)",
			ErrPartitionsMismatch, cfg.DataDir, m.Partitions, cfg.Partitions)
	case len(m.ClusterKey) > 0 && len(cfg.ClusterKey) > 0 && !bytes.Equal(m.ClusterKey, cfg.ClusterKey):
		return m, fmt.Errorf("%w: %s belongs to a cluster with another key", ErrClusterKeyMismatch, cfg.DataDir)
	}
	if m.NodeID == "" {
		m.NodeID = cfg.NodeID
		if m.NodeID == "" {
			m.NodeID = "n" + randomHex(8)
		}
		if err := storeMeta(db, map[string][]byte{metaNodeID: []byte(m.NodeID)}); err != nil {
			return m, err
		}
	}
	return m, nil
}

// setCluster records the cluster this node belongs to: on the node that
// creates it, or on a joiner once gossip told it the parameters.
func setCluster(db *pebble.DB, m *meta, clusterID string, partitions, replicas int, key []byte) error {
	m.ClusterID, m.Partitions, m.Replicas, m.ClusterKey = clusterID, partitions, replicas, key
	return storeMeta(db, map[string][]byte{
		metaClusterID:  []byte(clusterID),
		metaPartitions: binary.BigEndian.AppendUint32(nil, uint32(partitions)),
		metaReplicas:   binary.BigEndian.AppendUint32(nil, uint32(replicas)),
		metaClusterKey: key,
	})
}

// fakeSaltSecret derives the secret behind the fake SCRAM salts of unknown
// users from the cluster key, so every node of a cluster shows the same
// salt for the same unknown name without the secret ever being sent.
func fakeSaltSecret(clusterKey []byte) []byte {
	h := hmac.New(sha256.New, clusterKey)
	h.Write([]byte("roam fake-salt secret v1"))
	return h.Sum(nil)
}

// tokenSecret derives the resume-token rotation secret from the cluster
// key, so every node rotates a token to the same successor (vlr
// Config.TokenSecret) without sending the secret anywhere.
func tokenSecret(clusterKey []byte) []byte {
	h := hmac.New(sha256.New, clusterKey)
	h.Write([]byte("roam token-rotation secret v1"))
	return h.Sum(nil)
}

func storeMeta(db *pebble.DB, kv map[string][]byte) error {
	b := db.NewBatch()
	defer b.Close()
	for k, v := range kv {
		b.Set(keyspace.NodeKey(k), v, nil)
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("node: store metadata: %w", err)
	}
	return nil
}

// keyFileName is the file in the data directory that receives a cluster
// key the node generated.
const keyFileName = "cluster.key"

// writeKeyFile writes a newly generated cluster key, base64 and a newline
// (what roamd -cluster-key-file reads), to dir/cluster.key with mode 0600,
// replacing a leftover file atomically, and returns the path.
func writeKeyFile(dir string, key []byte) (string, error) {
	path := filepath.Join(dir, keyFileName)
	tmp, err := os.CreateTemp(dir, keyFileName+".tmp*")
	if err != nil {
		return "", fmt.Errorf("node: write cluster key: %w", err)
	}
	defer os.Remove(tmp.Name()) // after a successful rename, a no-op
	// CreateTemp makes the file 0600; Chmod in case a umask or platform
	// did otherwise.
	err = tmp.Chmod(0o600)
	if err == nil {
		_, err = tmp.WriteString(base64.StdEncoding.EncodeToString(key) + "\n")
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return "", fmt.Errorf("node: write cluster key: %w", err)
	}
	return path, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
