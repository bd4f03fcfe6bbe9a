package node

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/cockroachdb/pebble"
	"github.com/hashicorp/raft"

	"github.com/roamhq/roam/hist"
	"github.com/roamhq/roam/node/gate"
	"github.com/roamhq/roam/node/gossip"
	"github.com/roamhq/roam/vlr"
)

// What a node tells its operators (roamd -http, package node/mgmt): the
// cluster as this node sees it (Status), whether it is serving
// (Readiness), and its counters (Metrics). Everything here reads state
// the node keeps anyway — the hlr host's partitions and their Raft
// groups, gossip's members, the vlr's and the gate's counters, Pebble's
// metrics — when it is asked, so none of it costs anything between
// scrapes. All of it is safe to call from any goroutine, also while the
// node shuts down.

// Status is the cluster as this node sees it.
type Status struct {
	Node       string            `json:"node"`
	Cluster    string            `json:"cluster"`
	Partitions int               `json:"partition_count"` // P
	Replicas   int               `json:"replicas"`        // R
	Client     string            `json:"client_addr"`
	Internal   string            `json:"internal_addr"`
	Gossip     string            `json:"gossip_addr"`
	Readiness  Readiness         `json:"readiness"`
	Sessions   int               `json:"sessions"` // logged-in sessions at this node
	Members    []MemberStatus    `json:"members"`
	Parts      []PartitionStatus `json:"partitions"` // every partition, by id
}

// MemberStatus is one member as gossip reports it to this node.
type MemberStatus struct {
	ID       string    `json:"id"`
	State    string    `json:"state"`   // alive, suspect, dead or left
	Leaving  bool      `json:"leaving"` // announced a graceful leave, handing off
	Since    time.Time `json:"since"`   // when it entered State (this node's clock)
	Client   string    `json:"client_addr"`
	Internal string    `json:"internal_addr"`
	Gossip   string    `json:"gossip_addr"`
	Sessions uint32    `json:"sessions"` // the load it gossips: its logged-in sessions
	Leaders  int       `json:"leaders"`  // partitions it leads, as it gossips (-1: it does not say)
}

// PartitionStatus is one partition. A partition open on this node
// (Hosted) is described from its Raft group here; for one that is not,
// only the leader this node last learned of is known (from replies to
// its requests), and may be stale or empty.
type PartitionStatus struct {
	ID     uint16 `json:"id"`
	Hosted bool   `json:"hosted"`         // open on this node
	Role   string `json:"role,omitempty"` // this node's Raft state: Leader, Follower, Candidate
	Leader string `json:"leader"`         // node id of the leader ("" unknown)
	Source string `json:"leader_source"`  // "raft" (this node's group) or "hint" (a reply)
	Term   uint64 `json:"term,omitempty"` // current term here
	Commit uint64 `json:"commit_index,omitempty"`
	Apply  uint64 `json:"applied_index,omitempty"`
	Last   uint64 `json:"last_log_index,omitempty"`
	// Lag is what this node has committed and not applied yet
	// (commit_index - applied_index).
	Lag uint64 `json:"lag"`
	// LastContactMS: a follower's time since it last heard from its
	// leader, in ms; 0 on the leader, -1 if never.
	LastContactMS int64    `json:"last_contact_ms"`
	Voters        []string `json:"voters,omitempty"`
	NonVoters     []string `json:"nonvoters,omitempty"`
}

// Readiness says whether the node is serving clients fully: it has joined
// a cluster, its client listener is up, every partition placed on it is
// open, and every partition has a leader it can reach. Reasons say what
// is missing (or, while Ready, what has been missing for less than
// ReadyGrace).
type Readiness struct {
	Ready   bool     `json:"ready"`
	Reasons []string `json:"reasons,omitempty"`
}

// ReadyGrace is how long a node that has been ready stays ready while a
// partition has no leader or a placed partition is not open yet: a
// leadership transfer (balance moves leaders after every join) or an
// election leaves a partition without a leader for a moment, and a node
// that answered "not ready" for each would flap in a load balancer. It is
// longer than an election (1-2.6 s). Shutting down is never graced.
const ReadyGrace = 3 * time.Second

// readyState remembers what the last Readiness calls saw (status.go).
type readyState struct {
	mu        sync.Mutex
	was       bool      // fully ready at least once
	missSince time.Time // since when every call saw something missing (zero: the last call saw nothing)
}

