// Package clustertest runs real roam nodes in one process for tests: each
// node is built by the same node.New as roamd, with its own Pebble
// directory and random loopback ports, talking real TCP (and gossip over
// UDP/TCP) to the others. Kill, Restart, Join, Leave and Isolate change the
// cluster while it runs; the Wait helpers poll instead of sleeping.
package clustertest

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/roamhq/roam/internal/roamdproc"
	"github.com/roamhq/roam/node"
)

// Options shape a test cluster.
type Options struct {
	Partitions int           // P (default 8)
	Replicas   int           // R (default 3)
	DeadGrace  time.Duration // default 3s
	// Configure, if set, adjusts each node's config before it starts.
	Configure func(i int, cfg *node.Config)
	// Logs sends the nodes' logs to the test log (noisy).
	Logs bool
}

// Cluster is a set of in-process nodes.
type Cluster struct {
	t      testing.TB
	opts   Options
	key    []byte
	faults *faults
	root   string
	logs   *roamdproc.LineWriter // the nodes' logs, to t.Log (Options.Logs)

	mu    sync.Mutex
	nodes []*Member
}

// Member is one node of the cluster, alive or not.
type Member struct {
	Name string
	Dir  string
	Cfg  node.Config
	Node *node.Node // nil while killed or left
}

// New starts an n-node cluster: node 0 creates it, the others join it; it
// returns once every node is ready and every partition has min(R, n)
// voters. Everything is shut down when the test ends.
func New(t testing.TB, n int, opts Options) *Cluster {
	t.Helper()
	if opts.Partitions == 0 {
		opts.Partitions = 8
	}
	if opts.Replicas == 0 {
		opts.Replicas = 3
	}
	if opts.DeadGrace == 0 {
		opts.DeadGrace = 3 * time.Second
	}
	c := &Cluster{t: t, opts: opts, key: bytes.Repeat([]byte{7}, 32), faults: newFaults(), root: t.TempDir()}
	if opts.Logs {
		// Made before Close is registered, so it stops after Close (the
		// nodes' shutdown logs still show).
		c.logs = roamdproc.TestLog(t, "")
	}
	t.Cleanup(c.Close)
	for i := 0; i < n; i++ {
		c.Join()
	}
	c.WaitVoters(min(opts.Replicas, n), 60*time.Second)
	return c
}

// config builds node i's configuration with fixed random ports, so that a
// restarted node comes back at the same addresses.
func (c *Cluster) config(i int) node.Config {
	cfg := node.DefaultConfig()
	cfg.NodeID = fmt.Sprintf("node%d", i)
	cfg.DataDir = filepath.Join(c.root, cfg.NodeID)
	// Port 0: the kernel picks; launch records the bound addresses so
	// that a restart comes back at the same ones when it can.
	cfg.ClientAddr = "127.0.0.1:0"
	cfg.InternalAddr = "127.0.0.1:0"
	cfg.GossipAddr = "127.0.0.1:0"
	cfg.Partitions = c.opts.Partitions
	cfg.Replicas = c.opts.Replicas
	cfg.ClusterKey = c.key
	cfg.GossipFast = true
	cfg.DeadGrace = c.opts.DeadGrace
	cfg.ReconcileInterval = 100 * time.Millisecond
	cfg.HLR.Raft.HeartbeatTimeout = 300 * time.Millisecond
	cfg.HLR.Raft.ElectionTimeout = 300 * time.Millisecond
	cfg.HLR.Raft.LeaderLeaseTimeout = 150 * time.Millisecond
	cfg.HLR.Raft.CommitTimeout = 20 * time.Millisecond
	cfg.HLR.MaintainInterval = 50 * time.Millisecond
	cfg.VLR.ShutdownGrace = time.Second
	cfg.VLR.RegisterBurst = 1000
	cfg.VLR.LoginFailures = 1000
	cfg.DialInternal = c.faults.dialer(cfg.NodeID)
	cfg.GossipCut = c.faults.gossipCutter(cfg.NodeID)
	cfg.Logger = slog.New(slog.DiscardHandler)
	if c.opts.Logs {
		cfg.Logger = slog.New(slog.NewTextHandler(c.logs, &slog.HandlerOptions{Level: slog.LevelInfo})).With("node", cfg.NodeID)
	}
	if c.opts.Configure != nil {
		c.opts.Configure(i, &cfg)
	}
	return cfg
}

