package vlr

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"time"

	"github.com/roamhq/roam/wire"
)

// Config configures the visitor register and its client listener.
type Config struct {
	// NodeID is this node's id, recorded as the location of its devices.
	NodeID string
	// ClientAddr is the TCP address clients connect to.
	ClientAddr string
	// Listener, if set, is used instead of listening on ClientAddr (the
	// node opens it early to advertise the bound address in gossip).
	Listener net.Listener
	// Nodes returns the client addresses of the cluster's nodes for the
	// Welcome frame (nil: just this one).
	Nodes func() []string
	// Place, if set, is asked once a session is established (login,
	// register or resume): a non-empty addr moves the session there at
	// once, with a redirect push giving reason and a goodbye 406
	// (redirect.go). The node uses it to balance sessions and to turn
	// away clients while it drains.
	Place func(user string) (addr, reason string)
	// Loads, if set, lists the nodes' client addresses and session counts
	// for the redirect push.
	Loads func() []wire.NodeLoad

	// TLS, if set, makes the client port speak TLS: every connection
	// (after its PROXY header, if any) is wrapped in tls.Server, and the
	// handshake runs in the connection's goroutine under the login
	// deadline. It needs a certificate (Certificates, GetCertificate or
	// GetConfigForClient).
	TLS *tls.Config
	// ProxyProtocol makes connections from TrustedProxies start with a
	// PROXY protocol v2 header (they must); the client address in it is
	// the one every per-address limit and log line uses. Connections
	// from other addresses are served as they are: a header from them is
	// not parsed (it fails as a frame, or as a TLS handshake).
	ProxyProtocol  bool
	TrustedProxies []netip.Prefix

	// MaxFrame is the largest frame accepted from a logged-in client.
	MaxFrame int
	// PreLoginMaxFrame is the largest frame accepted before login (and
	// resume): enough for hello, register and the SCRAM messages, small
	// enough that an anonymous connection holds no large buffer.
	PreLoginMaxFrame int
	// HandshakeTimeout bounds each frame before login: the time from the
	// connection's start, or from the previous frame, to the end of the
	// next one.
	HandshakeTimeout time.Duration
	// LoginDeadline bounds the time from connect to a completed login or
	// resume, whatever the connection sends meanwhile (pings included).
	LoginDeadline time.Duration
	// FrameTimeout bounds a frame once its first byte has arrived, before
	// and after login: a frame trickled in slowly is cut off even though
	// the connection's idle deadline has not passed.
	FrameTimeout time.Duration
	// WriteTimeout bounds one write to a client.
	WriteTimeout time.Duration
	// RequestTimeout bounds one home-register call.
	RequestTimeout time.Duration
	// HeartbeatInterval is announced at login; a session with no traffic
	// for HeartbeatMisses intervals is logged out.
	HeartbeatInterval time.Duration
	HeartbeatMisses   int
	// BusyPongInterval: while a logged-in connection's reader is held by
	// one frame (an in-order request, a full send window), a pong with
	// request id 0 is pushed this often, so that the client's liveness
	// probe sees the node alive (PROTOCOL §6, busy_pong.go).
	BusyPongInterval time.Duration
	// OutQueueBytes is the most a slow client may have queued before it is
	// disconnected (it resyncs from its cursor).
	OutQueueBytes int
	// OutputBudget bounds the output queued for all clients together:
	// before an enqueue would pass it, the connection holding the most
	// is disconnected as a slow consumer. At least OutQueueBytes.
	OutputBudget int64
	// MaxConns caps the node's client connections. 0 means a default
	// sized from the open-file limit (see DefaultMaxConns).
	MaxConns int
	// MaxConnsPerIP caps concurrent connections from one client address.
	MaxConnsPerIP int
	// MaxPreLoginPerIP caps the connections from one client address that
	// have not logged in (or resumed) yet; logged-in ones do not count.
	MaxPreLoginPerIP int

	// ScramIters is the PBKDF2 iteration count every account must use.
	ScramIters uint32
	// NonceTTL is how long a SCRAM server nonce stays valid.
	NonceTTL time.Duration
	// FakeSaltSecret derives the salts shown for accounts that do not
	// exist. It must be the same on every node of a cluster.
	FakeSaltSecret []byte
	// TokenSecret derives the token a resume rotates to from the token
	// it presents (HMAC), so that a resume retried with the same token
	// after an unknown outcome gets the same new token (PROTOCOL.md
	// §5.3). It must be the same on every node of a cluster and secret:
	// with it, an old token predicts the next one.
	TokenSecret []byte
	// SessionTTL is how long a session token can be resumed.
	SessionTTL time.Duration
	// RecentAuth is how recent a password login must be for password
	// changes and account deletion.
	RecentAuth time.Duration

	// MaxBody is the largest message body.
	MaxBody int
	// MessageTTL is the default (and largest) message lifetime.
	MessageTTL time.Duration
	// SendRate and SendBurst limit each user's sends (token bucket).
	SendRate  float64
	SendBurst int
	// RegisterRate and RegisterBurst limit registrations per client IP.
	RegisterRate  float64
	RegisterBurst int
	// LoginFailures failed logins per IP or account within LoginWindow
	// start a growing lockout, up to LoginMaxDelay.
	LoginFailures int
	LoginWindow   time.Duration
	LoginMaxDelay time.Duration
	// Abuse limits (PROTOCOL.md §3.3): token buckets per user, a rate
	// per second and a burst, that a person never reaches and a script
	// does. Logins and resumes spend a token only when they succeed, so a
	// stranger's attempts cannot use up the owner's.
	//   - LoginRate/LoginBurst: successful password logins per user;
	//   - ResumeRate/ResumeBurst: successful resumes per user;
	//   - FriendRate/FriendBurst: friend_request, friend_accept,
	//     friend_decline and friend_remove per user;
	//   - BlockRate/BlockBurst: block and unblock per user;
	//   - ProfileRate/ProfileBurst: set_profile, change_password and
	//     delete_account per user.
	// ResumeFailures failed resumes from one address within LoginWindow
	// lock that address out of resumes (not of password logins) as
	// LoginFailures does for password logins.
	LoginRate      float64
	LoginBurst     int
	ResumeRate     float64
	ResumeBurst    int
	ResumeFailures int
	FriendRate     float64
	FriendBurst    int
	BlockRate      float64
	BlockBurst     int
	ProfileRate    float64
	ProfileBurst   int
	// MaxDevices bounds the devices the home register keeps per user
	// (location, epoch, cursor, session); a login from one more device
	// evicts the oldest (PROTOCOL.md §5.2). It travels in each login's
	// command, so the home register applies the bound of the node the
	// login came through.
	MaxDevices int
	// MaxBlocks bounds the users one user can block.
	MaxBlocks int
	// Groups (PROTOCOL.md §16): MaxGroupMembers bounds the members (and,
	// separately, the pending invites) of a group; MaxGroupsPerUser the
	// groups a user belongs to or is invited to (checked when the user
	// creates or joins one); GroupSendRate/GroupSendBurst each user's
	// group sends (all groups together); GroupOpRate/GroupOpBurst each
	// user's other group operations.
	MaxGroupMembers  int
	MaxGroupsPerUser int
	GroupSendRate    float64
	GroupSendBurst   int
	GroupOpRate      float64
	GroupOpBurst     int
	// Schedule bounds scheduled messages (PROTOCOL.md §17).
	Schedule ScheduleConfig
	// Roles bounds the roles of an account (PROTOCOL.md §18).
	Roles RoleConfig
	// Scene bounds each player's scene traffic (PROTOCOL.md §19).
	Scene SceneConfig

	// CursorFlushInterval is how often acknowledged cursors are written to
	// the home register, many per Raft entry.
	CursorFlushInterval time.Duration
	// ShutdownGrace bounds the logout work done on shutdown.
	ShutdownGrace time.Duration

	// Lease tunes session leases and Cancel Location tombstones
	// (lease.go): how long a revoked session can act when its Cancel
	// Location is lost.
	Lease LeaseConfig
	// Partitions is the cluster's partition count P; lease renewals are
	// batched per home partition (ring.PartitionOf). 0 sends each alone.
	Partitions int

	Logger *slog.Logger
	Now    func() time.Time
}

