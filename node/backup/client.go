package backup

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/roamhq/roam/hlr"
	"github.com/roamhq/roam/node/mux"
)

// Config says how to reach a cluster and where its backup lives.
type Config struct {
	// Security is the internal port's: a certificate of the cluster's CA
	// (derived from the cluster key, or the operator's).
	Security mux.Security
	// Peers are internal addresses of some of the cluster's nodes; the
	// others are learned from them.
	Peers []string
	// Dir is the backup directory: written by Backup (it must not hold a
	// backup yet), read by Restore.
	Dir string
	// Progress, if set, gets one line per partition.
	Progress io.Writer
	// PartitionTimeout bounds finding a partition's leader and moving its
	// snapshot.
	PartitionTimeout time.Duration
}

// DefaultConfig returns a Config without peers, directory or security.
func DefaultConfig() Config {
	return Config{PartitionTimeout: 10 * time.Minute}
}

// Validate reports what is missing or wrong.
func (c *Config) Validate() error {
	switch {
	case len(c.Peers) == 0:
		return errors.New("backup: no peer: give the internal address of at least one node")
	case c.Dir == "":
		return errors.New("backup: no directory")
	case c.PartitionTimeout <= 0:
		return errors.New("backup: PartitionTimeout must be positive")
	case c.Security.Identity == nil && !c.Security.InsecurePlaintext:
		return errors.New("backup: no internal-port identity (cluster key or operator certificate)")
	}
	return nil
}

// client finds partition leaders: it keeps every node address it has
// heard of, and follows not_leader hints.
type client struct {
	cfg   Config
	mu    sync.Mutex // known, between the main goroutine and the hold's renewer
	known []string
}

func (c *client) learn(addrs ...string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.learnLocked(addrs...)
}

func (c *client) learnLocked(addrs ...string) {
	for _, a := range addrs {
		if a == "" {
			continue
		}
		dup := false
		for _, k := range c.known {
			dup = dup || k == a
		}
		if !dup {
			c.known = append(c.known, a)
		}
	}
}

// open dials the leader of pid with kind and hands the connection, whose
// first Reply said "go on", to fn. It moves to the hinted leader, then
// round the known nodes, until ctx ends.
func (c *client) open(ctx context.Context, kind byte, pid uint16, hello func(net.Conn) error, fn func(net.Conn, Reply) error) error {
	next, i := "", 0
	var last error
	for {
		if err := ctx.Err(); err != nil {
			if last == nil {
				last = err
			}
			return fmt.Errorf("partition %d: %w", pid, last)
		}
		addr := next
		if addr == "" {
			c.mu.Lock()
			addr = c.known[i%len(c.known)]
			i++
			round := i%len(c.known) == 0
			c.mu.Unlock()
			if round {
				time.Sleep(200 * time.Millisecond) // round the nodes: give an election time
			}
		}
		next = ""
		conn, rep, err := c.dial(ctx, addr, kind, pid, hello)
		if err != nil {
			last = err
			continue
		}
		c.learn(rep.Members...)
		switch {
		case rep.Err == "":
			err := fn(conn, rep)
			conn.Close()
			return err
		case rep.Err == ErrNotLeader && rep.Leader != "" && rep.Leader != addr:
			next = rep.Leader
		case rep.Err == ErrNotLeader, rep.Err == ErrNoLeader, rep.Err == ErrNotHere:
		default:
			conn.Close()
			return fmt.Errorf("partition %d at %s: %s", pid, addr, rep.Err)
		}
		conn.Close()
		last = fmt.Errorf("%s: %s", addr, rep.Err)
	}
}

func (c *client) dial(ctx context.Context, addr string, kind byte, pid uint16, hello func(net.Conn) error) (net.Conn, Reply, error) {
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	conn, err := mux.Dial(dctx, c.cfg.Security, addr, kind, pid)
	if err != nil {
		return nil, Reply{}, err
	}
	dl, _ := ctx.Deadline()
	conn.SetDeadline(dl)
	if hello != nil {
		if err := hello(conn); err != nil {
			conn.Close()
			return nil, Reply{}, err
		}
	}
	var rep Reply
	if err := Read(conn, &rep); err != nil {
		conn.Close()
		return nil, Reply{}, fmt.Errorf("%s: %w", addr, err)
	}
	return conn, rep, nil
}

func (c *client) progress(format string, a ...any) {
	if c.cfg.Progress != nil {
		fmt.Fprintf(c.cfg.Progress, format+"\n", a...)
	}
}

