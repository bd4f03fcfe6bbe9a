package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/roamhq/roam/node"
	"github.com/roamhq/roam/node/faultctl"
	"github.com/roamhq/roam/scene"
)

// settings is everything roamd is told on start.
type settings struct {
	node     node.Config
	logLevel slog.Level
	logJSON  bool
	// httpAddr is -http (see mgmt.go): empty = off; httpPprof adds the
	// profiler to it.
	httpAddr  string
	httpPprof bool
	// adminTokenFile is -admin-token-file: the bearer token that enables
	// POST /admin/drain and /admin/undrain on -http (empty = off).
	adminTokenFile string

	// Files, read once every source has been applied.
	keyFile                               string // cluster key, base64
	internalCA, internalCert, internalKey string // operator-mode internal TLS
	clientCert, clientKey                 string // client-port TLS
	// faultControl is -fault-control (see faultctl.go): empty = off.
	faultControl string
}

// option is one setting: a JSON key in the config file and, when flag is
// true, a command-line flag of the same name (with '-' for '_'); env names
// its environment variable, if any. Every source hands set a string, so a
// value means the same whatever it comes from.
type option struct {
	key   string
	flag  bool
	bool  bool // a boolean flag (-name alone means true)
	env   string
	usage string
	def   func(s *settings) string
	set   func(s *settings, v string) error
}

func (o *option) flagName() string { return strings.ReplaceAll(o.key, "_", "-") }

