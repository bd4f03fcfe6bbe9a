package e2e

import (
	"bufio"
	"encoding/base64"
	"io"
	"net/http"
	"os"
	"regexp"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/roamhq/roam/internal/roamdproc"
	"github.com/roamhq/roam/wire"
)

// The management endpoint (roamd -http) of real roamd processes.

var mgmtLineRE = regexp.MustCompile(`management endpoint listening"[^\n]*? addr=(\S+)`)

// mgmtAddr waits for p's log line naming its -http address.
func mgmtAddr(t *testing.T, p *proc) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if m := mgmtLineRE.FindStringSubmatch(p.logs.String()); m != nil {
			return m[1]
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no management endpoint line in the logs:\n%s", p.logs.String())
	return ""
}

// spawnRoamd starts a node without waiting for it to be ready (a joiner
// whose seed is not up yet never is).
func spawnRoamd(t *testing.T, dir string, extra ...string) *proc {
	t.Helper()
	p := &proc{t: t, dir: dir, logs: &roamdproc.Buffer{}}
	p.args = append([]string{"-data", dir, "-client", "127.0.0.1:0", "-internal", "127.0.0.1:0", "-gossip", "127.0.0.1:0", "-partitions", "8"}, extra...)
	p.spawn(roamdproc.DefaultConfig(roamdBin, p.args...))
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			t.Logf("roamd logs:\n%s", p.logs.String())
		}
	})
	return p
}

// httpGet returns the status code and body of GET http://addr/path (0
// when the connection fails).
func httpGet(addr, path string) (int, string) {
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + addr + path)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// documentedMetrics reads the metric names OPERATIONS.md lists: the
// first cell of each row of its metrics tables.
func documentedMetrics(t *testing.T) []string {
	t.Helper()
	f, err := os.Open("../OPERATIONS.md")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	row := regexp.MustCompile("^\\| `(roam_[a-z0-9_]+)` \\|")
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if m := row.FindStringSubmatch(sc.Text()); m != nil {
			out = append(out, m[1])
		}
	}
	if len(out) == 0 {
		t.Fatal("OPERATIONS.md lists no roam_ metric")
	}
	sort.Strings(out)
	return out
}

// TestMetrics_ExactlyTheDocumentedSeries scrapes /metrics of a real node
// that has served some traffic and compares the roam_ families with the
// list in OPERATIONS.md, both ways; every other family must be the Go
// runtime's (go_) or the process's (process_), which OPERATIONS.md lists
// as those two groups. It also checks that the counters counted the
// traffic.
func TestMetrics_ExactlyTheDocumentedSeries(t *testing.T) {
	p := startRoamd(t, t.TempDir(), "-http", "127.0.0.1:0", "-log-level", "info")
	h := mgmtAddr(t, p)

	signup(t, p.client, "alice")
	signup(t, p.client, "bob")
	a := loginAs(t, p.client, "alice", "phone")
	b := loginAs(t, p.client, "bob", "phone")
	b.callErr(wire.TSend, &wire.Send{To: "alice", CMID: 9, Body: []byte("stranger")}, wire.CodeRefused)
	befriend(t, a, b)
	a.syncAll(0)
	b.syncAll(0)
	if ack := a.sendMsg("bob", 1, "hi"); ack.Dup {
		t.Fatalf("first send acked as a duplicate: %+v", ack)
	}
	if m := b.nextMessage(); string(m.Body) != "hi" {
		t.Fatalf("bob got %+v", m)
	}
	if ack := a.sendMsg("bob", 1, "hi"); !ack.Dup {
		t.Fatalf("retried send not acked as a duplicate: %+v", ack)
	}
	r, _ := hello(t, p.client)
	var res wire.LoginOK
	r.call(wire.TResume, &wire.Resume{User: "bob", Device: "phone", Token: b.ok.Token}, wire.TLoginOK, &res)

	code, body := httpGet(h, "/metrics")
	if code != 200 {
		t.Fatalf("/metrics: %d %s", code, body)
	}
	parser := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := parser.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var scraped []string
	for name := range fams {
		switch {
		case strings.HasPrefix(name, "roam_"):
			scraped = append(scraped, name)
		case strings.HasPrefix(name, "go_"), strings.HasPrefix(name, "process_"):
		default:
			t.Errorf("undocumented family %s (neither roam_, go_ nor process_)", name)
		}
	}
	sort.Strings(scraped)
	doc := documentedMetrics(t)
	for _, n := range scraped {
		if !slices.Contains(doc, n) {
			t.Errorf("%s is exported but not listed in OPERATIONS.md", n)
		}
	}
	for _, n := range doc {
		if !slices.Contains(scraped, n) {
			t.Errorf("%s is listed in OPERATIONS.md but not exported", n)
		}
	}
	for _, n := range []string{"go_goroutines", "process_open_fds"} {
		if fams[n] == nil {
			t.Errorf("%s missing (OPERATIONS.md names it)", n)
		}
	}

	value := func(name string, labels ...string) float64 {
		t.Helper()
		f := fams[name]
		if f == nil {
			t.Fatalf("%s missing", name)
		}
	next:
		for _, m := range f.Metric {
			for i := 0; i+1 < len(labels); i += 2 {
				found := false
				for _, l := range m.Label {
					found = found || l.GetName() == labels[i] && l.GetValue() == labels[i+1]
				}
				if !found {
					continue next
				}
			}
			return m.GetCounter().GetValue() + m.GetGauge().GetValue() + float64(m.GetHistogram().GetSampleCount())
		}
		t.Fatalf("%s%v missing", name, labels)
		return 0
	}
	for _, c := range []struct {
		name   string
		labels []string
		min    float64
	}{
		{"roam_ready", nil, 1},
		{"roam_registrations_total", []string{"code", "ok"}, 2},
		{"roam_logins_total", []string{"code", "ok"}, 2},
		{"roam_resumes_total", []string{"code", "ok"}, 1},
		{"roam_messages_refused_total", []string{"code", "refused"}, 1},
		{"roam_messages_sent_total", nil, 3},
		{"roam_messages_committed_total", nil, 1},
		{"roam_messages_deduplicated_total", nil, 1},
		{"roam_messages_delivered_total", nil, 1},
		{"roam_sync_pages_total", nil, 2},
		{"roam_send_commit_seconds", nil, 2},
		{"roam_partitions_open", nil, 8},
		{"roam_partitions_led", nil, 8},
		{"roam_gossip_members", []string{"state", "alive"}, 1},
		{"roam_pebble_wal_fsync_seconds", nil, 1},
		{"roam_proposer_batch_commands", nil, 1},
	} {
		if v := value(c.name, c.labels...); v < c.min {
			t.Errorf("%s%v = %v, want at least %v", c.name, c.labels, v, c.min)
		}
	}
	if v := value("roam_messages_committed_total"); v != 1 {
		t.Errorf("committed %v, want exactly 1 (the retry is a duplicate)", v)
	}
	if v := value("roam_partitions_without_leader"); v != 0 {
		t.Errorf("partitions without leader %v on a ready node", v)
	}
}