// Readiness reports whether the node is serving (roamd -http /readyz).
// Until it has been fully ready once, anything missing makes it not
// ready; after that, only what stays missing for ReadyGrace (as seen by
// calls at least that far apart) or a shutdown.
func (n *Node) Readiness() Readiness {
	rd, _ := n.readiness()
	return rd
}

// readiness also returns how many partitions have no leader this node
// can reach (0 when it did not look: the node is shutting down).
func (n *Node) readiness() (_ Readiness, unled int) {
	var why []string
	switch {
	case n.closed.Load():
		why = append(why, "shutting down")
	case n.meta.ClusterID == "":
		why = append(why, "not joined to a cluster")
	case n.vlr == nil:
		why = append(why, "client listener not up")
	default:
		if pl := n.currentPlacement(); pl == nil {
			why = append(why, "no placement yet (no members known)")
		} else {
			closed := 0
			for pid := 0; pid < n.meta.Partitions; pid++ {
				if slices.Contains(pl.Replicas(uint16(pid)), n.meta.NodeID) {
					if _, open := n.host.Partition(uint16(pid)); !open {
						closed++
					}
				}
			}
			if closed > 0 {
				why = append(why, fmt.Sprintf("%d partitions placed here are not open", closed))
			}
		}
		if unled = n.partitionsWithoutLeader(context.Background()); unled > 0 {
			why = append(why, fmt.Sprintf("%d of %d partitions have no leader", unled, n.meta.Partitions))
		}
		ready := n.ready.graced(len(why) == 0, time.Now())
		if n.draining.Load() {
			// Not graced: a load balancer must stop sending clients now.
			ready, why = false, append(why, "draining")
		}
		return Readiness{Ready: ready, Reasons: why}, unled
	}
	return Readiness{Reasons: why}, unled
}

// graced records one look (ok: nothing missing) and says whether the
// node counts as ready.
func (r *readyState) graced(ok bool, now time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if ok {
		r.was, r.missSince = true, time.Time{}
		return true
	}
	if r.missSince.IsZero() {
		r.missSince = now
	}
	return r.was && now.Sub(r.missSince) < ReadyGrace
}

// Status returns the cluster as this node sees it (roamd -http /status).
func (n *Node) Status() Status {
	st := Status{
		Node: n.meta.NodeID, Cluster: n.meta.ClusterID,
		Partitions: n.meta.Partitions, Replicas: n.meta.Replicas,
		Internal: n.internalAddr, Readiness: n.Readiness(),
		Members: n.memberStatus(),
	}
	if n.vlr != nil {
		st.Client = n.ClientAddr()
		st.Sessions = n.vlr.Sessions()
	}
	if n.gossip != nil {
		st.Gossip = n.gossip.Addr()
	}
	byAddr := make(map[string]string, len(st.Members))
	for _, m := range st.Members {
		byAddr[m.Internal] = m.ID
	}
	for pid := 0; pid < n.meta.Partitions; pid++ {
		if ps, ok := n.partitionStatus(uint16(pid)); ok {
			st.Parts = append(st.Parts, ps)
			continue
		}
		ps := PartitionStatus{ID: uint16(pid), Source: "hint", LastContactMS: -1}
		if a := n.hints.get(uint16(pid)); a != "" {
			ps.Leader = byAddr[a]
		}
		st.Parts = append(st.Parts, ps)
	}
	return st
}

func (n *Node) memberStatus() []MemberStatus {
	if n.gossip == nil {
		return nil
	}
	ms := n.gossip.Members()
	out := make([]MemberStatus, 0, len(ms))
	for _, m := range ms {
		out = append(out, MemberStatus{
			ID: m.ID, State: m.State.String(), Leaving: m.Leaving, Since: m.Since,
			Client: m.Meta.ClientAddr, Internal: m.Meta.InternalAddr, Gossip: m.GossipAddr,
			Sessions: m.Meta.Load, Leaders: m.Meta.Leaders,
		})
	}
	return out
}