// Join starts a new node that joins the cluster (the first one creates
// it) and returns its index once it is ready.
func (c *Cluster) Join() int {
	c.t.Helper()
	c.mu.Lock()
	i := len(c.nodes)
	m := &Member{Name: fmt.Sprintf("node%d", i)}
	c.nodes = append(c.nodes, m)
	c.mu.Unlock()
	m.Cfg = c.config(i)
	m.Dir = m.Cfg.DataDir
	if i > 0 {
		m.Cfg.Join = c.seeds(i)
	}
	c.start(m)
	return i
}

// seeds lists the gossip addresses of the live nodes other than i.
func (c *Cluster) seeds(i int) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for j, m := range c.nodes {
		if j != i && m.Node != nil {
			out = append(out, m.Node.GossipAddr())
		}
	}
	return out
}

func (c *Cluster) start(m *Member) {
	c.t.Helper()
	n := c.launch(m)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := n.WaitReady(ctx); err != nil {
		c.t.Fatalf("%s not ready: %v", m.Name, err)
	}
}

// launch starts m's node without waiting for it to be ready.
func (c *Cluster) launch(m *Member) *node.Node {
	c.t.Helper()
	n, err := node.New(m.Cfg)
	if err != nil && strings.Contains(err.Error(), "address already in use") {
		// Another process took a port while the node was down: come back
		// at new ones (peers re-address the node's replicas).
		m.Cfg.ClientAddr, m.Cfg.InternalAddr, m.Cfg.GossipAddr = "127.0.0.1:0", "127.0.0.1:0", "127.0.0.1:0"
		n, err = node.New(m.Cfg)
	}
	if err != nil {
		c.t.Fatalf("start %s: %v", m.Name, err)
	}
	c.faults.register(m.Name, n.InternalAddr())
	c.faults.registerGossip(m.Name, n.GossipAddr())
	c.mu.Lock()
	m.Node = n
	m.Cfg.ClientAddr, m.Cfg.InternalAddr, m.Cfg.GossipAddr = n.ClientAddr(), n.InternalAddr(), n.GossipAddr()
	c.mu.Unlock()
	return n
}

// RestartAll starts every stopped node at once (a full-cluster restart:
// no node can be ready before a majority of the others is up) and waits
// until all are ready.
func (c *Cluster) RestartAll() {
	c.t.Helper()
	c.mu.Lock()
	var down []*Member
	var seeds []string
	for _, m := range c.nodes {
		if m.Node == nil {
			down = append(down, m)
			seeds = append(seeds, m.Cfg.GossipAddr) // as bound before the stop
		}
	}
	c.mu.Unlock()
	var started []*node.Node
	for _, m := range down {
		m.Cfg.Join = nil
		for _, s := range seeds {
			if s != m.Cfg.GossipAddr {
				m.Cfg.Join = append(m.Cfg.Join, s)
			}
		}
		started = append(started, c.launch(m))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for i, n := range started {
		if err := n.WaitReady(ctx); err != nil {
			c.t.Fatalf("%s not ready after a full restart: %v", down[i].Name, err)
		}
	}
}

// N returns the number of nodes ever started (alive or not).
func (c *Cluster) N() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.nodes)
}

// Node returns node i (nil while it is down).
func (c *Cluster) Node(i int) *node.Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[i].Node
}

// ClientAddr returns node i's client address.
func (c *Cluster) ClientAddr(i int) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[i].Cfg.ClientAddr
}

// Kill stops node i abruptly: no hand-off, no goodbye to the cluster.
func (c *Cluster) Kill(i int) {
	c.t.Helper()
	c.mu.Lock()
	n := c.nodes[i].Node
	c.nodes[i].Node = nil
	c.mu.Unlock()
	if n != nil {
		n.Kill()
	}
}