var options = []option{
	{key: "data", flag: true, env: "ROAM_DATA", usage: "`DIR` holding the database and snapshots (required)",
		def: func(s *settings) string { return s.node.DataDir },
		set: func(s *settings, v string) error { s.node.DataDir = v; return nil }},
	{key: "client", flag: true, env: "ROAM_CLIENT", usage: "`ADDR` clients connect to",
		def: func(s *settings) string { return s.node.ClientAddr },
		set: func(s *settings, v string) error { s.node.ClientAddr = v; return nil }},
	{key: "internal", flag: true, env: "ROAM_INTERNAL", usage: "`ADDR` to listen on for node-to-node traffic",
		def: func(s *settings) string { return s.node.InternalAddr },
		set: func(s *settings, v string) error { s.node.InternalAddr = v; return nil }},
	{key: "advertise", flag: true, env: "ROAM_ADVERTISE", usage: "internal `ADDR` other nodes dial (default: the bound internal address)",
		def: func(s *settings) string { return s.node.InternalAdvertise },
		set: func(s *settings, v string) error { s.node.InternalAdvertise = v; return nil }},
	{key: "gossip", flag: true, env: "ROAM_GOSSIP", usage: "`ADDR` (TCP and UDP) for gossip with the other nodes",
		def: func(s *settings) string { return s.node.GossipAddr },
		set: func(s *settings, v string) error { s.node.GossipAddr = v; return nil }},
	{key: "gossip_advertise", flag: true, env: "ROAM_GOSSIP_ADVERTISE", usage: "gossip `ADDR` other nodes use (default: the bound gossip address)",
		def: func(s *settings) string { return s.node.GossipAdvertise },
		set: func(s *settings, v string) error { s.node.GossipAdvertise = v; return nil }},
	{key: "join", flag: true, env: "ROAM_JOIN", usage: "gossip addresses `HOST:PORT,...` of nodes of the cluster to join (empty on the node that creates a cluster)",
		def: func(s *settings) string { return strings.Join(s.node.Join, ",") },
		set: func(s *settings, v string) error {
			s.node.Join = nil
			for _, a := range strings.Split(v, ",") {
				if a = strings.TrimSpace(a); a != "" {
					s.node.Join = append(s.node.Join, a)
				}
			}
			return nil
		}},
	{key: "cluster_key_file", flag: true, env: "ROAM_CLUSTER_KEY_FILE", usage: "`FILE` holding the cluster key (base64, as the first node writes it to DATA/cluster.key); preferred to -cluster-key, which shows in ps",
		def: func(s *settings) string { return "" },
		set: func(s *settings, v string) error { s.keyFile = v; return nil }},
	{key: "cluster_key", flag: true, env: "ROAM_CLUSTER_KEY", usage: "cluster `KEY`, base64 of 16, 24 or 32 bytes, the same on every node: it encrypts gossip and, without -internal-ca, is the root of trust of the internal port (if empty on the node that creates a cluster, a new key is written to DATA/cluster.key, mode 0600). Prefer -cluster-key-file",
		def: func(s *settings) string { return "" },
		set: func(s *settings, v string) error {
			if v == "" {
				s.node.ClusterKey = nil
				return nil
			}
			k, err := base64.StdEncoding.DecodeString(v)
			if err != nil || (len(k) != 16 && len(k) != 24 && len(k) != 32) {
				return errors.New("want base64 of 16, 24 or 32 bytes")
			}
			s.node.ClusterKey = k
			return nil
		}},
	{key: "replicas", flag: true, env: "ROAM_REPLICAS", usage: "replication factor `R` of a new cluster",
		def: func(s *settings) string { return strconv.Itoa(s.node.Replicas) },
		set: intSetter(func(s *settings, n int) { s.node.Replicas = n })},
	{key: "dead_grace", flag: true, env: "ROAM_DEAD_GRACE", usage: "how long a dead node keeps its replicas before they are re-created elsewhere",
		def: func(s *settings) string { return s.node.DeadGrace.String() },
		set: durationSetter(func(s *settings, d time.Duration) { s.node.DeadGrace = d })},
	{key: "internal_ca", flag: true, env: "ROAM_INTERNAL_CA", usage: "operator mode: the CA certificate `FILE` (PEM) that signs every node's internal certificate (roamd cert create-ca); default: a CA derived from the cluster key",
		def: func(s *settings) string { return "" },
		set: func(s *settings, v string) error { s.internalCA = v; return nil }},
	{key: "internal_cert", flag: true, env: "ROAM_INTERNAL_CERT", usage: "operator mode: this node's certificate `FILE` (roamd cert create-node); it must name -node-id",
		def: func(s *settings) string { return "" },
		set: func(s *settings, v string) error { s.internalCert = v; return nil }},
	{key: "internal_key", flag: true, env: "ROAM_INTERNAL_KEY", usage: "operator mode: the key `FILE` of -internal-cert",
		def: func(s *settings) string { return "" },
		set: func(s *settings, v string) error { s.internalKey = v; return nil }},
	{key: "insecure_internal_plaintext", flag: true, bool: true, usage: "DANGEROUS, for benchmarks only: no TLS on the internal port; anyone who can reach it controls the cluster",
		def: func(s *settings) string { return "false" },
		set: boolSetter(func(s *settings, b bool) { s.node.InsecureInternalPlaintext = b })},
	{key: "client_cert", flag: true, env: "ROAM_CLIENT_CERT", usage: "certificate `FILE` (PEM) served on the client port with TLS 1.3 (a roamd cert create-node certificate works)",
		def: func(s *settings) string { return "" },
		set: func(s *settings, v string) error { s.clientCert = v; return nil }},
	{key: "client_key", flag: true, env: "ROAM_CLIENT_KEY", usage: "key `FILE` of -client-cert",
		def: func(s *settings) string { return "" },
		set: func(s *settings, v string) error { s.clientKey = v; return nil }},
	{key: "client_insecure_plaintext", flag: true, bool: true, usage: "serve plaintext clients on a non-loopback -client address (tokens and messages in clear; behind a TLS-terminating proxy only)",
		def: func(s *settings) string { return "false" },
		set: boolSetter(func(s *settings, b bool) { s.node.ClientInsecurePlaintext = b })},
	{key: "gossip_fast", flag: true, bool: true, usage: "fast failure detection (local clusters and tests)",
		def: func(s *settings) string { return strconv.FormatBool(s.node.GossipFast) },
		set: boolSetter(func(s *settings, b bool) { s.node.GossipFast = b })},
	{key: "partitions", flag: true, env: "ROAM_PARTITIONS", usage: "partition count `N`, fixed when the cluster is created (0: as stored, or 64 for a new node)",
		def: func(s *settings) string { return strconv.Itoa(s.node.Partitions) },
		set: intSetter(func(s *settings, n int) { s.node.Partitions = n })},
	{key: "node_id", flag: true, env: "ROAM_NODE_ID", usage: "node `ID` (default: as stored, or generated on first start)",
		def: func(s *settings) string { return s.node.NodeID },
		set: func(s *settings, v string) error { s.node.NodeID = v; return nil }},
	{key: "log_level", flag: true, env: "ROAM_LOG_LEVEL", usage: "log `LEVEL`: debug, info, warn or error",
		def: func(s *settings) string { return strings.ToLower(s.logLevel.String()) },
		set: setLogLevel},
	{key: "http", flag: true, env: "ROAM_HTTP", usage: "`ADDR` of the management endpoint: /healthz, /readyz, /status, /metrics (read-only, no credentials: loopback or a management network only); empty = off",
		def: func(s *settings) string { return s.httpAddr },
		set: func(s *settings, v string) error { s.httpAddr = v; return nil }},
	{key: "http_pprof", flag: true, bool: true, env: "ROAM_HTTP_PPROF", usage: "also serve the Go profiler (net/http/pprof) under /debug/pprof/ on -http",
		def: func(s *settings) string { return strconv.FormatBool(s.httpPprof) },
		set: boolSetter(func(s *settings, b bool) { s.httpPprof = b })},
	{key: "admin_token_file", flag: true, env: "ROAM_ADMIN_TOKEN_FILE", usage: "`FILE` holding the admin token (one line, at least 16 characters) that roam admin drain/undrain must present to -http; empty = those commands are off",
		def: func(s *settings) string { return s.adminTokenFile },
		set: func(s *settings, v string) error { s.adminTokenFile = v; return nil }},
	// Fault injection for the simulator (faultctl.go).
	{key: "fault_control", flag: true, usage: "loopback `ADDR` of the fault-control HTTP endpoint the simulator uses to drop gate items and reset gate connections; empty = off. Never on a production node",
		def: func(s *settings) string { return s.faultControl },
		set: func(s *settings, v string) error {
			if v != "" {
				if err := faultctl.CheckLoopback(v); err != nil {
					return err
				}
			}
			s.faultControl = v
			return nil
		}},
	{key: "log_json", flag: true, bool: true, usage: "log JSON lines instead of text",
		def: func(s *settings) string { return strconv.FormatBool(s.logJSON) },
		set: boolSetter(func(s *settings, b bool) { s.logJSON = b })},

	// Limits, from the config file only.
	{key: "max_body", usage: "largest message body in bytes",
		set: intSetter(func(s *settings, n int) { s.node.VLR.MaxBody = n })},
	{key: "max_frame", usage: "largest client frame in bytes",
		set: intSetter(func(s *settings, n int) { s.node.VLR.MaxFrame = n })},
	{key: "message_ttl", usage: "default and largest message lifetime",
		set: durationSetter(func(s *settings, d time.Duration) { s.node.VLR.MessageTTL = d })},
	{key: "drain_wait", usage: "how long a drain (roam admin drain) waits, after handing off its leaderships, before it moves its clients",
		set: durationSetter(func(s *settings, d time.Duration) { s.node.Clients.DrainWait = d })},
	{key: "drain_spread", usage: "the time a drain spreads its clients' moves over",
		set: durationSetter(func(s *settings, d time.Duration) { s.node.Clients.DrainSpread = d })},
	{key: "client_affinity", bool: true, usage: "send each session to the node leading its user's home partition, load permitting (off: no gain was measured)",
		set: boolSetter(func(s *settings, b bool) { s.node.Clients.Affinity = b })},
	{key: "heartbeat", usage: "client heartbeat interval",
		set: durationSetter(func(s *settings, d time.Duration) { s.node.VLR.HeartbeatInterval = d })},
	{key: "heartbeat_misses", usage: "missed heartbeats before a session is logged out",
		set: intSetter(func(s *settings, n int) { s.node.VLR.HeartbeatMisses = n })},
	{key: "send_rate", usage: "messages per second per user",
		set: func(s *settings, v string) error {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return errors.New("want a number")
			}
			s.node.VLR.SendRate = f
			return nil
		}},
	{key: "send_burst", usage: "messages a user may send at once",
		set: intSetter(func(s *settings, n int) { s.node.VLR.SendBurst = n })},
	{key: "max_conns_per_ip", usage: "concurrent client connections per IP",
		set: intSetter(func(s *settings, n int) { s.node.VLR.MaxConnsPerIP = n })},
	// Connection hygiene on the client port (vlr.Config; PROTOCOL.md §3).
	{key: "max_prelogin_per_ip", usage: "client connections per IP that have not logged in yet",
		set: intSetter(func(s *settings, n int) { s.node.VLR.MaxPreLoginPerIP = n })},
	{key: "max_conns", usage: "client connections per node (0: from the open-file limit)",
		set: intSetter(func(s *settings, n int) { s.node.VLR.MaxConns = n })},
	{key: "login_deadline", usage: "time from connect to a completed login or resume",
		set: durationSetter(func(s *settings, d time.Duration) { s.node.VLR.LoginDeadline = d })},
	{key: "frame_timeout", usage: "time for a client frame to arrive once it has begun",
		set: durationSetter(func(s *settings, d time.Duration) { s.node.VLR.FrameTimeout = d })},
	{key: "output_budget", usage: "bytes of output queued for all clients together before the slowest is disconnected",
		set: func(s *settings, v string) error {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return errors.New("want a whole number of bytes")
			}
			s.node.VLR.OutputBudget = n
			return nil
		}},
	{key: "proxy_protocol", usage: "connections from trusted_proxies start with a PROXY protocol v2 header",
		set: func(s *settings, v string) error {
			b, err := strconv.ParseBool(v)
			if err != nil {
				return errors.New("want true or false")
			}
			s.node.VLR.ProxyProtocol = b
			return nil
		}},
	{key: "trusted_proxies", usage: "addresses or CIDR prefixes `A,B/24,...` of the load balancers that send PROXY headers",
		set: func(s *settings, v string) error {
			s.node.VLR.TrustedProxies = nil
			for _, f := range strings.Split(v, ",") {
				if f = strings.TrimSpace(f); f == "" {
					continue
				}
				p, err := netip.ParsePrefix(f)
				if err != nil {
					a, aerr := netip.ParseAddr(f)
					if aerr != nil {
						return fmt.Errorf("%q is not an address or a CIDR prefix", f)
					}
					p = netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen())
				}
				s.node.VLR.TrustedProxies = append(s.node.VLR.TrustedProxies, p.Masked())
			}
			return nil
		}},
	{key: "session_ttl", usage: "how long a session can be resumed",
		set: durationSetter(func(s *settings, d time.Duration) { s.node.VLR.SessionTTL = d })},
	{key: "raft_heartbeat_timeout", usage: "Raft heartbeat timeout (leaders send heartbeats every tenth of it)",
		set: durationSetter(func(s *settings, d time.Duration) { s.node.HLR.Raft.HeartbeatTimeout = d })},
	{key: "raft_election_timeout", usage: "Raft election timeout",
		set: durationSetter(func(s *settings, d time.Duration) { s.node.HLR.Raft.ElectionTimeout = d })},
	{key: "raft_lease_timeout", usage: "Raft leader lease timeout",
		set: durationSetter(func(s *settings, d time.Duration) { s.node.HLR.Raft.LeaderLeaseTimeout = d })},
	{key: "reconcile_interval", usage: "how often partition leaders reconcile their voters with the placement",
		set: durationSetter(func(s *settings, d time.Duration) { s.node.ReconcileInterval = d })},
	{key: "nonce_ttl", usage: "how long a login challenge stays valid",
		set: durationSetter(func(s *settings, d time.Duration) { s.node.VLR.NonceTTL = d })},
	{key: "register_rate", usage: "registrations per second per client address",
		set: func(s *settings, v string) error {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return errors.New("want a number")
			}
			s.node.VLR.RegisterRate = f
			return nil
		}},
	{key: "register_burst", usage: "registrations a client address may make at once",
		set: intSetter(func(s *settings, n int) { s.node.VLR.RegisterBurst = n })},
	{key: "login_failures", usage: "failed logins per client address or account per login_window before logins are slowed down",
		set: intSetter(func(s *settings, n int) { s.node.VLR.LoginFailures = n })},
	{key: "login_window", usage: "the window login_failures counts over",
		set: durationSetter(func(s *settings, d time.Duration) { s.node.VLR.LoginWindow = d })},
	// Abuse limits per user (PROTOCOL.md §3.3) and the per-user bounds of the home register.
	{key: "login_rate", usage: "successful password logins per second per user",
		set: func(s *settings, v string) error {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return errors.New("want a number")
			}
			s.node.VLR.LoginRate = f
			return nil
		}},
	{key: "login_burst", usage: "successful password logins a user may make at once",
		set: intSetter(func(s *settings, n int) { s.node.VLR.LoginBurst = n })},
	{key: "resume_rate", usage: "successful resumes per second per user",
		set: func(s *settings, v string) error {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return errors.New("want a number")
			}
			s.node.VLR.ResumeRate = f
			return nil
		}},
	{key: "resume_burst", usage: "successful resumes a user may make at once",
		set: intSetter(func(s *settings, n int) { s.node.VLR.ResumeBurst = n })},
	{key: "resume_failures", usage: "failed resumes per client address per login_window before resumes from it are slowed down",
		set: intSetter(func(s *settings, n int) { s.node.VLR.ResumeFailures = n })},
	{key: "friend_rate", usage: "friend requests, accepts, declines and removals per second per user",
		set: func(s *settings, v string) error {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return errors.New("want a number")
			}
			s.node.VLR.FriendRate = f
			return nil
		}},
	{key: "friend_burst", usage: "friend operations a user may make at once",
		set: intSetter(func(s *settings, n int) { s.node.VLR.FriendBurst = n })},
	{key: "block_rate", usage: "blocks and unblocks per second per user",
		set: func(s *settings, v string) error {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return errors.New("want a number")
			}
			s.node.VLR.BlockRate = f
			return nil
		}},
	{key: "block_burst", usage: "blocks and unblocks a user may make at once",
		set: intSetter(func(s *settings, n int) { s.node.VLR.BlockBurst = n })},
	{key: "profile_rate", usage: "profile changes (set_profile, change_password, delete_account) per second per user",
		set: func(s *settings, v string) error {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return errors.New("want a number")
			}
			s.node.VLR.ProfileRate = f
			return nil
		}},
	{key: "profile_burst", usage: "profile changes a user may make at once",
		set: intSetter(func(s *settings, n int) { s.node.VLR.ProfileBurst = n })},
	{key: "max_devices", usage: "devices the home register keeps per user; a login from one more evicts the oldest",
		set: intSetter(func(s *settings, n int) { s.node.VLR.MaxDevices = n })},
	{key: "max_blocks", usage: "users one user can block",
		set: intSetter(func(s *settings, n int) { s.node.VLR.MaxBlocks = n })},
	// Groups (vlr.Config; PROTOCOL.md §16).
	{key: "max_group_members", usage: "members (and pending invites) of one group",
		set: intSetter(func(s *settings, n int) { s.node.VLR.MaxGroupMembers = n })},
	{key: "max_groups_per_user", usage: "groups a user may belong to or be invited to",
		set: intSetter(func(s *settings, n int) { s.node.VLR.MaxGroupsPerUser = n })},
	{key: "group_send_rate", usage: "group messages per second per user",
		set: floatSetter(func(s *settings, f float64) { s.node.VLR.GroupSendRate = f })},
	{key: "group_send_burst", usage: "group messages a user may send at once",
		set: intSetter(func(s *settings, n int) { s.node.VLR.GroupSendBurst = n })},
	{key: "group_op_rate", usage: "other group operations per second per user",
		set: floatSetter(func(s *settings, f float64) { s.node.VLR.GroupOpRate = f })},
	{key: "group_op_burst", usage: "other group operations a user may make at once",
		set: intSetter(func(s *settings, n int) { s.node.VLR.GroupOpBurst = n })},
	// Scheduled messages (vlr.Config.Schedule; PROTOCOL.md §17).
	{key: "schedule_min_ahead", usage: "how far ahead a scheduled message's fire time must be at least (default 10s, at least 1s)",
		set: durationSetter(func(s *settings, d time.Duration) { s.node.VLR.Schedule.MinAhead = d })},
	// Roles (vlr.Config.Roles; PROTOCOL.md §18).
	{key: "max_roles", usage: "roles one account may own (all namespaces together)",
		set: intSetter(func(s *settings, n int) { s.node.VLR.Roles.Max = n })},
	{key: "role_reclaim_after", usage: "age after which another account's orphaned claim of a role name may be taken over",
		set: durationSetter(func(s *settings, d time.Duration) { s.node.VLR.Roles.ReclaimAfter = d })},
	{key: "role_rate", usage: "role requests per second per user",
		set: floatSetter(func(s *settings, f float64) { s.node.VLR.Roles.Rate = f })},
	{key: "role_burst", usage: "role requests a user may make at once",
		set: intSetter(func(s *settings, n int) { s.node.VLR.Roles.Burst = n })},
	// Scenes (node.SceneConfig, vlr.SceneConfig; PROTOCOL.md §19). Every
	// node of a cluster should have the same.
	{key: "scene_hear", usage: "hearing radius of a say in every scene (and the side of a grid cell)",
		set: floatSetter(func(s *settings, f float64) { s.node.Scenes.Default.Hear = f })},
	{key: "scene_view", usage: "view radius of an action and of enter/leave events in every scene",
		set: floatSetter(func(s *settings, f float64) { s.node.Scenes.Default.View = f })},
	{key: "scene_max_listeners", usage: "listeners of a say or an action (the nearest), and players one player sees",
		set: intSetter(func(s *settings, n int) { s.node.Scenes.Default.MaxListeners = n })},
	{key: "scene_max_players", usage: "players of one scene",
		set: intSetter(func(s *settings, n int) { s.node.Scenes.Default.MaxPlayers = n })},
	{key: "scene_move_hz", usage: "positions a second a player's moves are coalesced to",
		set: floatSetter(func(s *settings, f float64) { s.node.VLR.Scene.MoveHz = f })},
	{key: "scene_say_rate", usage: "says and actions per second per user",
		set: floatSetter(func(s *settings, f float64) { s.node.VLR.Scene.SayRate = f })},
	{key: "scene_say_burst", usage: "says and actions a user may make at once",
		set: intSetter(func(s *settings, n int) { s.node.VLR.Scene.SayBurst = n })},
	{key: "scene_zone_admins", usage: "users `USER,...` who may set and remove zones through the API",
		set: func(s *settings, v string) error {
			s.node.VLR.Scene.ZoneAdmins = nil
			for _, u := range strings.Split(v, ",") {
				if u = strings.TrimSpace(strings.ToLower(u)); u != "" {
					s.node.VLR.Scene.ZoneAdmins = append(s.node.VLR.Scene.ZoneAdmins, u)
				}
			}
			return nil
		}},
	{key: "scene_zones", usage: "`FILE`: a JSON object of scene id → list of zones ({\"id\", \"shape\": \"rect\" with min_x, min_y, max_x, max_y, or \"circle\" with x, y, r})",
		set: func(s *settings, v string) error {
			b, err := os.ReadFile(v)
			if err != nil {
				return err
			}
			var zones map[string][]scene.Zone
			if err := json.Unmarshal(b, &zones); err != nil {
				return fmt.Errorf("scene zones %s: %w", v, err)
			}
			s.node.Scenes.Zones = zones
			return nil
		}},
}

