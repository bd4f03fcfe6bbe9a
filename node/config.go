package node

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/cockroachdb/pebble/vfs"

	"github.com/roamhq/roam/hlr"
	"github.com/roamhq/roam/node/mux"
	"github.com/roamhq/roam/node/pki"
	"github.com/roamhq/roam/vlr"
)

// DefaultPartitions is the partition count P of a new cluster when
// Config.Partitions is 0.
const DefaultPartitions = 64

// MaxNodeIDLen bounds a node id: it travels in every location record and
// in gossip metadata.
const MaxNodeIDLen = 64

// Config configures a Node.
type Config struct {
	// NodeID is this node's id in the cluster and its Raft server id.
	// Empty means the id stored in DataDir, or a new random one on first
	// start. A non-empty id must match the stored one.
	NodeID string
	// DataDir holds the Pebble database and the Raft snapshots.
	DataDir string
	// ClientAddr is the TCP address clients connect to.
	ClientAddr string
	// InternalAddr is the one TCP address for all node-to-node traffic.
	InternalAddr string
	// InternalAdvertise is the address other nodes dial to reach
	// InternalAddr. Empty means the address the listener is bound to,
	// which is right unless InternalAddr is a wildcard such as ":7401".
	InternalAdvertise string
	// Partitions is the cluster's partition count P. It is fixed when the
	// node first starts and stored in DataDir; 0 means the stored value,
	// or DefaultPartitions on a new node. A value that differs from the
	// stored one is refused (ErrPartitionsMismatch).
	Partitions int
	// GossipAddr is the address (TCP and UDP) of the gossip protocol.
	GossipAddr string
	// GossipAdvertise is the gossip address other nodes use; empty means
	// the bound address.
	GossipAdvertise string
	// Join lists gossip addresses of nodes of an existing cluster. A node
	// with no stored cluster and an empty Join creates a new cluster.
	Join []string
	// ClusterKey encrypts gossip (16, 24 or 32 bytes) and must be the same
	// on every node. Unless InternalIdentity is set, it is also the root
	// of trust of the internal port: every node derives the cluster's CA
	// from it (package pki), so whoever holds it can join the cluster.
	// Empty on the node that creates a cluster means a new random key,
	// written to DataDir/cluster.key with mode 0600 (see
	// Node.ClusterKeyFile); a joining node must be given it.
	ClusterKey []byte
	// ClusterLabel separates clusters that share a network.
	ClusterLabel string
	// Replicas is the replication factor R of a new cluster (stored; later
	// starts and joiners use the cluster's).
	Replicas int
	// DeadGrace is how long a node that gossip reports dead keeps its
	// replicas before they are re-created elsewhere.
	DeadGrace time.Duration
	// ReconcileInterval is how often each partition leader moves its voter
	// set toward the ring's placement (also on every membership change).
	ReconcileInterval time.Duration
	// GossipFast selects fast failure detection (tests, local clusters).
	GossipFast bool

	// InternalIdentity, if set, is the operator's CA and this node's
	// certificate and key for the internal port (operator mode; see
	// pki.LoadIdentity). The certificate must name NodeID (an empty
	// NodeID becomes the certificate's). Nil means derived mode: the CA
	// comes from the cluster key and the node issues itself a fresh
	// certificate on every start.
	InternalIdentity *pki.Identity
	// InsecureInternalPlaintext turns TLS off on the internal port:
	// anyone who can reach it is served as a cluster node and can read
	// every credential and inbox, forge messages and logins, and depose
	// partition leaders. It exists only so that benchmarks can measure
	// what TLS costs. Never set it on a network you do not fully trust.
	InsecureInternalPlaintext bool
	// ClientCert, if set, is the certificate the client port serves:
	// TLS 1.3 with ALPN "roam/1" (an operator's create-node certificate
	// works, its hosts being the names clients dial).
	ClientCert *tls.Certificate
	// ClientInsecurePlaintext allows plaintext clients on a ClientAddr
	// that is not loopback. Without ClientCert and without it, such an
	// address is refused: tokens and messages would cross the network in
	// clear. Plaintext on loopback is always allowed (tests, local tools).
	ClientInsecurePlaintext bool
	// DialInternal, if set, makes every outgoing node-to-node connection
	// (Raft, gate, admin) go through it. Tests use it to cut nodes off.
	DialInternal func(ctx context.Context, addr string) (net.Conn, error)
	// FS is the file system of the Pebble database; nil means the OS.
	// Raft snapshots always go to the OS file system under DataDir.
	FS vfs.FS

	// HLR tunes the home register: Raft timing, batching, maintenance.
	// NodeID, SnapshotDir, Partitions and Logger are filled in by New.
	HLR hlr.Config
	// VLR tunes the visitor register and its client limits. NodeID,
	// ClientAddr and Logger are filled in by New, and so is
	// FakeSaltSecret when empty: it is generated on first start and
	// stored in the database.
	VLR vlr.Config

	// RaftIOTimeout bounds each Raft RPC on the wire (heartbeats are
	// bounded by the Raft heartbeat timeout instead).
	RaftIOTimeout time.Duration
	// MuxHeaderTimeout is how long an internal connection has to say
	// which stream it belongs to.
	MuxHeaderTimeout time.Duration

	// Logger receives the node's logs; every component adds a
	// "component" attribute. nil discards them.
	Logger *slog.Logger

	// Delivery tunes delivery repair: acknowledgements, notices and
	// their back-off (delivery.go).
	Delivery DeliveryConfig
	// Groups tunes the group fan-out: interest refreshes and repair
	// (groups.go).
	Groups GroupsConfig
	// PresenceResync is how often a node sends every peer its whole
	// presence as a replacement (presence.go): the bound on how long a
	// lost presence item stays wrong. 0 turns it off.
	PresenceResync time.Duration
	// Scheduler tunes the firing of scheduled messages (scheduler.go).
	Scheduler SchedulerConfig
	// Scenes tunes scene hosting: each scene's radii, caps and zones,
	// and the view and refresh intervals (scene_host.go).
	Scenes SceneConfig
	// GateDropOneWay, if set, is the gate's fault hook (gate.Config.
	// DropOneWay): one-way items this node receives of the kinds it picks
	// are discarded, as if lost in transit. Tests and the simulator only.
	GateDropOneWay func(kind string) bool
	// GossipCut, if set, is the gossip fault hook (gossip.Config.Cut):
	// gossip to the peers it picks (by gossip address) is dropped. Tests
	// only.
	GossipCut func(addr string) bool

	// Clients tunes client placement: session balance and drain
	// (clients.go, drain.go).
	Clients ClientsConfig
}

