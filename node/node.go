package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cockroachdb/pebble"
	"github.com/hashicorp/raft"

	"github.com/roamhq/roam/hlr"
	"github.com/roamhq/roam/node/mux"
	"github.com/roamhq/roam/vlr"
)

// Node is one roamd process: the node's Pebble DB, the internal port shared
// by all node-to-node traffic, the home-register partitions it replicates
// and the visitor register that owns its client connections.
//
// Goroutines: Node starts none of its own. The mux, the partitions' Raft
// transports, hlr.Host and vlr.Server own theirs, and Shutdown stops them
// in that dependency order, backwards.
type Node struct {
	cfg  Config
	log  *slog.Logger
	meta meta

	db           *pebble.DB
	mux          *mux.Mux
	internalAddr string // advertised internal address
	eff          *effects
	rt           *router
	host         *hlr.Host
	vlr          *vlr.Server
	pids         []uint16
	trans        []*raft.NetworkTransport

	closed       atomic.Bool
	shutdownOnce sync.Once
	shutdownErr  error
}

// New starts a node: it opens the database, checks or records the node's
// metadata, listens on the internal port, starts the visitor register on
// the client port and opens this node's partitions. It does not wait for
// the partitions to elect leaders (see WaitReady). If any step fails,
// everything already started is stopped again.
func New(cfg Config) (_ *Node, err error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	n := &Node{cfg: cfg, log: cfg.Logger.With("component", "node")}
	defer func() {
		if err != nil {
			if cerr := n.Shutdown(); cerr != nil {
				n.log.Warn("cleanup after failed start", "err", cerr)
			}
		}
	}()
	start := time.Now()

	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("node: data dir: %w", err)
	}
	if cfg.FS != nil {
		if err := cfg.FS.MkdirAll(cfg.DataDir, 0o755); err != nil {
			return nil, fmt.Errorf("node: data dir: %w", err)
		}
	}
	if n.db, err = openDB(cfg.DataDir, cfg.FS, cfg.Logger); err != nil {
		return nil, err
	}
	if n.meta, err = loadMeta(n.db, &cfg); err != nil {
		return nil, err
	}
	n.log = n.log.With("node", n.meta.NodeID)

	ln, err := net.Listen("tcp", cfg.InternalAddr)
	if err != nil {
		return nil, fmt.Errorf("node: listen on internal address %s: %w", cfg.InternalAddr, err)
	}
	// With port 0 only the listener knows the real address: advertise
	// that, not the configured one.
	n.internalAddr = cfg.InternalAdvertise
	if n.internalAddr == "" {
		n.internalAddr = ln.Addr().String()
		if ta, ok := ln.Addr().(*net.TCPAddr); ok && ta.IP.IsUnspecified() {
			n.log.Warn("internal address is a wildcard; set an advertised address before adding other nodes", "addr", n.internalAddr)
		}
	}
	n.mux = mux.New(advertisedListener{ln, advertisedAddr(n.internalAddr)}, cfg.Logger, mux.WithHeaderTimeout(cfg.MuxHeaderTimeout))

	n.eff = &effects{self: n.meta.NodeID}
	n.rt = &router{partitions: n.meta.Partitions}
	hc := cfg.HLR
	hc.NodeID = n.meta.NodeID
	hc.DB = n.db
	hc.SnapshotDir = filepath.Join(cfg.DataDir, "snapshots")
	hc.Partitions = n.meta.Partitions
	hc.Effects = n.eff
	hc.Router = n.rt
	hc.Logger = cfg.Logger
	if n.host, err = hlr.New(hc); err != nil {
		return nil, err
	}
	n.rt.host = n.host

	// The visitor register starts before any partition opens, so that a
	// committed command never finds the effects without it.
	vc := cfg.VLR
	vc.NodeID = n.meta.NodeID
	vc.ClientAddr = cfg.ClientAddr
	if len(vc.FakeSaltSecret) == 0 {
		vc.FakeSaltSecret = n.meta.FakeSalt
	}
	vc.Logger = cfg.Logger
	if n.vlr, err = vlr.New(vc, n.rt, vlr.NopBus{}); err != nil {
		return nil, err
	}
	n.eff.vlr = n.vlr

	for _, p := range n.placement() {
		if err := n.openPartition(p); err != nil {
			return nil, err
		}
	}
	n.log.Info("node started",
		"client", n.ClientAddr(), "internal", n.internalAddr, "partitions", n.meta.Partitions,
		"cluster", n.meta.ClusterID, "took", time.Since(start).Round(time.Millisecond))
	return n, nil
}

