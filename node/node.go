package node

import (
	"context"
	"crypto/rand"
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
	"github.com/roamhq/roam/node/gate"
	"github.com/roamhq/roam/node/gossip"
	"github.com/roamhq/roam/node/mux"
	"github.com/roamhq/roam/node/raftnet"
	"github.com/roamhq/roam/vlr"
)

// Node is one roamd process: the node's Pebble DB, the internal port shared
// by all node-to-node traffic, gossip membership, the home-register
// partitions it replicates and the visitor register that owns its client
// connections.
//
// Goroutines: the node owns one, the reconciler (see reconcile.go), and a
// background join on restart. The mux, gossip, the gate, the partitions'
// Raft transports, hlr.Host and vlr.Server own theirs; Shutdown stops them
// in dependency order, backwards.
type Node struct {
	cfg  Config
	log  *slog.Logger
	meta meta

	db           *pebble.DB
	mux          *mux.Mux
	clientLn     net.Listener
	internalAddr string // advertised internal address
	gossip       *gossip.Gossip
	gate         *gate.Gate
	bus          *effectBus
	rt           *router
	host         *hlr.Host
	vlr          *vlr.Server

	partsMu sync.Mutex
	trans   map[uint16]*raftnet.Transport // open partitions' transports
	// transferAfter holds back a partition's next leadership transfer
	// after one failed (transfer_stuck.go).
	transferMu    sync.Mutex
	transferAfter map[uint16]time.Time

	view     clusterView  // membership and placement (cluster.go)
	presence presenceBus  // presence fan-out (presence.go)
	rn       *raftnet.Net // every partition's Raft RPCs (package raftnet)
	hints    leaderHints  // partition → leader address (remote.go)
	dl       *delivery    // delivery repair (delivery.go)
	groups   *groupFanout // group fan-out by node interest (groups.go)
	sched    *scheduler   // fires scheduled messages of the led partitions (scheduler.go)
	scenes   *sceneHost   // hosts the scenes of the led partitions (scene_host.go)

	changes changeCounts // reconciler changes made (changes.go)
	ready   readyState   // what Readiness saw last (status.go)

	place     placement          // sessions sent to other nodes (clients.go)
	draining  atomic.Bool        // Drain called, Undrain not (drain.go)
	drainMu   sync.Mutex         // serializes Drain and Undrain
	drainStop context.CancelFunc // ends the drain loop; nil when not draining
	left      leftPeers          // peers that told us they leave (leave.go)
	confirm   confirmations      // dead members that answer (confirm.go)

	ctx  context.Context // cancelled when Shutdown begins
	stop context.CancelFunc
	wg   sync.WaitGroup

	keyFile string // where this start wrote a new cluster key, if it did

	closed       atomic.Bool
	shutdownOnce sync.Once
	shutdownErr  error
}

