package gossip

import (
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/hashicorp/memberlist"
)

// Config configures a Gossip. Start from DefaultConfig.
type Config struct {
	// NodeID is the memberlist node name: unique in the cluster and stable
	// across restarts of the same node.
	NodeID string
	// BindAddr is the "ip:port" memberlist listens on, TCP and UDP on the
	// same port. The host must be an IP literal ("" or "0.0.0.0" = all
	// interfaces). Port 0 picks a free port that is free for both TCP and
	// UDP; Addr reports it.
	BindAddr string
	// AdvertiseAddr is the optional "ip:port" other nodes use to reach this
	// one (behind NAT, or when BindAddr is 0.0.0.0). Port 0 means the bound
	// port. Empty: the bound address (with 0.0.0.0, memberlist picks a
	// private IP of this host).
	AdvertiseAddr string
	// SecretKey encrypts and authenticates all gossip (AES-GCM); 16, 24 or
	// 32 bytes. Required. Nodes with different keys cannot talk.
	SecretKey []byte
	// Label is the cluster label (memberlist Config.Label), prepended to
	// every packet and stream and bound into the encryption; nodes with
	// different labels cannot talk. Required, at most 255 bytes.
	Label string
	// Meta is this node's advertised metadata. Its encoding must not exceed
	// MaxMetaSize bytes.
	Meta Meta
	// Params: set on the node that creates the cluster, or on a node that
	// has them stored from an earlier run; nil on a fresh joiner, which
	// learns them from the cluster.
	Params *ClusterParams
	// Fast selects test timing: a dead node is declared dead in about 1-2 s
	// on loopback. false selects memberlist's LAN timing (several seconds).
	Fast bool
	// Cut, if set, is asked before every packet and connection to a peer
	// ("ip:port" of its gossip port): true drops it, as a network that
	// cuts this node off from that peer would (tests: fault injection).
	Cut func(addr string) bool
	// Logger receives this package's events; memberlist's own log lines are
	// forwarded at Debug. nil discards.
	Logger *slog.Logger
}

// DefaultConfig returns a Config with LAN timing, the "roam" label and
// memberlist's default port on all interfaces. NodeID and SecretKey must
// still be set.
func DefaultConfig() Config {
	return Config{
		BindAddr: "0.0.0.0:7946",
		Label:    "roam",
	}
}

// Validate checks c without touching the network.
func (c *Config) Validate() error {
	if err := c.validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	return nil
}

func (c *Config) validate() error {
	if c.NodeID == "" {
		return fmt.Errorf("empty NodeID")
	}
	if len(c.NodeID) > 128 {
		return fmt.Errorf("NodeID longer than 128 bytes")
	}
	if _, _, err := splitAddr(c.BindAddr, true); err != nil {
		return fmt.Errorf("BindAddr: %v", err)
	}
	if c.AdvertiseAddr != "" {
		if _, _, err := splitAddr(c.AdvertiseAddr, false); err != nil {
			return fmt.Errorf("AdvertiseAddr: %v", err)
		}
	}
	switch len(c.SecretKey) {
	case 16, 24, 32:
	default:
		return fmt.Errorf("SecretKey is %d bytes, want 16, 24 or 32", len(c.SecretKey))
	}
	if c.Label == "" {
		return fmt.Errorf("empty Label")
	}
	if len(c.Label) > memberlist.LabelMaxSize {
		return fmt.Errorf("Label longer than %d bytes", memberlist.LabelMaxSize)
	}
	if n := metaSize(c.Meta); n > MaxMetaSize {
		return fmt.Errorf("%w: %d bytes, limit %d", ErrMetaTooLarge, n, MaxMetaSize)
	}
	if c.Params != nil {
		if err := c.Params.Validate(); err != nil {
			return fmt.Errorf("Params: %v", err)
		}
	}
	return nil
}

// splitAddr parses "ip:port". With emptyHostOK, an empty host means all
// interfaces (0.0.0.0).
func splitAddr(addr string, emptyHostOK bool) (string, int, error) {
	host, ps, err := net.SplitHostPort(addr)
	if err != nil {
		return "", 0, err
	}
	port, err := strconv.ParseUint(ps, 10, 16)
	if err != nil {
		return "", 0, fmt.Errorf("bad port %q", ps)
	}
	if host == "" {
		if !emptyHostOK {
			return "", 0, fmt.Errorf("%q has no host", addr)
		}
		host = "0.0.0.0"
	}
	if net.ParseIP(host) == nil {
		return "", 0, fmt.Errorf("host %q is not an IP literal", host)
	}
	return host, int(port), nil
}

// memberlistConfig builds memberlist's configuration (timing, security and
// identity) for c; the caller adds the transport and delegates.
func memberlistConfig(c *Config) *memberlist.Config {
	var mc *memberlist.Config
	if c.Fast {
		// Loopback test timing. A silent node is probed within about two
		// probe intervals, its probe times out after 100 ms, and it stays
		// suspect for SuspicionMult*ProbeInterval = 800 ms (up to 2x that
		// when no other node confirms): dead in roughly 1-2 s.
		mc = memberlist.DefaultLocalConfig()
		mc.ProbeInterval = 200 * time.Millisecond
		mc.ProbeTimeout = 100 * time.Millisecond
		mc.SuspicionMult = 4
		mc.SuspicionMaxTimeoutMult = 2
		mc.GossipInterval = 50 * time.Millisecond
		mc.RetransmitMult = 3
		mc.PushPullInterval = 5 * time.Second
		mc.TCPTimeout = time.Second
		mc.GossipToTheDeadTime = 5 * time.Second
		// A node found dead may come back at once from a new address (tests
		// restart nodes on new ports).
		mc.DeadNodeReclaimTime = time.Nanosecond
	} else {
		// memberlist's LAN defaults: probe every 1 s (500 ms timeout),
		// suspicion 4*log10(n)*1 s (at least 4 s, up to 6x), gossip every
		// 200 ms, push/pull every 30 s, TCP timeout 10 s.
		mc = memberlist.DefaultLANConfig()
		// Let a node that died come back under the same name from a new
		// address after 10 s (0 would refuse it until the entry is reaped).
		mc.DeadNodeReclaimTime = 10 * time.Second
	}
	mc.Name = c.NodeID
	mc.SecretKey = c.SecretKey
	mc.Label = c.Label
	mc.GossipVerifyIncoming = true
	mc.GossipVerifyOutgoing = true
	mc.SkipInboundLabelCheck = false
	return mc
}