func boolSetter(f func(*settings, bool)) func(*settings, string) error {
	return func(s *settings, v string) error {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return errors.New("want true or false")
		}
		f(s, b)
		return nil
	}
}

func floatSetter(f func(*settings, float64)) func(*settings, string) error {
	return func(s *settings, v string) error {
		x, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return errors.New("want a number")
		}
		f(s, x)
		return nil
	}
}

func intSetter(f func(*settings, int)) func(*settings, string) error {
	return func(s *settings, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil {
			return errors.New("want a whole number")
		}
		f(s, n)
		return nil
	}
}

func durationSetter(f func(*settings, time.Duration)) func(*settings, string) error {
	return func(s *settings, v string) error {
		d, err := time.ParseDuration(v)
		if err != nil {
			return errors.New(`want a duration with a unit, such as "30s" or "24h"`)
		}
		f(s, d)
		return nil
	}
}

func setLogLevel(s *settings, v string) error {
	switch strings.ToLower(v) {
	case "debug":
		s.logLevel = slog.LevelDebug
	case "info":
		s.logLevel = slog.LevelInfo
	case "warn", "warning":
		s.logLevel = slog.LevelWarn
	case "error":
		s.logLevel = slog.LevelError
	default:
		return errors.New("want debug, info, warn or error")
	}
	return nil
}

