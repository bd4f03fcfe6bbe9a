package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/roamhq/roam/node/clustertest"
	"github.com/roamhq/roam/node/mgmt"
)

// TestAdminStatus_ThreeNodes runs "roam admin status" against the
// management endpoints of a real 3-node cluster (in-process nodes, real
// TCP): 3 live members, and every partition with the leader Raft reports,
// as a table and as JSON; asked one node only, it still lists all of them
// (with R=3 every node hosts every partition).
func TestAdminStatus_ThreeNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster")
	}
	const P = 8
	c := clustertest.New(t, 3, clustertest.Options{Partitions: P})
	var addrs []string
	for i := 0; i < 3; i++ {
		s, err := mgmt.New(mgmt.Config{Addr: "127.0.0.1:0"})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		s.Attach(c.Node(i))
		addrs = append(addrs, s.Addr())
	}
	ids := []string{c.Node(0).ID(), c.Node(1).ID(), c.Node(2).ID()}
	slices.Sort(ids)

	// The leaders may move while the test reads them (balance); compare
	// with Raft until one reading agrees throughout.
	var last string
	for attempt := 0; attempt < 20; attempt++ {
		code, out, errs := runCLI(t, "", nil, "admin", "status", "--json", "--http", strings.Join(addrs, ","))
		if code != 0 {
			t.Fatalf("admin status --json: exit %d: %s", code, errs)
		}
		var v clusterView
		if err := json.Unmarshal([]byte(out), &v); err != nil {
			t.Fatalf("admin status --json: %v\n%s", err, out)
		}
		if len(v.Members) != 3 || len(v.Asked) != 3 || len(v.Failed) != 0 {
			t.Fatalf("members %+v, asked %v, failed %v", v.Members, v.Asked, v.Failed)
		}
		var got []string
		for _, m := range v.Members {
			if m.State != "alive" {
				t.Fatalf("member %s is %s", m.ID, m.State)
			}
			got = append(got, m.ID)
		}
		if !slices.Equal(got, ids) {
			t.Fatalf("members %v, want %v", got, ids)
		}
		if len(v.Parts) != P || v.Unled != 0 || v.Partitions != P {
			t.Fatalf("partitions %d (of %d), %d without leader", len(v.Parts), v.Partitions, v.Unled)
		}
		last = ""
		for _, p := range v.Parts {
			cfg, ok := c.PartitionConfig(p.ID)
			if !ok || cfg.Leader != p.Leader || !slices.Equal(p.Voters, ids) || !p.Hosted {
				last = fmt.Sprintf("partition %d: leader %q voters %v hosted %v; raft says %+v", p.ID, p.Leader, p.Voters, p.Hosted, cfg)
				break
			}
		}
		if last == "" {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if last != "" {
		t.Fatalf("admin status never agreed with Raft: %s", last)
	}

	// The table, from one node (read again while a leadership moves: a
	// partition between leaders shows NONE for a moment).
	var out string
	for attempt := 0; ; attempt++ {
		var code int
		var errs string
		code, out, errs = runCLI(t, "", map[string]string{"ROAM_HTTP": addrs[1]}, "admin", "status")
		if code != 0 {
			t.Fatalf("admin status: exit %d: %s", code, errs)
		}
		if !strings.Contains(out, " NONE ") || attempt == 20 {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	memberRow := regexp.MustCompile(`(?m)^(\S+)\s+alive\s+127\.0\.0\.1:\d+\s+127\.0\.0\.1:\d+\s+\d+\s+\d+$`)
	var rows []string
	for _, m := range memberRow.FindAllStringSubmatch(out, -1) {
		rows = append(rows, m[1])
	}
	slices.Sort(rows)
	if !slices.Equal(rows, ids) {
		t.Fatalf("member rows %v, want %v:\n%s", rows, ids, out)
	}
	partRow := regexp.MustCompile(`(?m)^(\d+)\s+(\S+)\s+\d+\s+\d+\s+\d+\s+\d+\s+(\S+)\s+\S+$`)
	parts := partRow.FindAllStringSubmatch(out, -1)
	if len(parts) != P {
		t.Fatalf("%d partition rows, want %d:\n%s", len(parts), P, out)
	}
	for _, p := range parts {
		if !slices.Contains(ids, p[2]) || p[3] != strings.Join(ids, ",") {
			t.Fatalf("partition row %q: leader or voters wrong:\n%s", p[0], out)
		}
	}
	if !strings.Contains(out, "0 of 8 partitions without a leader") {
		t.Fatalf("no summary line:\n%s", out)
	}

	// Usage errors and an endpoint that does not answer.
	if code, _, errs := runCLI(t, "", nil, "admin", "status"); code != 2 || !strings.Contains(errs, "--http") {
		t.Fatalf("no address: exit %d %q", code, errs)
	}
	if code, _, errs := runCLI(t, "", nil, "admin", "status", "--http", "127.0.0.1:1"); code != 1 || !strings.Contains(errs, "no management endpoint answered") {
		t.Fatalf("dead address: exit %d %q", code, errs)
	}
}

// TestAdminDrain_ThreeNodes runs "roam admin drain NODE" and "roam admin
// undrain NODE" against a real node's management endpoint: refused
// without the token or with a wrong one, and with it the node drains
// (/readyz not ready) and undrains.
func TestAdminDrain_ThreeNodes(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster")
	}
	c := clustertest.New(t, 3, clustertest.Options{})
	const token = "an-admin-token-for-tests"
	s, err := mgmt.New(mgmt.Config{Addr: "127.0.0.1:0", AdminToken: token})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	s.Attach(c.Node(1))
	file := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(file, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, _, _ := runCLI(t, "", nil, "admin", "drain", s.Addr()); code != 2 {
		t.Fatalf("drain without a token: exit %d, want 2 (usage)", code)
	}
	if code, _, errs := runCLI(t, "", map[string]string{"ROAM_ADMIN_TOKEN": "wrong-token-wrong-token"}, "admin", "drain", s.Addr()); code != 1 || !strings.Contains(errs, "401") {
		t.Fatalf("drain with a wrong token: exit %d: %s", code, errs)
	}
	if c.Node(1).Draining() {
		t.Fatal("draining after a refused drain")
	}
	if code, out, errs := runCLI(t, "", nil, "admin", "drain", s.Addr(), "--token-file", file); code != 0 || !strings.Contains(out, "drained") {
		t.Fatalf("drain: exit %d: %s %s", code, out, errs)
	}
	if !c.Node(1).Draining() || c.Node(1).Readiness().Ready {
		t.Fatalf("after drain: draining %v, readiness %+v", c.Node(1).Draining(), c.Node(1).Readiness())
	}
	if code, out, errs := runCLI(t, "", map[string]string{"ROAM_ADMIN_TOKEN": token}, "admin", "undrain", s.Addr()); code != 0 || !strings.Contains(out, "undrained") {
		t.Fatalf("undrain: exit %d: %s %s", code, out, errs)
	}
	if c.Node(1).Draining() {
		t.Fatal("still draining after undrain")
	}
}
