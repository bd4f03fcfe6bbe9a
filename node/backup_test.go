package node_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/roamhq/roam/node/backup"
	"github.com/roamhq/roam/node/clustertest"
	"github.com/roamhq/roam/node/mux"
	"github.com/roamhq/roam/node/pki"
)

// backupConfig is a backup client of cluster c, through node i, with an
// identity derived from c's cluster key.
func backupConfig(t *testing.T, c *clustertest.Cluster, i int, dir string) backup.Config {
	t.Helper()
	id, err := pki.Derived(c.Node(i).ClusterKey(), "backup-tool")
	if err != nil {
		t.Fatal(err)
	}
	cfg := backup.DefaultConfig()
	cfg.Security = mux.Security{Identity: id}
	cfg.Peers = []string{c.Node(i).InternalAddr()}
	cfg.Dir = dir
	cfg.PartitionTimeout = 30 * time.Second
	return cfg
}

// TestBackup_RoundTripIntoANewCluster: register and send, back up,
// destroy the cluster, restore into a new 3-node cluster, and everything
// is there: the accounts (their passwords), the friendship, every message
// in order; and the restored cluster goes on (a new message follows the
// old ones). A second restore is refused: the cluster is no longer new.
func TestBackup_RoundTripIntoANewCluster(t *testing.T) {
	a := newCluster(t, 3)
	alice := account(t, a, 0, "alice")
	bob := account(t, a, 1, "bob")
	befriend(t, alice, bob)
	const n = 5
	for i := 0; i < n; i++ {
		if _, err := alice.Send(ctx30(), "bob", []byte(fmt.Sprintf("before the backup %d", i))); err != nil {
			t.Fatal(err)
		}
	}
	receive(t, bob, n)
	dir := t.TempDir()
	var progress strings.Builder
	cfg := backupConfig(t, a, 1, dir)
	cfg.Progress = &progress
	m, err := backup.Backup(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if m.Partitions != 8 || len(m.Parts) != 8 || strings.Count(progress.String(), "\n") != 8 {
		t.Fatalf("manifest of %d partitions, %d files; progress:\n%s", m.Partitions, len(m.Parts), progress.String())
	}
	// A second backup into the same directory is refused.
	if _, err := backup.Backup(context.Background(), cfg); err == nil {
		t.Fatal("a second backup over the first was accepted")
	}
	alice.Close()
	bob.Close()
	a.Close()

	b := newCluster(t, 3)
	// Into a settled cluster: a restore whose leader loses the leadership
	// after raft installed the snapshot (the new cluster's balancer moves
	// leaderships at start) is answered no_leader, and the tool's retry
	// then finds the partition not empty (CI, once; not fixed yet).
	waitLeadersStable(t, b, 8, 2*time.Second)
	rcfg := backupConfig(t, b, 2, dir)
	if _, err := backup.Restore(context.Background(), rcfg); err != nil {
		t.Fatal(err)
	}
	alice = dial(t, b, 0, "alice-dev2")
	if err := alice.Login(ctx30(), "alice", "pw-alice"); err != nil {
		t.Fatalf("alice's password after the restore: %v", err)
	}
	fr, err := alice.Friends(ctx30())
	if err != nil {
		t.Fatal(err)
	}
	if len(fr.Friends) != 1 || fr.Friends[0].User != "bob" {
		t.Fatalf("alice's friends after the restore: %+v", fr)
	}
	if _, err := alice.Send(ctx30(), "bob", []byte("after the restore")); err != nil {
		t.Fatal(err)
	}
	got := audit(t, b, 1, "bob", n+1)
	for i, msg := range got {
		want := fmt.Sprintf("before the backup %d", i)
		if i == n {
			want = "after the restore"
		}
		if msg.Seq != uint64(i+1) || string(msg.Body) != want {
			t.Fatalf("bob's message %d: seq %d %q, want seq %d %q", i, msg.Seq, msg.Body, i+1, want)
		}
	}
	_, err = backup.Restore(context.Background(), rcfg)
	if err == nil || !strings.Contains(err.Error(), backup.ErrNotEmpty) {
		t.Fatalf("a second restore: %v", err)
	}
}

// TestBackup_RefusesWithoutTheClusterCA: a backup client whose
// certificate comes from another cluster key gets nothing; a damaged
// backup file is refused before anything is sent.
func TestBackup_RefusesWithoutTheClusterCA(t *testing.T) {
	a := newCluster(t, 3)
	cfg := backupConfig(t, a, 0, t.TempDir())
	otherKey := bytes.Repeat([]byte{9}, 32) // clustertest's clusters all use one key
	id, err := pki.Derived(otherKey, "backup-tool")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Security = mux.Security{Identity: id}
	cfg.PartitionTimeout = 3 * time.Second
	if _, err := backup.Backup(context.Background(), cfg); err == nil {
		t.Fatal("a backup with another cluster's certificate succeeded")
	}
	if _, err := os.Stat(filepath.Join(cfg.Dir, "p0000.snap")); err == nil {
		t.Fatal("a partition file was written")
	}

	dir := t.TempDir()
	if _, err := backup.Backup(context.Background(), backupConfig(t, a, 0, dir)); err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(dir, "p0003.snap")
	var data []byte
	data, err = os.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 0xff
	if err := os.WriteFile(f, data, 0o600); err != nil {
		t.Fatal(err)
	}
	b := newCluster(t, 1)
	_, err = backup.Restore(context.Background(), backupConfig(t, b, 0, dir))
	if err == nil || !strings.Contains(err.Error(), "damaged") {
		t.Fatalf("restore of a damaged backup: %v", err)
	}
}

// TestBackup_DamagedStreamRefusedWithoutCrash: a partition file damaged
// along with its manifest checksum (so the tool's own check passes) is
// refused by the node before raft sees it: raft panics when the state
// machine refuses a snapshot handed to Restore, which took the node down.
func TestBackup_DamagedStreamRefusedWithoutCrash(t *testing.T) {
	a := newCluster(t, 3)
	account(t, a, 0, "alice")
	dir := t.TempDir()
	if _, err := backup.Backup(context.Background(), backupConfig(t, a, 0, dir)); err != nil {
		t.Fatal(err)
	}
	m, err := backup.ReadManifest(dir)
	if err != nil {
		t.Fatal(err)
	}
	p := &m.Parts[0]
	f := filepath.Join(dir, p.File)
	data, err := os.ReadFile(f)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)-6] ^= 0xff // inside the last record or the terminator: the CRC no longer matches
	if err := os.WriteFile(f, data, 0o600); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	p.SHA256 = hex.EncodeToString(sum[:])
	raw, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, backup.ManifestFile), raw, 0o600); err != nil {
		t.Fatal(err)
	}
	b := newCluster(t, 1)
	_, err = backup.Restore(context.Background(), backupConfig(t, b, 0, dir))
	if err == nil || !strings.Contains(err.Error(), "failed") {
		t.Fatalf("restore of a damaged stream: %v", err)
	}
	// The node is still up and serving.
	account(t, b, 0, "bob")
}
