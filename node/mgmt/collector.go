package mgmt

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/roamhq/roam/hist"
	"github.com/roamhq/roam/node"
	"github.com/roamhq/roam/wire"
)

// collector turns one node.Metrics snapshot into the roam_ series at each
// scrape: nothing is counted here, everything is read from counters the
// node keeps anyway (a pull collector).
type collector struct {
	source func() Source
	descs  map[string]*prometheus.Desc
	kinds  map[string]kind
}

func newCollector(source func() Source) *collector {
	c := &collector{source: source, descs: descs(), kinds: make(map[string]kind, len(families))}
	for _, f := range families {
		c.kinds[f.name] = f.kind
	}
	return c
}

// Describe implements prometheus.Collector.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}

// emitter sends const metrics for one scrape.
type emitter struct {
	c  *collector
	ch chan<- prometheus.Metric
}

func (e emitter) value(name string, v float64, labels ...string) {
	e.ch <- prometheus.MustNewConstMetric(e.c.descs[name], e.c.kinds[name].valueType(), v, labels...)
}

// hist sends a histogram whose observations are in units of unit
// (1e-9 for nanoseconds → seconds, 1 for counts).
func (e emitter) hist(name string, s hist.Snapshot, unit float64) {
	buckets := make(map[float64]uint64, len(s.Bounds))
	for i, n := range s.Cumulative() {
		buckets[float64(s.Bounds[i])*unit] = n
	}
	e.ch <- prometheus.MustNewConstHistogram(e.c.descs[name], s.Count(), float64(s.Sum)*unit, buckets)
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// Collect implements prometheus.Collector.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	e := emitter{c, ch}
	src := c.source()
	if src == nil {
		e.value("roam_ready", 0)
		return
	}
	m := src.Metrics()
	e.value("roam_node_info", 1, m.Node, m.Cluster)
	e.value("roam_ready", b2f(m.Readiness.Ready))
	e.value("roam_draining", b2f(m.Draining))
	c.client(e, m)
	c.delivery(e, m)
	c.scenes(e, m)
	c.partitions(e, m)
	c.gossip(e, m)
	c.gate(e, m)
	c.storage(e, m)
	for _, k := range node.ChangeKinds {
		e.value("roam_reconciler_changes_total", float64(m.Changes[k]), k)
	}
}

func (c *collector) client(e emitter, m node.Metrics) {
	cs := m.Client
	e.value("roam_client_connections", float64(cs.PreLogin), "pre_login")
	e.value("roam_client_connections", float64(max(cs.Conns-cs.PreLogin, 0)), "logged_in")
	e.value("roam_client_connections_refused_total", float64(cs.Refused))
	e.value("roam_sessions", float64(cs.Sessions))
	e.value("roam_output_queued_bytes", float64(cs.QueuedBytes))
	e.value("roam_output_budget_bytes", float64(cs.OutputBudget))
	e.value("roam_slow_consumer_disconnects_total", float64(cs.SlowConsumers))
	e.value("roam_sessions_redirected_total", float64(cs.Redirected))

	rq := m.Requests
	var sent uint64
	// The answers to each kind of request that has its own family; "ok"
	// is always listed, so a rate over it exists before the first one.
	perType := map[wire.Type]string{
		wire.TRegister: "roam_registrations_total", wire.TLoginFinish: "roam_logins_total", wire.TResume: "roam_resumes_total",
	}
	okSeen := map[wire.Type]bool{}
	for _, r := range rq.Requests {
		code := r.Code.Name()
		e.value("roam_client_requests_total", float64(r.N), r.Type.String(), code)
		if fam, ok := perType[r.Type]; ok {
			e.value(fam, float64(r.N), code)
			okSeen[r.Type] = okSeen[r.Type] || r.Code == wire.CodeOK
		}
		if r.Type == wire.TSend {
			sent += r.N
			if r.Code != wire.CodeOK {
				e.value("roam_messages_refused_total", float64(r.N), code)
			}
		}
	}
	for t, fam := range perType {
		if !okSeen[t] {
			e.value(fam, 0, wire.CodeOK.Name())
		}
	}
	acked := rq.Count(wire.TSend, wire.CodeOK)
	e.value("roam_messages_sent_total", float64(sent))
	e.value("roam_messages_committed_total", float64(acked-min(acked, rq.Deduplicated)))
	e.value("roam_messages_deduplicated_total", float64(rq.Deduplicated))
	e.value("roam_messages_delivered_total", float64(rq.Delivered))
	e.value("roam_sync_pages_total", float64(rq.Count(wire.TSync, wire.CodeOK)))
	e.hist("roam_send_commit_seconds", rq.SendCommit, 1e-9)
	e.hist("roam_commit_delivery_seconds", rq.CommitDelivery, 1e-9)
}

