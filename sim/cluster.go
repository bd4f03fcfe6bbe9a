package sim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/roamhq/roam/internal/roamdproc"
)

// ClusterKey is the fixed gossip key of spawned clusters (loopback only).
const ClusterKey = "cm9hbS1zaW0tbG9jYWwta2V5LTMyLWJ5dGVzLW9rISE="

// Node is one spawned roamd process.
type Node struct {
	Name                     string
	Dir                      string
	Client, Internal, Gossip string
	// Control is the node's fault-control endpoint (roamd -fault-control),
	// on loopback; see control.go.
	Control string
	LogPath string
	// Proxy, when the cluster uses proxies, sits in front of Internal and
	// is the address the node advertises to the others.
	Proxy *Proxy

	mu      sync.Mutex
	rp      *roamdproc.Proc // the current process; nil before the first start
	state   string          // up, down, paused
	started int             // how many times started
}

// State is up, down or paused.
func (n *Node) State() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.state
}

// Cluster is a set of spawned nodes.
type Cluster struct {
	Roamd  string
	Root   string
	Config string // roamd JSON config path
	Extra  []string
	Log    io.Writer
	// Proxies puts a fault-injecting proxy in front of every node's
	// internal port (for partition faults).
	Proxies bool

	mu    sync.Mutex
	Nodes []*Node
}

// BuildRoamd compiles cmd/roamd into dir.
func BuildRoamd(dir string) (string, error) {
	bin := filepath.Join(dir, "roamd")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/roamhq/roam/cmd/roamd").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("build roamd: %v\n%s", err, out)
	}
	return bin, nil
}

// AddNode creates and starts a new node, joining the running ones.
func (c *Cluster) AddNode(ctx context.Context) (*Node, error) {
	c.mu.Lock()
	name := fmt.Sprintf("n%d", len(c.Nodes)+1)
	c.mu.Unlock()
	n := &Node{Name: name, Dir: filepath.Join(c.Root, name), LogPath: filepath.Join(c.Root, name+".log"), state: "down"}
	addrs, err := roamdproc.FreeAddrs(4)
	if err != nil {
		return nil, err
	}
	n.Client, n.Internal, n.Gossip, n.Control = addrs[0], addrs[1], addrs[2], addrs[3]
	if c.Proxies {
		if n.Proxy, err = NewProxy(n.Internal, c.owners); err != nil {
			return nil, err
		}
	}
	if err := c.Start(ctx, n); err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.Nodes = append(c.Nodes, n)
	c.mu.Unlock()
	return n, nil
}

// joinAddrs is the gossip addresses of the nodes other than n that are up.
func (c *Cluster) joinAddrs(n *Node) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, o := range c.Nodes {
		if o != n && o.State() == "up" {
			out = append(out, o.Gossip)
		}
	}
	return out
}

// Start (re)starts n on its data directory and addresses and waits for
// its ready line. A start that fails because one of its ports is taken
// (briefly, by some other connection) is tried again, up to 10 times.
func (c *Cluster) Start(ctx context.Context, n *Node) error {
	var err error
	for try := 0; try < 10; try++ {
		if err = c.start(ctx, n); err == nil || !errors.Is(err, errPortTaken) || ctx.Err() != nil {
			return err
		}
		time.Sleep(time.Second)
	}
	return err
}

// errPortTaken: the node exited because a port it binds was in use.
var errPortTaken = errors.New("a port is in use")

func (c *Cluster) start(ctx context.Context, n *Node) error {
	args := []string{"-data", n.Dir, "-node-id", n.Name, "-client", n.Client, "-internal", n.Internal,
		"-gossip", n.Gossip, "-cluster-key", ClusterKey, "-gossip-fast", "-log-level", "info", "-fault-control", n.Control}
	if c.Config != "" {
		args = append(args, "-config", c.Config)
	}
	if n.Proxy != nil {
		args = append(args, "-advertise", n.Proxy.Addr())
	}
	if j := c.joinAddrs(n); len(j) > 0 {
		args = append(args, "-join", strings.Join(j, ","))
	}
	args = append(args, c.Extra...)
	logf, err := os.OpenFile(n.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	fmt.Fprintf(logf, "=== sim: start %s %s\n", c.Roamd, strings.Join(args, " "))
	cfg := roamdproc.DefaultConfig(c.Roamd, args...)
	cfg.Log = logf
	cfg.Prepare = dieWithParent
	rp, err := roamdproc.Spawn(cfg)
	if err != nil {
		logf.Close()
		return err
	}
	n.mu.Lock()
	n.rp, n.state = rp, "up"
	n.started++
	n.mu.Unlock()
	go func() {
		<-rp.Exited()
		fmt.Fprintf(logf, "=== sim: exited: %v\n", rp.Err())
		logf.Close()
		n.mu.Lock()
		if n.rp == rp {
			n.state = "down"
		}
		n.mu.Unlock()
	}()
	if _, err := rp.WaitReady(ctx); err != nil {
		if errors.Is(err, roamdproc.ErrExited) && strings.Contains(rp.Tail(), "address already in use") {
			return fmt.Errorf("%s exited before it was ready: %w (log %s)", n.Name, errPortTaken, n.LogPath)
		}
		return fmt.Errorf("%s: %w (log %s)", n.Name, err, n.LogPath)
	}
	return nil
}

// signal sends s to n's current process and returns it (nil if n was
// never started).
func (n *Node) signal(s syscall.Signal) *roamdproc.Proc {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.rp == nil {
		return nil
	}
	n.rp.Signal(s)
	return n.rp
}

// PID is the node's current process id (0 when it is not running).
func (n *Node) PID() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.rp == nil || n.state == "down" {
		return 0
	}
	return n.rp.PID()
}