// DefaultConfig returns production defaults. NodeID, ClientAddr and
// FakeSaltSecret must be set.
func DefaultConfig() Config {
	return Config{
		MaxFrame:            64 << 10,
		PreLoginMaxFrame:    4 << 10,
		HandshakeTimeout:    10 * time.Second,
		LoginDeadline:       20 * time.Second,
		FrameTimeout:        10 * time.Second,
		WriteTimeout:        10 * time.Second,
		RequestTimeout:      5 * time.Second,
		HeartbeatInterval:   30 * time.Second,
		HeartbeatMisses:     3,
		BusyPongInterval:    400 * time.Millisecond,
		OutQueueBytes:       4 << 20,
		OutputBudget:        256 << 20,
		MaxConnsPerIP:       1024,
		MaxPreLoginPerIP:    64,
		ScramIters:          4096,
		NonceTTL:            60 * time.Second,
		SessionTTL:          30 * 24 * time.Hour,
		RecentAuth:          5 * time.Minute,
		MaxBody:             1440,
		MessageTTL:          24 * time.Hour,
		SendRate:            1,
		SendBurst:           10,
		MaxGroupMembers:     1024,
		MaxGroupsPerUser:    500,
		GroupSendRate:       1,
		GroupSendBurst:      10,
		GroupOpRate:         1,
		GroupOpBurst:        30,
		Schedule:            DefaultScheduleConfig(),
		Roles:               DefaultRoleConfig(),
		Scene:               DefaultSceneConfig(),
		RegisterRate:        0.2,
		RegisterBurst:       5,
		LoginFailures:       5,
		LoginWindow:         time.Minute,
		LoginMaxDelay:       5 * time.Minute,
		LoginRate:           1.0 / 60,
		LoginBurst:          100,
		ResumeRate:          1,
		ResumeBurst:         60,
		ResumeFailures:      30,
		FriendRate:          0.2,
		FriendBurst:         50,
		BlockRate:           0.1,
		BlockBurst:          20,
		ProfileRate:         0.05,
		ProfileBurst:        10,
		MaxDevices:          32,
		MaxBlocks:           1000,
		CursorFlushInterval: time.Second,
		ShutdownGrace:       5 * time.Second,
		Lease:               DefaultLeaseConfig(),
		Now:                 time.Now,
	}
}