// Backup writes a backup of every partition of the cluster to cfg.Dir,
// one partition after another, each from its leader: each file is that
// partition's state at one Raft index. What spans partitions (a friendship,
// a group membership) is completed at the receiving side from the sender's
// outbox, which the backup holds too, so a restored cluster finishes it.
func Backup(ctx context.Context, cfg Config) (*Manifest, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(cfg.Dir, ManifestFile)); err == nil {
		return nil, fmt.Errorf("backup: %s already holds a backup", cfg.Dir)
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	c := &client{cfg: cfg}
	c.learn(cfg.Peers...)
	release, err := c.keepHeld(ctx, hlr.HoldDone)
	if err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	defer release()
	m := &Manifest{Version: manifestVersion, Started: time.Now().UTC()}
	for pid := 0; m.Partitions == 0 || pid < m.Partitions; pid++ {
		part, rep, err := c.fetch(ctx, uint16(pid))
		if err != nil {
			return nil, fmt.Errorf("backup: %w", err)
		}
		if m.Partitions == 0 {
			m.Partitions, m.Cluster = rep.Partitions, rep.Cluster
			if m.Partitions <= 0 {
				return nil, fmt.Errorf("backup: the cluster reports %d partitions", m.Partitions)
			}
		} else if rep.Partitions != m.Partitions {
			return nil, fmt.Errorf("backup: partition %d's leader reports %d partitions, the first said %d", pid, rep.Partitions, m.Partitions)
		}
		m.Parts = append(m.Parts, part)
		c.progress("partition %d of %d: %s at index %d from %s", pid+1, m.Partitions, size(part.Size), part.Index, part.From)
	}
	m.Finished = time.Now().UTC()
	if err := m.write(cfg.Dir); err != nil {
		return nil, fmt.Errorf("backup: %w", err)
	}
	return m, nil
}

func (c *client) fetch(ctx context.Context, pid uint16) (Part, Reply, error) {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.PartitionTimeout)
	defer cancel()
	var part Part
	var got Reply
	err := c.open(ctx, mux.KindBackup, pid, nil, func(conn net.Conn, rep Reply) error {
		if rep.Meta.Partition != pid || rep.Meta.Size < 0 {
			return fmt.Errorf("partition %d: the leader sent the backup of partition %d", pid, rep.Meta.Partition)
		}
		name := partFile(pid)
		tmp := filepath.Join(c.cfg.Dir, name+".tmp")
		f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
		if err != nil {
			return err
		}
		h := sha256.New()
		n, err := io.Copy(io.MultiWriter(f, h), io.LimitReader(conn, rep.Meta.Size))
		if err == nil && n != rep.Meta.Size {
			err = fmt.Errorf("partition %d: %d of %d bytes", pid, n, rep.Meta.Size)
		}
		if err == nil {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err == nil {
			err = os.Rename(tmp, filepath.Join(c.cfg.Dir, name))
		}
		if err != nil {
			os.Remove(tmp)
			return err
		}
		part = Part{BackupMeta: rep.Meta, File: name, SHA256: hex.EncodeToString(h.Sum(nil)), From: conn.RemoteAddr().String()}
		got = rep
		return nil
	})
	return part, got, err
}

// Restore loads the backup in cfg.Dir into a new cluster (every partition
// empty, the same partition count), each partition through its leader.
// Every file's checksum is verified before anything is sent.
func Restore(ctx context.Context, cfg Config) (*Manifest, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	m, err := ReadManifest(cfg.Dir)
	if err != nil {
		return nil, err
	}
	for _, p := range m.Parts {
		if err := verifyPart(cfg.Dir, p); err != nil {
			return nil, err
		}
	}
	c := &client{cfg: cfg}
	c.learn(cfg.Peers...)
	release, err := c.keepHeld(ctx, hlr.HoldAll)
	if err != nil {
		return nil, fmt.Errorf("restore: %w", err)
	}
	defer release()
	for _, p := range m.Parts {
		if err := c.restore(ctx, m, p); err != nil {
			return nil, fmt.Errorf("restore: %w", err)
		}
		c.progress("partition %d of %d: %s restored", p.Partition+1, m.Partitions, size(p.Size))
	}
	return m, nil
}

func verifyPart(dir string, p Part) error {
	f, err := os.Open(filepath.Join(dir, p.File))
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	n, err := io.Copy(h, f)
	if err != nil {
		return fmt.Errorf("restore: %s: %w", p.File, err)
	}
	if n != p.Size || hex.EncodeToString(h.Sum(nil)) != p.SHA256 {
		return fmt.Errorf("restore: %s does not match the manifest (size or checksum): the backup is damaged", p.File)
	}
	return nil
}

// errRetry is a restore the leader refused before it changed anything
// (it lost the leadership, or was handing it over): try again.
var errRetry = errors.New("backup: the partition's leader changed; trying again")

func (c *client) restore(ctx context.Context, m *Manifest, p Part) error {
	ctx, cancel := context.WithTimeout(ctx, c.cfg.PartitionTimeout)
	defer cancel()
	for {
		err := c.restoreOnce(ctx, m, p)
		if !errors.Is(err, errRetry) {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("partition %d: %w", p.Partition, ctx.Err())
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (c *client) restoreOnce(ctx context.Context, m *Manifest, p Part) error {
	hello := func(conn net.Conn) error {
		return Write(conn, Request{Partitions: m.Partitions, Meta: p.BackupMeta})
	}
	return c.open(ctx, mux.KindRestore, p.Partition, hello, func(conn net.Conn, _ Reply) error {
		f, err := os.Open(filepath.Join(c.cfg.Dir, p.File))
		if err != nil {
			return err
		}
		defer f.Close()
		if _, err := io.Copy(conn, f); err != nil {
			return fmt.Errorf("partition %d: %w", p.Partition, err)
		}
		var rep Reply
		if err := Read(conn, &rep); err != nil {
			return fmt.Errorf("partition %d: no outcome: %w", p.Partition, err)
		}
		switch rep.Err {
		case "":
			return nil
		case ErrNoLeader, ErrNotLeader:
			return errRetry
		}
		return fmt.Errorf("partition %d: %s", p.Partition, rep.Err)
	})
}

func size(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
