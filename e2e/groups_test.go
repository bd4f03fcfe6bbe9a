package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/roamhq/roam/client"
	"github.com/roamhq/roam/hlr"
	"github.com/roamhq/roam/ring"
)

// groupLimitsConfig lifts the per-user group limits for tests that send
// many group messages from one user.
const groupLimitsConfig = `{"group_send_rate": 100000, "group_send_burst": 100000, "group_op_rate": 100000, "group_op_burst": 100000}`

// leaderOf asks the management endpoints of procs which node leads
// partition pid, and returns its index in procs (-1 if none says).
func leaderOf(t *testing.T, procs []*proc, https []string, pid uint16) int {
	t.Helper()
	for _, h := range https {
		code, body := httpGet(h, "/status")
		if code != 200 {
			continue
		}
		var st struct {
			Parts []struct {
				ID     uint16 `json:"id"`
				Leader string `json:"leader"`
				Role   string `json:"role"`
			} `json:"partitions"`
		}
		if json.Unmarshal([]byte(body), &st) != nil {
			continue
		}
		for _, p := range st.Parts {
			if p.ID == pid && p.Role == "Leader" {
				for i := range procs {
					if p.Leader == fmt.Sprintf("n%d", i+1) {
						return i
					}
				}
			}
		}
	}
	return -1
}

// TestGroups_KillLeaderMidTraffic: a group with a member on each of three
// roamd processes; while one member sends a stream of group messages, the
// node leading the group's partition is killed with SIGKILL. Every
// acknowledged message reaches every member's device (the device of the
// killed node's member after it has moved to another node), in order,
// each once; nothing is delivered twice.
func TestGroups_KillLeaderMidTraffic(t *testing.T) {
	if testing.Short() {
		t.Skip("spawns a cluster")
	}
	cfgFile := filepath.Join(t.TempDir(), "groups.json")
	if err := os.WriteFile(cfgFile, []byte(groupLimitsConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	procs := startCluster(t, 3, "-config", cfgFile, "-http", "127.0.0.1:0")
	var https []string
	for _, p := range procs {
		https = append(https, mgmtAddr(t, p))
	}
	const g = "crew"
	pid := ring.PartitionOf(hlr.GroupKey(g), 64)
	leader := -1
	for deadline := time.Now().Add(30 * time.Second); leader < 0; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no leader of partition %d", pid)
		}
		leader = leaderOf(t, procs, https, pid)
	}
	sender := (leader + 1) % 3
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	dialUser := func(i int, user string) *client.Client {
		cfg := client.DefaultConfig(procs[i].client)
		cfg.Device = user + "-dev"
		cfg.RequestTimeout = 3 * time.Second
		cfg.MaxSendAttempts = 100
		cfg.RetryBackoff = 50 * time.Millisecond
		cfg.MaxBackoff = 500 * time.Millisecond
		c, err := client.Dial(ctx, cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		if err := c.Register(ctx, user, "pw-"+user); err != nil {
			t.Fatal(err)
		}
		if err := c.Login(ctx, user, "pw-"+user); err != nil {
			t.Fatal(err)
		}
		return c
	}
	members := make([]*client.Client, 3)
	for i := range members {
		members[i] = dialUser(i, fmt.Sprintf("mem%d", i+1))
	}
	open := true
	if err := members[sender].GroupCreate(ctx, g, client.GroupSettings{Open: &open}); err != nil {
		t.Fatal(err)
	}
	for i, m := range members {
		if i != sender {
			if err := m.GroupJoin(ctx, g); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Each member's device records the group messages it receives.
	type recv struct {
		mu   sync.Mutex
		seqs []uint64
		body []string
	}
	got := make([]*recv, 3)
	var wg sync.WaitGroup
	for i, m := range members {
		got[i] = &recv{}
		wg.Add(1)
		go func(r *recv, m *client.Client) {
			defer wg.Done()
			for ev := range m.Events() {
				if ev.Kind == client.EventGroupMessage && ev.Group == g && ev.GroupMessage.Kind == "" {
					r.mu.Lock()
					r.seqs = append(r.seqs, ev.GroupMessage.Seq)
					r.body = append(r.body, string(ev.GroupMessage.Body))
					r.mu.Unlock()
				}
			}
		}(got[i], m)
	}
	time.Sleep(time.Second) // every member synced and registered
	acked := map[string]uint64{}
	const total = 150
	for k := 0; k < total; k++ {
		if k == total/3 {
			t.Logf("kill -9 of n%d, the leader of %s's partition %d", leader+1, g, pid)
			procs[leader].kill()
		}
		body := fmt.Sprintf("m%03d", k)
		a, err := members[sender].GroupSend(ctx, g, []byte(body))
		if err != nil {
			t.Logf("send %d: %v (outcome unknown)", k, err)
			continue
		}
		acked[body] = a.Seq
		time.Sleep(10 * time.Millisecond)
	}
	if len(acked) < total/2 {
		t.Fatalf("only %d of %d sends acknowledged", len(acked), total)
	}
	// Wait until every member has every acknowledged message.
	deadline := time.Now().Add(30 * time.Second)
	for i := range members {
		r := got[i]
		for {
			r.mu.Lock()
			have := map[string]bool{}
			for _, b := range r.body {
				have[b] = true
			}
			missing := 0
			for b := range acked {
				if !have[b] {
					missing++
				}
			}
			r.mu.Unlock()
			if missing == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("m%d (on n%d at first) lacks %d of the %d acknowledged messages", i+1, i+1, missing, len(acked))
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	for i, r := range got {
		r.mu.Lock()
		seen := map[string]bool{}
		for j, b := range r.body {
			if seen[b] {
				t.Errorf("m%d got %s twice", i+1, b)
			}
			seen[b] = true
			if j > 0 && r.seqs[j] <= r.seqs[j-1] {
				t.Errorf("m%d: seq %d after %d", i+1, r.seqs[j], r.seqs[j-1])
			}
			if s, ok := acked[b]; ok && s != r.seqs[j] {
				t.Errorf("m%d: %s at seq %d, acknowledged at %d", i+1, b, r.seqs[j], s)
			}
		}
		t.Logf("m%d: %d messages, in order, none twice", i+1, len(r.body))
		r.mu.Unlock()
	}
}