// Validate reports the first problem with the configuration.
func (c *Config) Validate() error {
	switch {
	case c.NodeID == "":
		return errors.New("vlr: NodeID is required")
	case c.ClientAddr == "" && c.Listener == nil:
		return errors.New("vlr: ClientAddr or Listener is required")
	case len(c.FakeSaltSecret) == 0:
		return errors.New("vlr: FakeSaltSecret is required")
	case len(c.TokenSecret) == 0:
		return errors.New("vlr: TokenSecret is required")
	}
	return c.ValidateTuning()
}

// ValidateTuning reports the first problem with the settings an operator
// tunes: everything but NodeID, ClientAddr, Listener and the secrets'
// presence, which the node fills in (node.Config.Validate checks the rest
// before anything exists). Secrets that are set must be long enough.
func (c *Config) ValidateTuning() error {
	switch {
	case len(c.FakeSaltSecret) != 0 && len(c.FakeSaltSecret) < 16:
		return errors.New("vlr: FakeSaltSecret must be at least 16 bytes")
	case len(c.TokenSecret) != 0 && len(c.TokenSecret) < 16:
		return errors.New("vlr: TokenSecret must be at least 16 bytes")
	case c.MaxFrame < 1024:
		return errors.New("vlr: MaxFrame must be at least 1024")
	case c.PreLoginMaxFrame < 2048 || c.PreLoginMaxFrame > c.MaxFrame:
		return errors.New("vlr: PreLoginMaxFrame must be 2048..MaxFrame")
	case c.HandshakeTimeout <= 0 || c.LoginDeadline <= 0 || c.FrameTimeout <= 0 || c.WriteTimeout <= 0 || c.RequestTimeout <= 0:
		return errors.New("vlr: timeouts must be positive")
	case c.HeartbeatInterval <= 0 || c.HeartbeatMisses < 1:
		return errors.New("vlr: HeartbeatInterval must be positive and HeartbeatMisses >= 1")
	case c.BusyPongInterval <= 0:
		return errors.New("vlr: BusyPongInterval must be positive")
	case c.ScramIters < 4096:
		return errors.New("vlr: ScramIters must be at least 4096")
	case c.NonceTTL <= 0 || c.SessionTTL <= 0 || c.RecentAuth <= 0:
		return errors.New("vlr: NonceTTL, SessionTTL and RecentAuth must be positive")
	case c.MaxBody < 1 || c.MaxBody > c.MaxFrame-256:
		return errors.New("vlr: MaxBody must be positive and fit in a frame")
	case c.MessageTTL <= 0:
		return errors.New("vlr: MessageTTL must be positive")
	case c.SendRate <= 0 || c.SendBurst < 1 || c.RegisterRate <= 0 || c.RegisterBurst < 1:
		return errors.New("vlr: rates and bursts must be positive")
	case c.LoginFailures < 1 || c.LoginWindow <= 0 || c.LoginMaxDelay <= 0:
		return errors.New("vlr: login throttle settings must be positive")
	case c.LoginRate <= 0 || c.LoginBurst < 1 || c.ResumeRate <= 0 || c.ResumeBurst < 1 || c.FriendRate <= 0 || c.FriendBurst < 1 ||
		c.BlockRate <= 0 || c.BlockBurst < 1 || c.ProfileRate <= 0 || c.ProfileBurst < 1:
		return errors.New("vlr: login, resume, friend, block and profile rates and bursts must be positive")
	case c.MaxGroupMembers < 2 || c.MaxGroupsPerUser < 1 || c.GroupSendRate <= 0 || c.GroupSendBurst < 1 || c.GroupOpRate <= 0 || c.GroupOpBurst < 1:
		return errors.New("vlr: MaxGroupMembers must be at least 2, and the group limits, rates and bursts positive")
	case c.ResumeFailures < 1:
		return errors.New("vlr: ResumeFailures must be positive")
	case c.Schedule.validate() != nil:
		return c.Schedule.validate()
	case c.Roles.validate() != nil:
		return c.Roles.validate()
	case c.Scene.validate() != nil:
		return c.Scene.validate()
	case c.MaxDevices < 1 || c.MaxDevices > 256 || c.MaxBlocks < 1:
		return errors.New("vlr: MaxDevices must be 1..256 and MaxBlocks positive")
	case c.CursorFlushInterval <= 0 || c.OutQueueBytes < c.MaxFrame || c.MaxConnsPerIP < 1:
		return errors.New("vlr: CursorFlushInterval, OutQueueBytes or MaxConnsPerIP out of range")
	case c.OutputBudget < int64(c.OutQueueBytes):
		return errors.New("vlr: OutputBudget must be at least OutQueueBytes")
	case c.MaxConns < 0 || c.MaxPreLoginPerIP < 1:
		return errors.New("vlr: MaxConns must be >= 0 (0: from the open-file limit) and MaxPreLoginPerIP >= 1")
	case c.TLS != nil && len(c.TLS.Certificates) == 0 && c.TLS.GetCertificate == nil && c.TLS.GetConfigForClient == nil:
		return errors.New("vlr: TLS needs a certificate")
	case c.ProxyProtocol && len(c.TrustedProxies) == 0:
		return errors.New("vlr: ProxyProtocol needs TrustedProxies")
	case !c.ProxyProtocol && len(c.TrustedProxies) > 0:
		return errors.New("vlr: TrustedProxies is set but ProxyProtocol is off")
	case c.Now == nil:
		return errors.New("vlr: Now is required")
	}
	if err := c.Lease.validate(); err != nil {
		return err
	}
	for _, p := range c.TrustedProxies {
		if !p.IsValid() {
			return fmt.Errorf("vlr: TrustedProxies: invalid prefix %v", p)
		}
	}
	return nil
}

// trusted reports whether a connection from addr may carry a PROXY header.
func (c *Config) trusted(addr netip.Addr) bool {
	if !c.ProxyProtocol {
		return false
	}
	addr = addr.Unmap()
	for _, p := range c.TrustedProxies {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}