// DefaultConfig returns production settings. DataDir must still be set.
func DefaultConfig() Config {
	return Config{
		ClientAddr:        "127.0.0.1:7400",
		InternalAddr:      "127.0.0.1:7401",
		HLR:               hlr.DefaultConfig(),
		VLR:               vlr.DefaultConfig(),
		GossipAddr:        "127.0.0.1:7402",
		ClusterLabel:      "roam",
		Replicas:          3,
		DeadGrace:         30 * time.Second,
		ReconcileInterval: time.Second,
		RaftIOTimeout:     10 * time.Second,
		MuxHeaderTimeout:  mux.DefaultHeaderTimeout,
		Delivery:          DefaultDeliveryConfig(),
		Groups:            DefaultGroupsConfig(),
		PresenceResync:    5 * time.Second,
		Scheduler:         DefaultSchedulerConfig(),
		Clients:           DefaultClientsConfig(),
		Scenes:            DefaultSceneConfig(),
	}
}

// Validate reports the first problem with the configuration, including the
// tunable parts of HLR and VLR.
func (c *Config) Validate() error {
	if c.NodeID != "" {
		if err := validNodeID(c.NodeID); err != nil {
			return err
		}
	}
	switch {
	case c.DataDir == "":
		return errors.New("node: DataDir is required")
	case c.Partitions < 0 || c.Partitions > hlr.MaxPartitions:
		return fmt.Errorf("node: Partitions must be 1..%d (or 0 for the stored value), got %d", hlr.MaxPartitions, c.Partitions)
	case c.Replicas < 1 || c.Replicas > 7:
		return fmt.Errorf("node: Replicas must be 1..7, got %d", c.Replicas)
	case c.DeadGrace <= 0 || c.ReconcileInterval <= 0:
		return errors.New("node: DeadGrace and ReconcileInterval must be positive")
	case len(c.ClusterKey) != 0 && len(c.ClusterKey) != 16 && len(c.ClusterKey) != 24 && len(c.ClusterKey) != 32:
		return fmt.Errorf("node: ClusterKey must be 16, 24 or 32 bytes, got %d", len(c.ClusterKey))
	case c.ClusterLabel == "":
		return errors.New("node: ClusterLabel is required")
	case c.RaftIOTimeout <= 0 || c.MuxHeaderTimeout <= 0:
		return errors.New("node: RaftIOTimeout and MuxHeaderTimeout must be positive")
	case c.InternalIdentity != nil && c.InsecureInternalPlaintext:
		return errors.New("node: InternalIdentity and InsecureInternalPlaintext exclude each other")
	case c.InternalIdentity != nil && c.NodeID != "" && c.InternalIdentity.NodeID() != c.NodeID:
		return fmt.Errorf("%w: it names node %q, the node id is %q", ErrCertNodeID, c.InternalIdentity.NodeID(), c.NodeID)
	case c.ClientCert != nil && c.ClientInsecurePlaintext:
		return errors.New("node: ClientCert and ClientInsecurePlaintext exclude each other")
	case c.ClientCert == nil && c.VLR.TLS == nil && !c.ClientInsecurePlaintext && !IsLoopback(c.ClientAddr):
		return fmt.Errorf("%w: ClientAddr %s: give the client port a certificate (ClientCert; roamd -client-cert and -client-key) or allow plaintext explicitly (ClientInsecurePlaintext; roamd -client-insecure-plaintext)", ErrPlaintextClients, c.ClientAddr)
	}
	if err := validAddr("ClientAddr", c.ClientAddr, false); err != nil {
		return err
	}
	if err := validAddr("InternalAddr", c.InternalAddr, false); err != nil {
		return err
	}
	if err := validAddr("GossipAddr", c.GossipAddr, false); err != nil {
		return err
	}
	for _, j := range c.Join {
		if err := validAddr("Join", j, true); err != nil {
			return err
		}
	}
	if c.InternalAdvertise != "" {
		if err := validAddr("InternalAdvertise", c.InternalAdvertise, true); err != nil {
			return err
		}
	}
	if err := c.Groups.Validate(); err != nil {
		return err
	}
	if c.PresenceResync < 0 {
		return errors.New("node: PresenceResync must not be negative")
	}
	if err := c.Clients.Validate(); err != nil {
		return err
	}
	if err := c.Scheduler.Validate(); err != nil {
		return err
	}
	if err := c.Scenes.Validate(); err != nil {
		return err
	}
	if err := c.Delivery.validate(); err != nil {
		return err
	}
	// The sub-configurations' own settings; what New fills in (ids,
	// paths, secrets, listeners) their constructors check.
	if err := c.HLR.ValidateTuning(); err != nil {
		return fmt.Errorf("node: %w", err)
	}
	if err := c.VLR.ValidateTuning(); err != nil {
		return fmt.Errorf("node: %w", err)
	}
	return nil
}

// IsLoopback reports whether the host of addr ("host:port") is a loopback
// IP address or "localhost". A wildcard ("", "0.0.0.0", "::") is not.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// validNodeID accepts 1..MaxNodeIDLen letters, digits, '.', '_' and '-'.
func validNodeID(id string) error {
	if len(id) == 0 || len(id) > MaxNodeIDLen {
		return fmt.Errorf("node: NodeID must be 1..%d characters, got %d", MaxNodeIDLen, len(id))
	}
	for _, r := range id {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-'
		if !ok {
			return fmt.Errorf("node: NodeID %q: only letters, digits, '.', '_' and '-' are allowed", id)
		}
	}
	return nil
}

// validAddr checks a host:port address; an advertised address also needs
// a concrete host and port.
func validAddr(name, addr string, advertised bool) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("node: %s %q: %w", name, addr, err)
	}
	if advertised {
		if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() || port == "0" {
			return fmt.Errorf("node: %s %q must name a reachable host and port", name, addr)
		}
	}
	return nil
}