// Restart starts node i again on its data directory and addresses; the
// join list is every other live node.
func (c *Cluster) Restart(i int) {
	c.t.Helper()
	c.mu.Lock()
	m := c.nodes[i]
	c.mu.Unlock()
	if m.Node != nil {
		c.t.Fatalf("restart %s: it is running", m.Name)
	}
	m.Cfg.Join = c.seeds(i)
	c.start(m)
}

// Leave shuts node i down gracefully: it hands off leadership and
// replicas first.
func (c *Cluster) Leave(i int) {
	c.t.Helper()
	c.mu.Lock()
	n := c.nodes[i].Node
	c.nodes[i].Node = nil
	c.mu.Unlock()
	if n != nil {
		if err := n.Shutdown(); err != nil {
			c.t.Errorf("leave %s: %v", c.nodes[i].Name, err)
		}
	}
}

// Isolate cuts node i's internal traffic (Raft, gate, admin) in both
// directions, or restores it. Gossip is not cut.
func (c *Cluster) Isolate(i int, cut bool) {
	c.faults.isolate(c.nodes[i].Name, cut)
}

// Alive returns the indexes of running nodes.
func (c *Cluster) Alive() []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []int
	for i, m := range c.nodes {
		if m.Node != nil {
			out = append(out, i)
		}
	}
	return out
}

// Close stops every node.
func (c *Cluster) Close() {
	c.mu.Lock()
	nodes := append([]*Member(nil), c.nodes...)
	c.mu.Unlock()
	var wg sync.WaitGroup
	for _, m := range nodes {
		if m.Node == nil {
			continue
		}
		wg.Add(1)
		go func(n *node.Node) {
			defer wg.Done()
			n.Kill()
		}(m.Node)
	}
	wg.Wait()
}

// Config describes one partition as its leader sees it.
type Config struct {
	Leader string
	Voters []string
	Others []string // non-voters
}

// PartitionConfig returns pid's configuration from a live leader, or false.
func (c *Cluster) PartitionConfig(pid uint16) (Config, bool) {
	for _, i := range c.Alive() {
		n := c.Node(i)
		if n == nil {
			continue
		}
		r, ok := n.Raft(pid)
		if !ok || r.State() != raft.Leader {
			continue
		}
		f := r.GetConfiguration()
		if f.Error() != nil {
			continue
		}
		out := Config{Leader: n.ID()}
		for _, s := range f.Configuration().Servers {
			if s.Suffrage == raft.Voter {
				out.Voters = append(out.Voters, string(s.ID))
			} else {
				out.Others = append(out.Others, string(s.ID))
			}
		}
		slices.Sort(out.Voters)
		return out, true
	}
	return Config{}, false
}

// WaitVoters waits until every partition has a leader and exactly r
// voters, all of them live nodes, and no non-voters.
func (c *Cluster) WaitVoters(r int, d time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(d)
	var last string
	for time.Now().Before(deadline) {
		last = c.checkVoters(r)
		if last == "" {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	c.t.Fatalf("partitions did not reach %d live voters in %v: %s", r, d, last)
}

func (c *Cluster) checkVoters(r int) string {
	alive := map[string]bool{}
	for _, i := range c.Alive() {
		alive[c.nodes[i].Name] = true
	}
	for pid := 0; pid < c.opts.Partitions; pid++ {
		cfg, ok := c.PartitionConfig(uint16(pid))
		if !ok {
			return fmt.Sprintf("partition %d has no leader", pid)
		}
		if len(cfg.Voters) != r || len(cfg.Others) != 0 {
			return fmt.Sprintf("partition %d: voters %v, non-voters %v", pid, cfg.Voters, cfg.Others)
		}
		for _, v := range cfg.Voters {
			if !alive[v] {
				return fmt.Sprintf("partition %d has dead voter %s", pid, v)
			}
		}
	}
	return ""
}

// WaitLeaders waits until every partition has a leader.
func (c *Cluster) WaitLeaders(d time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		missing := 0
		for pid := 0; pid < c.opts.Partitions; pid++ {
			if _, ok := c.PartitionConfig(uint16(pid)); !ok {
				missing++
			}
		}
		if missing == 0 {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.t.Fatalf("some partitions have no leader after %v", d)
}