// errUsage marks a command-line error the flag package has already
// reported, with the usage text.
var errUsage = errors.New("usage")

// loadSettings builds the settings from, in increasing precedence: the
// defaults, the config file (-config), the environment, the flags. The
// result is validated.
func loadSettings(args []string, getenv func(string) string, stderr io.Writer) (settings, error) {
	s := settings{node: node.DefaultConfig(), logLevel: slog.LevelInfo}
	byKey := make(map[string]*option, len(options))
	fs := flag.NewFlagSet("roamd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configFile := fs.String("config", "", "JSON config `FILE`: an object with the flags' names (with _ for -) and limits such as max_body, message_ttl, heartbeat, send_rate")
	for i := range options {
		o := &options[i]
		byKey[o.key] = o
		if !o.flag {
			continue
		}
		usage := o.usage
		if o.env != "" {
			usage += " [$" + o.env + "]"
		}
		if o.bool {
			fs.Bool(o.flagName(), false, usage)
		} else {
			fs.String(o.flagName(), o.def(&s), usage)
		}
	}
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: roamd -data DIR [flags]\n       roamd cert create-ca|create-node|list --certs-dir DIR (roamd cert -h)\n\nPrecedence: flags > environment > -config file > defaults.\n\nFlags:\n")
		fs.PrintDefaults()
		fmt.Fprintf(stderr, "\nConfig file keys besides the flags':\n")
		for _, o := range options {
			if !o.flag {
				fmt.Fprintf(stderr, "  %-18s %s\n", o.key, o.usage)
			}
		}
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return s, err
		}
		return s, fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() > 0 {
		return s, fmt.Errorf("unexpected argument %q (all settings are flags)", fs.Arg(0))
	}

	if *configFile != "" {
		if err := applyFile(&s, *configFile, byKey); err != nil {
			return s, err
		}
	}
	for i := range options {
		o := &options[i]
		if o.env == "" {
			continue
		}
		if v, ok := lookupEnv(getenv, o.env); ok {
			if err := o.set(&s, v); err != nil {
				return s, fmt.Errorf("environment variable %s=%q: %w", o.env, v, err)
			}
		}
	}
	var ferr error
	fs.Visit(func(f *flag.Flag) {
		o, ok := byKey[strings.ReplaceAll(f.Name, "-", "_")]
		if !ok || ferr != nil {
			return
		}
		if err := o.set(&s, f.Value.String()); err != nil {
			ferr = fmt.Errorf("flag -%s=%q: %w", f.Name, f.Value.String(), err)
		}
	})
	if ferr != nil {
		return s, ferr
	}
	if s.node.DataDir == "" {
		return s, errors.New("no data directory: give -data DIR, ROAM_DATA or \"data\" in the config file")
	}
	if err := s.readFiles(stderr); err != nil {
		return s, err
	}
	if err := s.node.Validate(); err != nil {
		return s, err
	}
	return s, nil
}