// New starts a node. A node with no stored cluster and no Config.Join
// creates a new cluster and bootstraps every partition as their only
// voter; a node with Config.Join joins that cluster and gets its replicas
// from the partition leaders; a node with stored state resumes where it
// stopped (it never bootstraps again). New cleans up after itself if any
// step fails.
func New(cfg Config) (_ *Node, err error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	n := &Node{cfg: cfg, log: cfg.Logger.With("component", "node"), trans: make(map[uint16]*raftnet.Transport), transferAfter: make(map[uint16]time.Time)}
	n.ctx, n.stop = context.WithCancel(context.Background())
	defer func() {
		if err != nil {
			if cerr := n.close(false); cerr != nil {
				n.log.Warn("cleanup after failed start", "err", cerr)
			}
		}
	}()
	start := time.Now()

	// The data directory holds the cluster key and every credential:
	// only the node's user may read it.
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("node: data dir: %w", err)
	}
	if cfg.FS != nil {
		if err := cfg.FS.MkdirAll(cfg.DataDir, 0o700); err != nil {
			return nil, fmt.Errorf("node: data dir: %w", err)
		}
	}
	if n.db, err = openDB(cfg.DataDir, cfg.FS, cfg.Logger); err != nil {
		return nil, err
	}
	if cfg.InternalIdentity != nil && cfg.NodeID == "" {
		cfg.NodeID = cfg.InternalIdentity.NodeID() // the operator's certificate names the node
	}
	if n.meta, err = loadMeta(n.db, &cfg); err != nil {
		return nil, err
	}
	n.log = n.log.With("node", n.meta.NodeID)

	// The cluster key: stored, given, or (on the node that creates a
	// cluster without one) new. It encrypts gossip and, in derived mode,
	// is the root of trust of the internal port.
	creating := n.meta.ClusterID == "" && len(cfg.Join) == 0
	key := n.meta.ClusterKey
	if len(key) == 0 {
		key = cfg.ClusterKey
	}
	newKey := false
	if len(key) == 0 && creating {
		key = make([]byte, 32)
		rand.Read(key)
		newKey = true
	}
	if len(key) == 0 {
		return nil, fmt.Errorf("%w: this node has no stored cluster and was asked to join %v", ErrNoClusterKey, cfg.Join)
	}
	sec, err := internalSecurity(&cfg, key, n.meta.NodeID)
	if err != nil {
		return nil, err
	}

	// Listen first, so that gossip can advertise the bound addresses.
	ln, err := net.Listen("tcp", cfg.InternalAddr)
	if err != nil {
		return nil, fmt.Errorf("node: listen on internal address %s: %w", cfg.InternalAddr, err)
	}
	n.internalAddr = cfg.InternalAdvertise
	if n.internalAddr == "" {
		n.internalAddr = ln.Addr().String()
		if ta, ok := ln.Addr().(*net.TCPAddr); ok && ta.IP.IsUnspecified() {
			n.log.Warn("internal address is a wildcard; set an advertised address before adding other nodes", "addr", n.internalAddr)
		}
	}
	if n.mux, err = mux.New(advertisedListener{ln, advertisedAddr(n.internalAddr)}, sec, cfg.Logger,
		mux.WithHeaderTimeout(cfg.MuxHeaderTimeout), mux.WithDialer(cfg.DialInternal)); err != nil {
		return nil, fmt.Errorf("node: %w", err)
	}
	if n.clientLn, err = net.Listen("tcp", cfg.ClientAddr); err != nil {
		return nil, fmt.Errorf("node: listen on client address %s: %w", cfg.ClientAddr, err)
	}

	if creating {
		if newKey {
			if n.keyFile, err = writeKeyFile(cfg.DataDir, key); err != nil {
				return nil, err
			}
		}
		p := cfg.Partitions
		if p == 0 {
			p = DefaultPartitions
		}
		if err := setCluster(n.db, &n.meta, randomHex(16), p, cfg.Replicas, key); err != nil {
			return nil, err
		}
	}
	if err := n.startGossip(key); err != nil {
		return nil, err
	}
	if n.meta.ClusterID == "" {
		// A new node joining: learn the cluster's parameters first.
		ctx, cancel := context.WithTimeout(n.ctx, time.Minute)
		params, err := n.gossip.Join(ctx, cfg.Join)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("node: join %v: %w", cfg.Join, err)
		}
		if cfg.Partitions != 0 && cfg.Partitions != params.Partitions {
			return nil, fmt.Errorf("%w: the cluster has %d partitions, config asks for %d", ErrPartitionsMismatch, params.Partitions, cfg.Partitions)
		}
		if err := setCluster(n.db, &n.meta, params.ClusterID, params.Partitions, params.Replicas, key); err != nil {
			return nil, err
		}
	} else if len(cfg.Join) > 0 && !creating {
		n.goFunc(n.rejoin) // a restart: find the others in the background
	}

	// The gate first: it sends from the start and serves other nodes only
	// once every kind is registered (registerKinds, then Start, below).
	gc := gate.DefaultConfig()
	gc.NodeID, gc.Mux, gc.Logger = n.meta.NodeID, n.mux, cfg.Logger
	// After one-way items to a peer were dropped or lost with a
	// connection, its view of our presence is rebuilt from scratch.
	// (Lost deliveries are repaired by acknowledgements and notices,
	// delivery.go.)
	gc.Resync = func(addr string) { n.sendPresence(addr, n.vlr.LocalPresence(), true) }
	gc.DropOneWay = cfg.GateDropOneWay
	if n.gate, err = gate.New(gc); err != nil {
		return nil, err
	}
	// The effects of the partitions this node leads go to the bus, whose
	// routers registerKinds adds before any partition opens.
	n.bus = newEffectBus(n.log)
	n.dl = newDelivery(n, cfg.Delivery)

	hc := cfg.HLR
	hc.NodeID = n.meta.NodeID
	hc.SnapshotDir = filepath.Join(cfg.DataDir, "snapshots")
	hc.Partitions = n.meta.Partitions
	hc.Logger = cfg.Logger
	if n.host, err = hlr.New(hc, n.db, n.bus); err != nil {
		return nil, err
	}
	n.host.OnLeader(n.dl.onLeader)
	n.groups = newGroupFanout(n, cfg.Groups)
	n.host.OnLeader(n.groups.onLeader)
	n.sched = newScheduler(n, cfg.Scheduler)
	n.host.OnLeader(n.sched.onLeader)
	n.scenes = newSceneHost(n, cfg.Scenes)
	n.host.OnLeader(n.scenes.onLeader)
	// The router reaches every partition's leader: this host's, or another
	// node's through the gate (the node is its remoteCaller, remote.go).
	n.rt = newRouter(n.host, n.meta.Partitions, n)
	n.mux.Handle(mux.KindAdmin, n.serveAdmin)
	n.mux.Handle(mux.KindBackup, n.serveBackup)   // backup_serve.go
	n.mux.Handle(mux.KindRestore, n.serveRestore) // backup_serve.go
	n.mux.Handle(mux.KindHold, n.serveHold)       // backup_serve.go
	if err := n.startRaftNet(); err != nil {
		return nil, err
	}

	vc := cfg.VLR
	vc.NodeID = n.meta.NodeID
	vc.ClientAddr = n.clientLn.Addr().String()
	vc.Listener = n.clientLn
	vc.Nodes = n.clientAddrs
	vc.Place = n.placeSession
	vc.Loads = n.nodeLoads
	if cfg.ClientCert != nil {
		vc.TLS = clientTLS(*cfg.ClientCert)
	}
	if vc.TLS == nil && !IsLoopback(cfg.ClientAddr) {
		n.log.Warn("INSECURE: the client port serves plaintext on a non-loopback address: session tokens and messages cross the network in clear", "addr", cfg.ClientAddr)
	}
	if len(vc.FakeSaltSecret) == 0 {
		vc.FakeSaltSecret = fakeSaltSecret(n.meta.ClusterKey)
	}
	if len(vc.TokenSecret) == 0 {
		vc.TokenSecret = tokenSecret(n.meta.ClusterKey)
	}
	vc.Logger = cfg.Logger
	vc.Partitions = n.meta.Partitions
	n.presence.init(n)
	if n.vlr, err = vlr.New(vc, n.rt, &n.presence, n.groups.reg, sceneBus{n}); err != nil {
		return nil, err
	}
	n.clientLn = nil // owned by the vlr now

	// Every kind's handler uses the home register and the vlr, so they
	// are registered now, and the gate serves other nodes from here on.
	n.registerKinds()
	n.gate.Start()
	n.host.Start(n.rt) // outbox delivery and expiry

	n.goFunc(n.dl.loop) // before any partition can report its leadership
	n.groups.run()
	if cfg.PresenceResync > 0 {
		n.goFunc(func() { n.presence.resyncLoop(cfg.PresenceResync) })
	}
	n.goFunc(n.sched.run)
	n.goFunc(n.scenes.run)
	if err := n.openInitial(creating); err != nil {
		return nil, err
	}
	n.goFunc(n.reconcileLoop)
	n.goFunc(n.quietLoop)   // leaders heartbeat less (quiet.go)
	n.goFunc(n.balanceLoop) // session balance (clients.go)
	n.log.Info("node started",
		"client", n.ClientAddr(), "internal", n.internalAddr, "gossip", n.gossip.Addr(),
		"partitions", n.meta.Partitions, "replicas", n.meta.Replicas,
		"cluster", n.meta.ClusterID, "created", creating, "took", time.Since(start).Round(time.Millisecond))
	return n, nil
}