func (c *collector) delivery(e emitter, m node.Metrics) {
	d := m.Delivery
	e.value("roam_delivery_pending", float64(d.Pending))
	e.value("roam_delivery_notices_total", float64(d.Notices))
	e.value("roam_delivery_gave_up_total", float64(d.GaveUp))
	e.value("roam_delivery_untracked_total", float64(d.Untracked))
}

func (c *collector) scenes(e emitter, m node.Metrics) {
	s := m.Scenes
	e.value("roam_scenes_hosted", float64(s.Hosted))
	e.value("roam_scene_players", float64(s.Players))
	e.value("roam_scene_position_updates_total", float64(s.Updates))
	e.value("roam_scene_says_total", float64(s.Says))
	e.value("roam_scene_deliveries_total", float64(s.Deliveries))
	e.value("roam_scene_pushed_total", float64(m.Requests.ScenePushed))
}

func (c *collector) partitions(e emitter, m node.Metrics) {
	led := 0
	for _, p := range m.Partitions {
		pid := strconv.Itoa(int(p.ID))
		leader := p.Role == "Leader"
		if leader {
			led++
		}
		e.value("roam_raft_leader", b2f(leader), pid)
		e.value("roam_raft_term", float64(p.Term), pid)
		e.value("roam_raft_commit_index", float64(p.Commit), pid)
		e.value("roam_raft_applied_index", float64(p.Apply), pid)
		e.value("roam_raft_last_log_index", float64(p.Last), pid)
		e.value("roam_raft_apply_lag", float64(p.Lag), pid)
		if p.LastContactMS >= 0 {
			e.value("roam_raft_last_contact_seconds", float64(p.LastContactMS)/1000, pid)
		}
		e.value("roam_raft_voters", float64(len(p.Voters)), pid)
	}
	e.value("roam_partitions_open", float64(len(m.Partitions)))
	e.value("roam_partitions_led", float64(led))
	e.value("roam_partitions_without_leader", float64(m.Unled))
	e.hist("roam_proposer_batch_commands", m.Batches, 1)
}

func (c *collector) gossip(e emitter, m node.Metrics) {
	count := map[string]int{}
	leaving := 0
	for _, mb := range m.Members {
		count[mb.State]++
		if mb.Leaving && mb.State == "alive" {
			leaving++
		}
	}
	for _, s := range node.MemberStates() {
		e.value("roam_gossip_members", float64(count[s]), s)
	}
	e.value("roam_gossip_members_leaving", float64(leaving))
}