// Kill sends SIGKILL and waits for the process to go.
func (n *Node) Kill() {
	if rp := n.signal(syscall.SIGCONT); rp != nil {
		rp.Kill()
	}
}

// Pause sends SIGSTOP.
func (n *Node) Pause() {
	n.signal(syscall.SIGSTOP)
	n.mu.Lock()
	n.state = "paused"
	n.mu.Unlock()
}

// Resume sends SIGCONT.
func (n *Node) Resume() {
	n.signal(syscall.SIGCONT)
	n.mu.Lock()
	if n.state == "paused" {
		n.state = "up"
	}
	n.mu.Unlock()
}

// Leave sends SIGTERM and waits (up to 60s, then SIGKILL); it returns the
// exit status.
func (n *Node) Leave() error {
	n.mu.Lock()
	rp := n.rp
	n.mu.Unlock()
	if rp == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	switch err := rp.Stop(ctx); {
	case errors.Is(err, roamdproc.ErrNotStopped):
		return fmt.Errorf("%s did not stop within 60s of SIGTERM", n.Name)
	case err != nil:
		return fmt.Errorf("%s exited after SIGTERM: %v", n.Name, err)
	}
	return nil
}

// Stop kills every node (used at the very end, once the history is
// recorded: a graceful stop of the whole cluster would only cost time).
func (c *Cluster) Stop() {
	c.mu.Lock()
	nodes := append([]*Node(nil), c.Nodes...)
	c.mu.Unlock()
	for _, n := range nodes {
		n.Kill()
		if n.Proxy != nil {
			n.Proxy.Close()
		}
	}
}

// owners tells which node process opened each connection to a proxy.
func (c *Cluster) owners(pairs [][2]net.Addr) []int {
	c.mu.Lock()
	var pids []int
	for _, n := range c.Nodes {
		if pid := n.PID(); pid != 0 {
			pids = append(pids, pid)
		}
	}
	c.mu.Unlock()
	return socketOwners(pairs, pids)
}

// Partition cuts every internal connection between the nodes in side and
// the other nodes, in both directions: each proxy of a node in side
// refuses the others' connections and each other proxy refuses side's.
// Gossip is not cut (it has its own port), so membership still sees
// every node alive: this is a partition of the Raft, gate and admin
// traffic. HealPartition undoes it.
func (c *Cluster) Partition(side []*Node) {
	c.mu.Lock()
	nodes := append([]*Node(nil), c.Nodes...)
	c.mu.Unlock()
	in := map[*Node]bool{}
	for _, n := range side {
		in[n] = true
	}
	var sidePIDs, otherPIDs []int
	for _, n := range nodes {
		if pid := n.PID(); pid != 0 {
			if in[n] {
				sidePIDs = append(sidePIDs, pid)
			} else {
				otherPIDs = append(otherPIDs, pid)
			}
		}
	}
	for _, n := range nodes {
		if n.Proxy == nil {
			continue
		}
		if in[n] {
			n.Proxy.Block(otherPIDs)
		} else {
			n.Proxy.Block(sidePIDs)
		}
	}
}

// HealPartition lets every internal connection through again.
func (c *Cluster) HealPartition() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, n := range c.Nodes {
		if n.Proxy != nil {
			n.Proxy.Heal()
		}
	}
}

// ClientAddrs lists every node's client address.
func (c *Cluster) ClientAddrs() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, n := range c.Nodes {
		out = append(out, n.Client)
	}
	return out
}