// goFunc starts a goroutine that Shutdown waits for.
func (n *Node) goFunc(f func()) {
	n.wg.Add(1)
	go func() {
		defer n.wg.Done()
		f()
	}()
}

func (n *Node) startGossip(key []byte) error {
	gc := gossip.DefaultConfig()
	gc.NodeID = n.meta.NodeID
	gc.BindAddr = n.cfg.GossipAddr
	gc.AdvertiseAddr = n.cfg.GossipAdvertise
	gc.SecretKey = key
	gc.Label = n.cfg.ClusterLabel
	gc.Meta = gossip.Meta{ClientAddr: n.clientLn.Addr().String(), InternalAddr: n.internalAddr}
	gc.Fast = n.cfg.GossipFast
	gc.Cut = n.cfg.GossipCut
	gc.Logger = n.cfg.Logger
	if n.meta.ClusterID != "" {
		gc.Params = &gossip.ClusterParams{ClusterID: n.meta.ClusterID, Partitions: n.meta.Partitions, Replicas: n.meta.Replicas}
	}
	g, err := gossip.New(gc)
	if err != nil {
		return fmt.Errorf("node: gossip: %w", err)
	}
	n.gossip = g
	return nil
}

// rejoin contacts the configured seeds after a restart, retrying until one
// answers or the node shuts down.
func (n *Node) rejoin() {
	for attempt := 0; n.ctx.Err() == nil; attempt++ {
		ctx, cancel := context.WithTimeout(n.ctx, 10*time.Second)
		_, err := n.gossip.Join(ctx, n.cfg.Join)
		cancel()
		if err == nil {
			return
		}
		if errors.Is(err, gossip.ErrWrongCluster) {
			n.log.Error("the seeds belong to another cluster", "join", n.cfg.Join, "err", err)
			return
		}
		n.log.Debug("rejoin failed; retrying", "err", err)
		select {
		case <-n.ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

// openInitial opens the partitions this node had state for, or, on the
// node that creates the cluster, bootstraps every partition with itself as
// the only voter. The reconciler opens the rest as placement assigns them.
func (n *Node) openInitial(creating bool) error {
	self := []raft.Server{{Suffrage: raft.Voter, ID: raft.ServerID(n.meta.NodeID), Address: raft.ServerAddress(n.internalAddr)}}
	for pid := 0; pid < n.meta.Partitions; pid++ {
		var bootstrap []raft.Server
		if creating {
			bootstrap = self
		} else if has, err := n.hasRaftState(uint16(pid)); err != nil {
			return err
		} else if !has {
			continue
		}
		if err := n.openPartition(uint16(pid), bootstrap); err != nil {
			return err
		}
	}
	return nil
}

// openPartition starts partition pid on this node (bootstrap only if it has
// no state and bootstrap is non-empty).
func (n *Node) openPartition(pid uint16, bootstrap []raft.Server) error {
	trans, err := n.rn.Transport(pid)
	if err != nil {
		return fmt.Errorf("node: open partition %d: %w", pid, err)
	}
	if _, err := n.host.Open(pid, trans, bootstrap); err != nil {
		trans.Close()
		return fmt.Errorf("node: open partition %d: %w", pid, err)
	}
	n.partsMu.Lock()
	n.trans[pid] = trans
	n.partsMu.Unlock()
	return nil
}

// startRaftNet starts the partitions' shared Raft transport.
func (n *Node) startRaftNet() error {
	rc := raftnet.DefaultConfig()
	rc.LocalID, rc.LocalAddr = n.meta.NodeID, n.internalAddr
	rc.Dial = func(ctx context.Context, addr string, stream uint16) (net.Conn, error) {
		return n.mux.Dial(ctx, addr, mux.KindRaftNet, stream)
	}
	rc.Identify = mux.PeerNodeID
	rc.Insecure = n.mux.Insecure()
	rc.Timeout = n.cfg.RaftIOTimeout
	rc.HeartbeatTimeout = max(n.cfg.HLR.Raft.HeartbeatTimeout, 100*time.Millisecond)
	// No pipelined replication (MaxInFlight 1). raftnet's pipeline does
	// not have the deadlock of raft v1.7.3's NetworkTransport pipeline
	// (a follower failing one pipelined append left the leader's sender
	// and the pipeline's decoder waiting on each other for good, so the
	// follower got heartbeats but no entries and the leader's Shutdown
	// hung; grafana/pyroscope#5518), but raft#541 measured pipelining to
	// gain little next to batching, which the proposer does.
	rc.MaxInFlight = 1
	rc.Logger = n.cfg.Logger
	rn, err := raftnet.New(rc)
	if err != nil {
		return err
	}
	n.rn = rn
	n.mux.Handle(mux.KindRaftNet, rn.Serve)
	return nil
}

// closePartition stops partition pid here and deletes its data (the node
// no longer replicates it).
func (n *Node) closePartition(pid uint16) error {
	err := n.host.Close(pid, true)
	n.partsMu.Lock()
	t := n.trans[pid]
	delete(n.trans, pid)
	n.partsMu.Unlock()
	if t != nil {
		t.Close()
	}
	return err
}

// openPids returns the partitions open on this node.
func (n *Node) openPids() []uint16 {
	n.partsMu.Lock()
	defer n.partsMu.Unlock()
	out := make([]uint16, 0, len(n.trans))
	for pid := range n.trans {
		out = append(out, pid)
	}
	return out
}

// WaitReady waits until every partition of the cluster has a leader that
// this node can reach: a local partition that knows its leader, or, for
// partitions this node does not host, a reachable leader.
func (n *Node) WaitReady(ctx context.Context) error {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for {
		if n.closed.Load() {
			return fmt.Errorf("%w: node is shut down", ErrNotReady)
		}
		missing := n.partitionsWithoutLeader(ctx)
		if missing == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w: %d of %d partitions have no leader: %w", ErrNotReady, missing, n.meta.Partitions, ctx.Err())
		case <-t.C:
		}
	}
}

// partitionsWithoutLeader counts the partitions whose leader is unknown
// here. Partitions not hosted here count as led if any hosting node knows.
func (n *Node) partitionsWithoutLeader(ctx context.Context) int {
	missing := 0
	for pid := 0; pid < n.meta.Partitions; pid++ {
		if p, ok := n.host.Partition(uint16(pid)); ok {
			if id, _ := p.Leader(); id != "" {
				continue
			}
			missing++
			continue
		}
		if n.leaderAddr(uint16(pid), 0) == "" {
			missing++
		}
	}
	return missing
}

// Shutdown leaves the cluster gracefully and stops the node: clients are
// told to reconnect to another node, leadership and replicas are handed to
// the other nodes (within the drain time), and every component is stopped.
// It is safe to call more than once.
func (n *Node) Shutdown() error { return n.close(true) }

// Kill stops the node at once, as a crash would from the cluster's point
// of view: no goodbye to the cluster, no hand-off. (Tests use it; a real
// crash is kill -9 of roamd.)
func (n *Node) Kill() error { return n.close(false) }

func (n *Node) close(graceful bool) error {
	n.shutdownOnce.Do(func() {
		n.closed.Store(true)
		start := time.Now()
		var errs []error
		if graceful && n.vlr != nil && n.gossip != nil {
			n.drain()
		}
		n.stop()
		if n.vlr != nil {
			redirect := ""
			if graceful {
				// Spread the clients over the other nodes by load; the
				// one address is for a client that logs in meanwhile.
				n.draining.Store(true)
				if moved := n.redirectAll(); moved > 0 {
					n.log.Info("clients redirected", "sessions", moved)
				}
				redirect = n.otherClientAddr()
			}
			if err := n.vlr.Shutdown(redirect); err != nil && !errors.Is(err, net.ErrClosed) {
				errs = append(errs, err)
			}
		}
		if n.clientLn != nil {
			n.clientLn.Close()
		}
		n.wg.Wait()
		if n.gossip != nil {
			if graceful {
				n.gossip.Leave(2 * time.Second)
			}
			errs = append(errs, n.gossip.Shutdown())
		}
		if n.host != nil {
			errs = append(errs, n.host.Shutdown())
		}
		n.partsMu.Lock()
		for _, t := range n.trans {
			t.Close() // hlr closed them already; this is for partial starts
		}
		n.partsMu.Unlock()
		if n.rn != nil {
			errs = append(errs, n.rn.Close())
		}
		if n.gate != nil {
			errs = append(errs, n.gate.Close())
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
		n.log.Info("node stopped", "graceful", graceful, "took", time.Since(start).Round(time.Millisecond), "err", n.shutdownErr)
	})
	return n.shutdownErr
}

// ID returns the node id.
func (n *Node) ID() string { return n.meta.NodeID }

// ClusterID returns the id of the cluster the node belongs to.
func (n *Node) ClusterID() string { return n.meta.ClusterID }

// ClusterKey returns the cluster key, which other nodes need to join.
func (n *Node) ClusterKey() []byte { return append([]byte(nil), n.meta.ClusterKey...) }

// ClusterKeyFile returns the file this start wrote a newly generated
// cluster key to (mode 0600), or "" if the key was given or stored.
func (n *Node) ClusterKeyFile() string { return n.keyFile }

// Partitions returns the cluster's partition count P.
func (n *Node) Partitions() int { return n.meta.Partitions }

// Replicas returns the cluster's replication factor R.
func (n *Node) Replicas() int { return n.meta.Replicas }

// ClientAddr returns the bound client address.
func (n *Node) ClientAddr() string { return n.vlr.Addr().String() }

// InternalAddr returns the advertised internal address.
func (n *Node) InternalAddr() string { return n.internalAddr }

// GossipAddr returns the advertised gossip address (give it to joiners).
func (n *Node) GossipAddr() string { return n.gossip.Addr() }

// advertisedListener reports the advertised address as its own, so that
// raft transports advertise what other nodes can dial.
type advertisedListener struct {
	net.Listener
	addr net.Addr
}

func (l advertisedListener) Addr() net.Addr { return l.addr }

type advertisedAddr string

func (a advertisedAddr) Network() string { return "tcp" }
func (a advertisedAddr) String() string  { return string(a) }

// hasRaftState reports whether partition pid has Raft state in the DB.
func (n *Node) hasRaftState(pid uint16) (bool, error) {
	lo, hi := keyspaceStableRange(pid)
	it, err := n.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return false, err
	}
	defer it.Close()
	return it.First(), nil
}

// Raft returns the Raft group of partition pid if it is open here (for
// tests and operators' tooling).
func (n *Node) Raft(pid uint16) (*raft.Raft, bool) {
	p, ok := n.host.Partition(pid)
	if !ok {
		return nil, false
	}
	return p.Raft(), true
}