func (c *collector) gate(e emitter, m node.Metrics) {
	g := m.Gate
	e.value("roam_gate_requests_total", float64(g.Requests))
	e.value("roam_gate_request_errors_total", float64(g.RequestErrors))
	e.value("roam_gate_served_total", float64(g.Served))
	e.value("roam_gate_oneway_sent_total", float64(g.Sent))
	e.value("roam_gate_oneway_received_total", float64(g.Received))
	e.value("roam_gate_drops_total", float64(g.Drops))
	e.value("roam_gate_queued_bytes", float64(m.GateQueued))
	e.value("roam_gate_dials_total", float64(g.Dials))
	e.value("roam_gate_dial_errors_total", float64(g.DialErrors))
	e.value("roam_gate_connections_lost_total", float64(g.ConnsLost))
	e.value("roam_gate_bad_frames_total", float64(g.BadFrames))
	e.value("roam_gate_impostors_total", float64(g.Impostors))
	e.value("roam_gate_peers", float64(g.Peers))
	e.value("roam_gate_batches_total", float64(g.Batches))
	e.value("roam_gate_frames_total", float64(g.Frames))
}

func (c *collector) storage(e emitter, m node.Metrics) {
	s := m.Storage
	if s == nil {
		return // shut down
	}
	e.value("roam_pebble_disk_usage_bytes", float64(s.DiskSpaceUsage()))
	for i, l := range s.Levels {
		lv := strconv.Itoa(i)
		e.value("roam_pebble_level_files", float64(l.NumFiles), lv)
		e.value("roam_pebble_level_bytes", float64(l.Size), lv)
	}
	e.value("roam_pebble_read_amplification", float64(s.ReadAmp()))
	e.value("roam_pebble_compactions_total", float64(s.Compact.Count))
	e.value("roam_pebble_compactions_in_progress", float64(s.Compact.NumInProgress))
	e.value("roam_pebble_compaction_debt_bytes", float64(s.Compact.EstimatedDebt))
	e.value("roam_pebble_flushes_total", float64(s.Flush.Count))
	e.value("roam_pebble_memtable_bytes", float64(s.MemTable.Size))
	e.value("roam_pebble_wal_bytes", float64(s.WAL.Size))
	e.value("roam_pebble_wal_written_bytes_total", float64(s.WAL.BytesWritten))
	e.value("roam_pebble_block_cache_bytes", float64(s.BlockCache.Size))
	e.value("roam_pebble_block_cache_hits_total", float64(s.BlockCache.Hits))
	e.value("roam_pebble_block_cache_misses_total", float64(s.BlockCache.Misses))
	if h := s.LogWriter.FsyncLatency; h != nil {
		var dm dto.Metric
		if h.Write(&dm) == nil && dm.Histogram != nil {
			count, sum, buckets := fsyncBuckets(dm.Histogram)
			e.ch <- prometheus.MustNewConstHistogram(c.descs["roam_pebble_wal_fsync_seconds"], count, sum, buckets)
		}
	}
}

// fsyncBounds are the fsync histogram's bounds in seconds. Pebble records
// fsyncs in nanoseconds with 100 buckets; each bound here takes the count
// of Pebble's first bucket at or above it (and says that bucket's bound).
var fsyncBounds = []time.Duration{
	100 * time.Microsecond, 250 * time.Microsecond, 500 * time.Microsecond, time.Millisecond,
	2 * time.Millisecond, 5 * time.Millisecond, 10 * time.Millisecond, 25 * time.Millisecond,
	50 * time.Millisecond, 100 * time.Millisecond, 250 * time.Millisecond, 500 * time.Millisecond,
	time.Second, 2500 * time.Millisecond, 10 * time.Second,
}

// fsyncBuckets rescales Pebble's nanosecond histogram to seconds and keeps
// about fifteen of its cumulative buckets.
func fsyncBuckets(h *dto.Histogram) (count uint64, sum float64, buckets map[float64]uint64) {
	buckets = make(map[float64]uint64, len(fsyncBounds))
	bs := h.GetBucket()
	j := 0
	for _, want := range fsyncBounds {
		for j < len(bs) && bs[j].GetUpperBound() < float64(want) {
			j++
		}
		if j == len(bs) {
			break
		}
		buckets[bs[j].GetUpperBound()/1e9] = bs[j].GetCumulativeCount()
	}
	return h.GetSampleCount(), h.GetSampleSum() / 1e9, buckets
}
