package mgmt

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/roamhq/roam/node"
	"github.com/roamhq/roam/vlr"
	"github.com/roamhq/roam/wire"
)

// fakeSource is a node whose answers the test sets.
type fakeSource struct {
	mu sync.Mutex
	rd node.Readiness
	st node.Status
	m  node.Metrics
}

func (f *fakeSource) Readiness() node.Readiness { f.mu.Lock(); defer f.mu.Unlock(); return f.rd }
func (f *fakeSource) Status() node.Status       { f.mu.Lock(); defer f.mu.Unlock(); return f.st }
func (f *fakeSource) Metrics() node.Metrics {
	f.mu.Lock()
	defer f.mu.Unlock()
	m := f.m
	m.Readiness = f.rd
	return m
}

func start(t *testing.T, pprof bool) *Server {
	t.Helper()
	s, err := New(Config{Addr: "127.0.0.1:0", Pprof: pprof})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func get(t *testing.T, s *Server, method, path string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, "http://"+s.Addr()+path, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestReadyz_FollowsTheNode: 503 "starting" before the node is attached,
// 503 with the node's reasons while it is not ready, 200 once it is, and
// 503 again when it stops being ready.
func TestReadyz_FollowsTheNode(t *testing.T) {
	s := start(t, false)
	if code, body := get(t, s, "GET", "/healthz"); code != 200 || body != "ok\n" {
		t.Fatalf("healthz before attach: %d %q", code, body)
	}
	if code, body := get(t, s, "GET", "/readyz"); code != 503 || !strings.Contains(body, "starting") {
		t.Fatalf("readyz before attach: %d %q", code, body)
	}
	if code, _ := get(t, s, "GET", "/status"); code != 503 {
		t.Fatalf("status before attach: %d", code)
	}
	src := &fakeSource{rd: node.Readiness{Reasons: []string{"3 of 8 partitions have no leader"}}}
	s.Attach(src)
	if code, body := get(t, s, "GET", "/readyz"); code != 503 || !strings.Contains(body, "3 of 8 partitions have no leader") {
		t.Fatalf("readyz while electing: %d %q", code, body)
	}
	src.mu.Lock()
	src.rd = node.Readiness{Ready: true}
	src.mu.Unlock()
	if code, body := get(t, s, "GET", "/readyz"); code != 200 || body != "ready\n" {
		t.Fatalf("readyz when ready: %d %q", code, body)
	}
	src.mu.Lock()
	src.rd = node.Readiness{Reasons: []string{"shutting down"}}
	src.mu.Unlock()
	if code, body := get(t, s, "GET", "/readyz"); code != 503 || !strings.Contains(body, "shutting down") {
		t.Fatalf("readyz when leaving: %d %q", code, body)
	}
}

func TestServer_ReadOnly(t *testing.T) {
	s := start(t, false)
	for _, m := range []string{"POST", "PUT", "DELETE", "PATCH"} {
		for _, p := range []string{"/healthz", "/readyz", "/status", "/metrics"} {
			if code, _ := get(t, s, m, p); code != http.StatusMethodNotAllowed {
				t.Fatalf("%s %s: %d, want 405", m, p, code)
			}
		}
	}
	if code, _ := get(t, s, "HEAD", "/healthz"); code != 200 {
		t.Fatalf("HEAD /healthz: %d", code)
	}
}

func TestPprof_OnlyWithTheFlag(t *testing.T) {
	off := start(t, false)
	if code, _ := get(t, off, "GET", "/debug/pprof/"); code != 404 {
		t.Fatalf("pprof without the flag: %d, want 404", code)
	}
	on := start(t, true)
	if code, body := get(t, on, "GET", "/debug/pprof/"); code != 200 || !strings.Contains(body, "goroutine") {
		t.Fatalf("pprof with the flag: %d", code)
	}
	if code, body := get(t, on, "GET", "/debug/pprof/goroutine?debug=1"); code != 200 || !strings.Contains(body, "goroutine profile") {
		t.Fatalf("goroutine profile: %d %.80q", code, body)
	}
}

func TestStatus_IsTheNodesStatusAsJSON(t *testing.T) {
	s := start(t, false)
	want := node.Status{Node: "n1", Cluster: "c1", Partitions: 2, Replicas: 3, Sessions: 5,
		Members: []node.MemberStatus{{ID: "n1", State: "alive", Sessions: 5, Leaders: 2}},
		Parts:   []node.PartitionStatus{{ID: 0, Hosted: true, Leader: "n1", Term: 4, Commit: 7, Voters: []string{"n1"}}, {ID: 1, Source: "hint"}}}
	s.Attach(&fakeSource{st: want, rd: node.Readiness{Ready: true}})
	code, body := get(t, s, "GET", "/status")
	if code != 200 {
		t.Fatalf("status: %d %s", code, body)
	}
	var got node.Status
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatal(err)
	}
	if got.Node != "n1" || got.Sessions != 5 || len(got.Members) != 1 || len(got.Parts) != 2 || got.Parts[0].Term != 4 || got.Parts[0].Leader != "n1" {
		t.Fatalf("status %+v", got)
	}
	for _, k := range []string{`"partition_count"`, `"commit_index"`, `"leader_source"`, `"voters"`, `"last_contact_ms"`} {
		if !strings.Contains(body, k) {
			t.Errorf("status JSON lacks %s", k)
		}
	}
}

// scrape returns the metric families of /metrics.
func scrape(t *testing.T, s *Server) map[string]*familyView {
	t.Helper()
	code, body := get(t, s, "GET", "/metrics")
	if code != 200 {
		t.Fatalf("metrics: %d %s", code, body)
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*familyView{}
	for name, f := range fams {
		v := &familyView{values: map[string]float64{}}
		for _, m := range f.Metric {
			var key []string
			for _, l := range m.Label {
				key = append(key, l.GetName()+"="+l.GetValue())
			}
			val := m.GetGauge().GetValue() + m.GetCounter().GetValue() + float64(m.GetHistogram().GetSampleCount())
			v.values[strings.Join(key, ",")] = val
		}
		out[name] = v
	}
	return out
}

type familyView struct{ values map[string]float64 }

// TestMetrics_ReadTheNodesCounters: each series says what the node's
// counters say, computed at scrape time.
func TestMetrics_ReadTheNodesCounters(t *testing.T) {
	s := start(t, false)
	if f := scrape(t, s); f["roam_ready"] == nil || f["roam_ready"].values[""] != 0 || f["go_goroutines"] == nil {
		t.Fatalf("before attach: want roam_ready 0 and the Go collector")
	}
	m := node.Metrics{
		Node: "n1", Cluster: "c1",
		Client: vlr.Stats{Conns: 7, PreLogin: 2, Sessions: 5, QueuedBytes: 100, OutputBudget: 1000, SlowConsumers: 3},
		Requests: vlr.Counters{
			Requests: []vlr.RequestCount{
				{Type: wire.TLoginFinish, Code: wire.CodeOK, N: 4}, {Type: wire.TLoginFinish, Code: wire.CodeAuthFailed, N: 2},
				{Type: wire.TSend, Code: wire.CodeOK, N: 10}, {Type: wire.TSend, Code: wire.CodeRefused, N: 1},
				{Type: wire.TSync, Code: wire.CodeOK, N: 6},
			},
			Deduplicated: 3, Delivered: 9,
		},
		Partitions: []node.PartitionStatus{
			{ID: 0, Role: "Leader", Term: 2, Commit: 10, Apply: 9, Lag: 1, Voters: []string{"a", "b", "c"}},
			{ID: 1, Role: "Follower", Term: 3, LastContactMS: -1},
		},
		Members: []node.MemberStatus{{ID: "a", State: "alive"}, {ID: "b", State: "alive", Leaving: true}, {ID: "c", State: "dead"}},
		Unled:   1,
		Changes: map[string]uint64{"promote": 2},
	}
	s.Attach(&fakeSource{m: m, rd: node.Readiness{Ready: true}})
	f := scrape(t, s)
	for _, c := range []struct {
		name, labels string
		want         float64
	}{
		{"roam_ready", "", 1},
		{"roam_node_info", "cluster=c1,node=n1", 1},
		{"roam_client_connections", "state=pre_login", 2},
		{"roam_client_connections", "state=logged_in", 5},
		{"roam_sessions", "", 5},
		{"roam_slow_consumer_disconnects_total", "", 3},
		{"roam_logins_total", "code=ok", 4},
		{"roam_logins_total", "code=auth_failed", 2},
		{"roam_resumes_total", "code=ok", 0},
		{"roam_client_requests_total", "code=refused,request=send", 1},
		{"roam_messages_sent_total", "", 11},
		{"roam_messages_committed_total", "", 7},
		{"roam_messages_deduplicated_total", "", 3},
		{"roam_messages_refused_total", "code=refused", 1},
		{"roam_messages_delivered_total", "", 9},
		{"roam_sync_pages_total", "", 6},
		{"roam_raft_leader", "partition=0", 1},
		{"roam_raft_leader", "partition=1", 0},
		{"roam_raft_term", "partition=1", 3},
		{"roam_raft_apply_lag", "partition=0", 1},
		{"roam_raft_voters", "partition=0", 3},
		{"roam_raft_last_contact_seconds", "partition=0", 0},
		{"roam_partitions_open", "", 2},
		{"roam_partitions_led", "", 1},
		{"roam_partitions_without_leader", "", 1},
		{"roam_gossip_members", "state=alive", 2},
		{"roam_gossip_members", "state=dead", 1},
		{"roam_gossip_members", "state=left", 0},
		{"roam_gossip_members_leaving", "", 1},
		{"roam_reconciler_changes_total", "change=promote", 2},
		{"roam_reconciler_changes_total", "change=drop", 0},
	} {
		fam := f[c.name]
		if fam == nil {
			t.Errorf("%s missing", c.name)
			continue
		}
		got, ok := fam.values[c.labels]
		if !ok || got != c.want {
			t.Errorf("%s{%s} = %v (present %v), want %v", c.name, c.labels, got, ok, c.want)
		}
	}
	if _, ok := f["roam_raft_last_contact_seconds"].values["partition=1"]; ok {
		t.Errorf("last contact of a follower that never heard from a leader is exported")
	}
	if f["roam_pebble_disk_usage_bytes"] != nil {
		t.Errorf("storage series without storage metrics")
	}
}

func TestFamilies_NamedAndDescribedOnce(t *testing.T) {
	seen := map[string]bool{}
	for _, f := range families {
		if !strings.HasPrefix(f.name, "roam_") || f.help == "" || seen[f.name] {
			t.Errorf("family %q: prefix, help or duplicate", f.name)
		}
		if f.kind == counter && !strings.HasSuffix(f.name, "_total") {
			t.Errorf("counter %s does not end in _total", f.name)
		}
		seen[f.name] = true
	}
}
