package mgmt

import "github.com/prometheus/client_golang/prometheus"

// family is one metric the endpoint exports. OPERATIONS.md lists every
// one with its meaning; TestMetrics_ExactlyTheDocumentedSeries (e2e)
// keeps the two in step.
type family struct {
	name   string
	kind   kind
	labels []string
	help   string
}

type kind uint8

const (
	counter kind = iota
	gauge
	histogram
)

// families is every roam_ metric, grouped as OPERATIONS.md groups them.
var families = []family{
	// The node.
	{"roam_node_info", gauge, []string{"node", "cluster"}, "Always 1; labels name this node and its cluster."},
	{"roam_ready", gauge, nil, "1 when the node is serving (as /readyz answers 200), else 0."},
	{"roam_draining", gauge, nil, "1 while the node drains (roam admin drain), else 0."},

	// Client port (vlr).
	{"roam_client_connections", gauge, []string{"state"}, "Client connections open, by state: pre_login or logged_in."},
	{"roam_client_connections_refused_total", counter, nil, "Client connections refused by a connection cap."},
	{"roam_sessions", gauge, nil, "Logged-in sessions at this node."},
	{"roam_client_requests_total", counter, []string{"request", "code"}, "Client requests answered, by request type and answer code (ok or an error code name)."},
	{"roam_registrations_total", counter, []string{"code"}, "Registrations answered, by code."},
	{"roam_logins_total", counter, []string{"code"}, "Password logins (login_finish) answered, by code: ok, auth_failed, rate_limited, ..."},
	{"roam_resumes_total", counter, []string{"code"}, "Session resumes answered, by code: ok, session_invalid, ..."},
	{"roam_messages_sent_total", counter, nil, "Sends received from this node's clients, whatever their answer."},
	{"roam_messages_committed_total", counter, nil, "Sends acknowledged as new messages (committed to the recipient's inbox)."},
	{"roam_messages_deduplicated_total", counter, nil, "Sends acknowledged as duplicates of a message already committed (a retry)."},
	{"roam_messages_refused_total", counter, []string{"code"}, "Sends answered with an error, by code."},
	{"roam_messages_delivered_total", counter, nil, "Inbox messages pushed to sessions at this node (live or by catch-up)."},
	{"roam_sync_pages_total", counter, nil, "Inbox pages served to sync requests."},
	{"roam_output_queued_bytes", gauge, nil, "Output queued for all clients of this node."},
	{"roam_output_budget_bytes", gauge, nil, "The bound on roam_output_queued_bytes (output_budget)."},
	{"roam_slow_consumer_disconnects_total", counter, nil, "Clients disconnected for not reading their output."},
	{"roam_sessions_redirected_total", counter, nil, "Sessions this node sent to another node (drain, leave or load balance)."},
	{"roam_send_commit_seconds", histogram, nil, "From a send's arrival to its acknowledgement: throttles, lease and the quorum commit."},
	{"roam_commit_delivery_seconds", histogram, nil, "From a message's proposal at its partition leader to its live push at this node (two nodes' clocks)."},

	// Delivery repair.
	{"roam_delivery_pending", gauge, nil, "Devices with a forwarded message not acknowledged yet (this node's leaderships)."},
	{"roam_delivery_notices_total", counter, nil, "Delivery-repair notices sent."},
	{"roam_delivery_gave_up_total", counter, nil, "Pending deliveries dropped without an acknowledgement after the give-up time."},
	{"roam_delivery_untracked_total", counter, nil, "Forwards not tracked because the pending table was full."},

	// Scenes (volatile; scene_host.go).
	{"roam_scenes_hosted", gauge, nil, "Scenes this node hosts (it leads their partitions)."},
	{"roam_scene_players", gauge, nil, "Players in the scenes this node hosts."},
	{"roam_scene_position_updates_total", counter, nil, "Positions the scenes hosted here applied (joins, moves, refreshes)."},
	{"roam_scene_says_total", counter, nil, "Says and actions the scenes hosted here handed out."},
	{"roam_scene_deliveries_total", counter, nil, "Their recipients, on every node."},
	{"roam_scene_pushed_total", counter, nil, "Says and actions pushed to players at this node."},

	// Partitions and Raft.
	{"roam_partitions_open", gauge, nil, "Partitions open (replicated) on this node."},
	{"roam_partitions_led", gauge, nil, "Partitions this node leads."},
	{"roam_partitions_without_leader", gauge, nil, "Partitions of the cluster without a leader this node can reach."},
	{"roam_raft_leader", gauge, []string{"partition"}, "1 if this node leads the partition, else 0 (partitions open here)."},
	{"roam_raft_term", gauge, []string{"partition"}, "Current Raft term of the partition here."},
	{"roam_raft_commit_index", gauge, []string{"partition"}, "Raft commit index of the partition here."},
	{"roam_raft_applied_index", gauge, []string{"partition"}, "Last Raft index applied to the state machine here."},
	{"roam_raft_last_log_index", gauge, []string{"partition"}, "Last Raft log index stored here."},
	{"roam_raft_apply_lag", gauge, []string{"partition"}, "Entries committed and not yet applied here (commit - applied)."},
	{"roam_raft_last_contact_seconds", gauge, []string{"partition"}, "Follower: time since it last heard from its leader; 0 on the leader; absent if never."},
	{"roam_raft_voters", gauge, []string{"partition"}, "Voters in the partition's latest configuration as this node has it."},
	{"roam_proposer_batch_commands", histogram, nil, "Commands per Raft entry proposed by this node's leaderships."},

	// Reconciler.
	{"roam_reconciler_changes_total", counter, []string{"change"}, "Changes the reconciler made: add-nonvoter, promote, remove, readdress, transfer, drop."},

	// Gossip.
	{"roam_gossip_members", gauge, []string{"state"}, "Members this node knows, by state: alive, suspect, dead, left."},
	{"roam_gossip_members_leaving", gauge, nil, "Members that announced a graceful leave and are handing off."},

	// Gate (node-to-node requests and one-way items).
	{"roam_gate_requests_total", counter, nil, "Requests this node sent to partition leaders on other nodes."},
	{"roam_gate_request_errors_total", counter, nil, "Of those, failed in transport (unreachable, no reply in time)."},
	{"roam_gate_served_total", counter, nil, "Requests from other nodes this node served."},
	{"roam_gate_oneway_sent_total", counter, nil, "One-way items (deliver, cancel, notify, presence, notice, ack) queued for other nodes."},
	{"roam_gate_oneway_received_total", counter, nil, "One-way items received from other nodes."},
	{"roam_gate_drops_total", counter, nil, "One-way items dropped: queue full, peer unreachable, gate closed."},
	{"roam_gate_queued_bytes", gauge, nil, "Bytes waiting on the gate's connections."},
	{"roam_gate_dials_total", counter, nil, "Gate connection attempts."},
	{"roam_gate_dial_errors_total", counter, nil, "Gate connection attempts that failed."},
	{"roam_gate_connections_lost_total", counter, nil, "Established gate connections that broke (each is redialled: reconnects)."},
	{"roam_gate_bad_frames_total", counter, nil, "Incoming gate connections closed for a malformed frame."},
	{"roam_gate_impostors_total", counter, nil, "Incoming gate connections closed because the hello named another node than the certificate."},
	{"roam_gate_peers", gauge, nil, "Destinations the gate knows."},
	{"roam_gate_batches_total", counter, nil, "Writes to gate connections (frames per write = frames_total / batches_total)."},
	{"roam_gate_frames_total", counter, nil, "Frames written to gate connections."},

	// Storage (Pebble).
	{"roam_pebble_disk_usage_bytes", gauge, nil, "Disk space used by the database, live and obsolete files."},
	{"roam_pebble_level_files", gauge, []string{"level"}, "Sstables per LSM level."},
	{"roam_pebble_level_bytes", gauge, []string{"level"}, "Bytes per LSM level."},
	{"roam_pebble_read_amplification", gauge, nil, "Read amplification (sublevels of L0 plus non-empty levels)."},
	{"roam_pebble_compactions_total", counter, nil, "Compactions since the DB opened."},
	{"roam_pebble_compactions_in_progress", gauge, nil, "Compactions running."},
	{"roam_pebble_compaction_debt_bytes", gauge, nil, "Estimated bytes to compact for the LSM to settle."},
	{"roam_pebble_flushes_total", counter, nil, "Memtable flushes since the DB opened."},
	{"roam_pebble_memtable_bytes", gauge, nil, "Bytes allocated by memtables."},
	{"roam_pebble_wal_bytes", gauge, nil, "Live data in the write-ahead log."},
	{"roam_pebble_wal_written_bytes_total", counter, nil, "Bytes written to the write-ahead log."},
	{"roam_pebble_wal_fsync_seconds", histogram, nil, "Latency of the write-ahead log's fsyncs."},
	{"roam_pebble_block_cache_bytes", gauge, nil, "Bytes in the block cache."},
	{"roam_pebble_block_cache_hits_total", counter, nil, "Block cache hits."},
	{"roam_pebble_block_cache_misses_total", counter, nil, "Block cache misses."},
}

// descs builds one Desc per family.
func descs() map[string]*prometheus.Desc {
	out := make(map[string]*prometheus.Desc, len(families))
	for _, f := range families {
		if _, dup := out[f.name]; dup {
			panic("mgmt: family listed twice: " + f.name)
		}
		out[f.name] = prometheus.NewDesc(f.name, f.help, f.labels, nil)
	}
	return out
}

func (k kind) valueType() prometheus.ValueType {
	if k == counter {
		return prometheus.CounterValue
	}
	return prometheus.GaugeValue
}