// TestReadyz_ChangesStateAtStartup: a node that joins a cluster whose seed
// is not up yet answers /healthz at once and /readyz 503 for as long as
// the seed is missing; once the seed runs, /readyz turns 200; when it is
// told to stop, /readyz answers 503 "shutting down" while it hands off.
func TestReadyz_ChangesStateAtStartup(t *testing.T) {
	seedGossip := freeAddr(t)
	key := base64.StdEncoding.EncodeToString([]byte(strings.Repeat("k", 32)))
	p2 := spawnRoamd(t, t.TempDir(), "-join", seedGossip, "-cluster-key", key, "-http", "127.0.0.1:0", "-log-level", "info", "-gossip-fast")
	h := mgmtAddr(t, p2)
	if code, body := httpGet(h, "/healthz"); code != 200 {
		t.Fatalf("/healthz of a starting node: %d %s", code, body)
	}
	for end := time.Now().Add(time.Second); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		if code, body := httpGet(h, "/readyz"); code != 503 || !strings.Contains(body, "not ready") {
			t.Fatalf("/readyz while the seed is down: %d %q, want 503", code, body)
		}
	}
	startRoamd(t, t.TempDir(), "-gossip", seedGossip, "-cluster-key", key, "-gossip-fast")
	deadline := time.Now().Add(60 * time.Second)
	for {
		code, body := httpGet(h, "/readyz")
		if code == 200 {
			break
		}
		if code != 503 || time.Now().After(deadline) {
			t.Fatalf("/readyz once the seed is up: %d %q", code, body)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if code, body := httpGet(h, "/status"); code != 200 || !strings.Contains(body, `"ready": true`) {
		t.Fatalf("/status of a ready node: %d %s", code, body)
	}

	syscall.Kill(p2.rp.PID(), syscall.SIGTERM)
	sawShutdown := false
	for !sawShutdown {
		code, body := httpGet(h, "/readyz")
		if code == 0 {
			break // the process is gone
		}
		if code == 503 && strings.Contains(body, "shutting down") {
			sawShutdown = true
		}
		time.Sleep(2 * time.Millisecond)
	}
	if !sawShutdown {
		t.Fatal("/readyz never said shutting down between SIGTERM and exit")
	}
	select {
	case <-p2.rp.Exited():
	case <-time.After(30 * time.Second):
		t.Fatal("roamd did not exit after SIGTERM")
	}
}