// partitionStatus describes pid from its Raft group here, if it is open.
func (n *Node) partitionStatus(pid uint16) (PartitionStatus, bool) {
	if n.host == nil {
		return PartitionStatus{}, false
	}
	p, ok := n.host.Partition(pid)
	if !ok {
		return PartitionStatus{}, false
	}
	r := p.Raft()
	ps := PartitionStatus{
		ID: pid, Hosted: true, Role: r.State().String(), Source: "raft",
		Term: r.CurrentTerm(), Commit: r.CommitIndex(), Apply: r.AppliedIndex(), Last: r.LastIndex(),
	}
	ps.Leader, _ = p.Leader()
	if ps.Commit > ps.Apply {
		ps.Lag = ps.Commit - ps.Apply
	}
	switch last := r.LastContact(); {
	case r.State() == raft.Leader:
		ps.LastContactMS = 0
	case last.IsZero():
		ps.LastContactMS = -1
	default:
		ps.LastContactMS = time.Since(last).Milliseconds()
	}
	if f := r.GetConfiguration(); f.Error() == nil {
		for _, s := range f.Configuration().Servers {
			if s.Suffrage == raft.Voter {
				ps.Voters = append(ps.Voters, string(s.ID))
			} else {
				ps.NonVoters = append(ps.NonVoters, string(s.ID))
			}
		}
		sort.Strings(ps.Voters)
		sort.Strings(ps.NonVoters)
	}
	return ps, true
}

// Metrics is a snapshot of the node's counters and gauges, read at once
// for one scrape of roamd -http /metrics.
type Metrics struct {
	Node      string // this node's id
	Cluster   string // its cluster's id
	Readiness Readiness
	Client    vlr.Stats    // connections, sessions, queued output, slow consumers
	Requests  vlr.Counters // requests answered by type and code, pushes, latencies
	Delivery  DeliveryStats
	Gate      gate.Stats
	// GateQueued is the bytes waiting on the gate's connections.
	GateQueued int64
	Members    []MemberStatus
	// Partitions are the partitions open here (Hosted), by id.
	Partitions []PartitionStatus
	// Unled counts the partitions of the cluster without a leader this
	// node can reach.
	Unled int
	// Batches: commands per Raft entry proposed here.
	Batches hist.Snapshot
	// Changes are the reconciler's changes by kind (ChangeKinds).
	Changes map[string]uint64
	// Storage is Pebble's metrics; nil once the node is shut down.
	Storage *pebble.Metrics
	// Draining: Drain was called and Undrain not (drain.go).
	Draining bool
	// Scenes is what this node's scene hosting did (scene_host.go).
	Scenes SceneStats
}

// Metrics reads the node's counters (roamd -http /metrics).
func (n *Node) Metrics() Metrics {
	m := Metrics{
		Node: n.meta.NodeID, Cluster: n.meta.ClusterID,
		Members: n.memberStatus(), Changes: n.ReconcilerChanges(),
	}
	m.Readiness, m.Unled = n.readiness()
	m.Draining = n.draining.Load()
	if n.vlr != nil {
		m.Client = n.vlr.Stats()
		m.Requests = n.vlr.Counters()
	}
	if n.dl != nil {
		m.Delivery = n.DeliveryStats()
	}
	if n.scenes != nil {
		m.Scenes = n.SceneStats()
	}
	if n.gate != nil {
		m.Gate = n.gate.Stats()
		m.GateQueued = n.gate.QueuedBytes()
	}
	if n.host != nil {
		m.Batches = n.host.BatchSizes()
		for _, pid := range n.openPids() {
			if ps, ok := n.partitionStatus(pid); ok {
				m.Partitions = append(m.Partitions, ps)
			}
		}
		sort.Slice(m.Partitions, func(i, j int) bool { return m.Partitions[i].ID < m.Partitions[j].ID })
	}
	m.Storage = n.storageMetrics()
	return m
}

// storageMetrics returns Pebble's metrics, or nil once the node is shut
// down. A scrape that began just before Shutdown closed the DB could
// still reach it; Pebble's Metrics is not meant for a closed DB, so a
// panic there is turned into no storage metrics for that scrape.
func (n *Node) storageMetrics() (m *pebble.Metrics) {
	if n.db == nil || n.closed.Load() {
		return nil
	}
	defer func() {
		if recover() != nil {
			m = nil
		}
	}()
	return n.db.Metrics()
}

// memberStates are the gossip states, in the order metrics list them.
var memberStates = []gossip.State{gossip.StateAlive, gossip.StateSuspect, gossip.StateDead, gossip.StateLeft}

// MemberStates names the states a member can be in (MemberStatus.State).
func MemberStates() []string {
	out := make([]string, len(memberStates))
	for i, s := range memberStates {
		out[i] = s.String()
	}
	return out
}