// openPartition starts one partition on its own stream of the internal
// port.
func (n *Node) openPartition(p plan) error {
	trans := raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream:  n.mux.Raft(p.pid),
		MaxPool: n.cfg.RaftMaxPool,
		Timeout: n.cfg.RaftIOTimeout,
		Logger:  newHclog(n.cfg.Logger.With("component", "raft-net", "partition", p.pid)),
	})
	if _, err := n.host.Open(p.pid, trans, p.bootstrap); err != nil {
		trans.Close()
		return fmt.Errorf("node: open partition %d: %w", p.pid, err)
	}
	n.pids = append(n.pids, p.pid)
	n.trans = append(n.trans, trans)
	return nil
}

// WaitReady waits until every partition of this node knows its leader, or
// ctx ends.
func (n *Node) WaitReady(ctx context.Context) error {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		if n.closed.Load() {
			return fmt.Errorf("%w: node is shut down", ErrNotReady)
		}
		missing := 0
		for _, pid := range n.pids {
			p, ok := n.host.Partition(pid)
			if !ok {
				missing++
				continue
			}
			if id, _ := p.Leader(); id == "" {
				missing++
			}
		}
		if missing == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: %d of %d partitions have no leader: %w", ErrNotReady, missing, len(n.pids), ctx.Err())
		case <-t.C:
		}
	}
}

// Shutdown stops the node: first the visitor register (which logs its
// sessions out through the home registers), then the partitions, their
// transports, the internal port and the database. It is safe to call more
// than once; later calls return the first result.
func (n *Node) Shutdown() error {
	n.shutdownOnce.Do(func() {
		n.closed.Store(true)
		start := time.Now()
		var errs []error
		if n.vlr != nil {
			if err := n.vlr.Shutdown(""); err != nil && !errors.Is(err, net.ErrClosed) {
				errs = append(errs, err)
			}
		}
		if n.host != nil {
			errs = append(errs, n.host.Shutdown())
		}
		for _, t := range n.trans {
			t.Close() // hlr closed them already; this is for partial starts
		}
		if n.mux != nil {
			errs = append(errs, n.mux.Close())
		}
		if n.db != nil {
			if err := n.db.Close(); err != nil {
				errs = append(errs, fmt.Errorf("node: close db: %w", err))
			}
		}
		n.shutdownErr = errors.Join(errs...)
		n.log.Info("node stopped", "took", time.Since(start).Round(time.Millisecond), "err", n.shutdownErr)
	})
	return n.shutdownErr
}

// ID returns the node's id.
func (n *Node) ID() string { return n.meta.NodeID }

// ClusterID returns the id of the cluster the node belongs to.
func (n *Node) ClusterID() string { return n.meta.ClusterID }

// Partitions returns the cluster's partition count P.
func (n *Node) Partitions() int { return n.meta.Partitions }

// ClientAddr returns the address the client listener is bound to.
func (n *Node) ClientAddr() string { return n.vlr.Addr().String() }

// InternalAddr returns the internal address other nodes reach this one at.
func (n *Node) InternalAddr() string { return n.internalAddr }

// advertisedListener reports the advertised address as its own, so that
// every Raft transport on the mux tells its peers where to reach it.
type advertisedListener struct {
	net.Listener
	addr net.Addr
}

func (l advertisedListener) Addr() net.Addr { return l.addr }

type advertisedAddr string

func (a advertisedAddr) Network() string { return "tcp" }
func (a advertisedAddr) String() string  { return string(a) }
