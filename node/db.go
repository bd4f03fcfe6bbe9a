package node

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"

	"github.com/cockroachdb/pebble"
	"github.com/cockroachdb/pebble/vfs"
)

// openDB opens the node's single Pebble database. fs may be nil for the OS
// file system.
func openDB(dir string, fs vfs.FS, log *slog.Logger) (*pebble.DB, error) {
	opts := &pebble.Options{
		FS: fs,
		// Every Raft group writes small synced batches; a larger memtable
		// and a shared block cache keep that cheap.
		MemTableSize:                64 << 20,
		MemTableStopWritesThreshold: 4,
		Cache:                       pebble.NewCache(64 << 20),
		MaxConcurrentCompactions:    func() int { return 2 },
		Logger:                      pebbleLogger{log.With("component", "pebble")},
	}
	defer opts.Cache.Unref()
	if opts.FS == nil {
		opts.FS = vfs.Default
	}
	path := filepath.Join(dir, "db")
	if err := ensureDurableDir(opts.FS, path); err != nil {
		return nil, fmt.Errorf("node: create %s: %w", path, err)
	}
	db, err := pebble.Open(path, opts)
	if err != nil {
		return nil, fmt.Errorf("node: open pebble in %s: %w", dir, err)
	}
	return db, nil
}

// pebbleLogger sends Pebble's chatter to slog at debug level; a fatal error
// is logged and then panics, as Pebble expects Fatalf not to return.
type pebbleLogger struct{ l *slog.Logger }

func (p pebbleLogger) Infof(format string, args ...interface{}) {
	if p.l.Enabled(context.Background(), slog.LevelDebug) {
		p.l.Debug(fmt.Sprintf(format, args...))
	}
}

func (p pebbleLogger) Fatalf(format string, args ...interface{}) {
	msg := fmt.Sprintf(format, args...)
	p.l.Error("fatal storage error", "err", msg)
	panic(msg)
}

// ensureDurableDir creates path (and its parents) and fsyncs every
// directory from path's parent up to the root. Pebble syncs the directory
// it is given but not that directory's entry in its parent, and the data
// directory itself may have been created by someone else without a sync:
// without this, a power loss soon after the first start could lose the
// whole database directory. It runs once per start, so syncing directories
// that are already durable costs nothing that matters.
func ensureDurableDir(fs vfs.FS, path string) error {
	if err := fs.MkdirAll(path, 0o755); err != nil {
		return err
	}
	for dir := filepath.Dir(path); ; dir = filepath.Dir(dir) {
		d, err := fs.OpenDir(dir)
		if err != nil {
			return err
		}
		err = d.Sync()
		d.Close()
		if err != nil {
			return err
		}
		if parent := filepath.Dir(dir); parent == dir {
			return nil
		}
	}
}