// lookupEnv treats an empty variable as unset.
func lookupEnv(getenv func(string) string, name string) (string, bool) {
	v := getenv(name)
	return v, v != ""
}

// applyFile reads a JSON object whose keys are option keys ('-' or '_')
// and whose values are strings, numbers or booleans.
func applyFile(s *settings, path string, byKey map[string]*option) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("config file: %w", err)
	}
	var obj map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&obj); err != nil || obj == nil {
		if err == nil {
			err = errors.New("not an object")
		}
		return fmt.Errorf("config file %s: want a JSON object: %w", path, err)
	}
	if dec.More() {
		return fmt.Errorf("config file %s: trailing data after the JSON object", path)
	}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys) // report problems in a stable order
	for _, k := range keys {
		o, ok := byKey[strings.ReplaceAll(k, "-", "_")]
		if !ok {
			return fmt.Errorf("config file %s: unknown key %q", path, k)
		}
		v, err := scalar(obj[k])
		if err == nil {
			err = o.set(s, v)
		}
		if err != nil {
			return fmt.Errorf("config file %s: %q: %w", path, k, err)
		}
	}
	return nil
}

// scalar turns a JSON string, number or boolean into its text.
func scalar(raw json.RawMessage) (string, error) {
	var v any
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		return "", err
	}
	switch v := v.(type) {
	case string:
		return v, nil
	case json.Number:
		return v.String(), nil
	case bool:
		return strconv.FormatBool(v), nil
	}
	return "", fmt.Errorf("want a string, number or boolean, got %s", raw)
}
