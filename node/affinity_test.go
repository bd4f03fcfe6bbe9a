package node_test

import (
	"fmt"
	"os"
	"slices"
	"sort"
	"testing"
	"time"

	"github.com/roamhq/roam/client"
	"github.com/roamhq/roam/node"
	"github.com/roamhq/roam/node/clustertest"
	"github.com/roamhq/roam/ring"
)

// affinityRun logs in 24 users at the three nodes in turn and measures
// how many end up at the node leading their home partition, and how long
// a message to them takes from Send to the recipient's event.
func affinityRun(t *testing.T, affinity bool, perUser int) (home, counted int, lat []time.Duration) {
	const P, users = 8, 24
	c := clustertest.New(t, 3, clustertest.Options{Partitions: P, Configure: func(_ int, cfg *node.Config) {
		fastSends(0, cfg)
		cfg.Clients.Affinity = affinity
		cfg.Clients.Slack = 1000 // affinity only, no load moves
	}})
	waitLeadersStable(t, c, P, 1500*time.Millisecond)
	addrOf := map[string]string{}
	for i := 0; i < 3; i++ {
		addrOf[c.Node(i).ID()] = c.ClientAddr(i)
	}
	leaderOf := func(user string) string {
		cfg, _ := c.PartitionConfig(ring.PartitionOf(user, P))
		return cfg.Leader
	}
	sender := account(t, c, 0, fmt.Sprintf("asend%v", affinity))
	var recips []*client.Client
	for i := 0; i < users; i++ {
		name := fmt.Sprintf("arecv%v%d", affinity, i)
		before := leaderOf(name)
		r := account(t, c, i%3, name)
		settle(t, sender)
		settle(t, r) // a friend event is not stored: befriend once it stays put
		// Sessions do not follow a leadership that moves later (the
		// balancer's): count the users whose leader stayed put.
		if after := leaderOf(name); after == before && after != "" {
			counted++
			if r.Addr() == addrOf[after] {
				home++
			}
		}
		befriend(t, sender, r)
		recips = append(recips, r)
	}
	for k := 0; k < perUser; k++ {
		for _, r := range recips {
			body := fmt.Sprintf("a%d", k)
			start := time.Now()
			if _, err := sender.Send(ctx30(), r.User(), []byte(body)); err != nil {
				t.Fatal(err)
			}
			waitEvent(t, r, func(e client.Event) bool { return e.Kind == client.EventMessage && string(e.Message.Body) == body })
			lat = append(lat, time.Since(start))
		}
	}
	return home, counted, lat
}

// settle waits until cl has been at the same node for 300 ms.
func settle(t *testing.T, cl *client.Client) {
	t.Helper()
	last, since := "", time.Now()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if a := cl.Addr(); a != last || a == "" {
			last, since = a, time.Now()
		} else if time.Since(since) >= 300*time.Millisecond {
			return
		}
	}
	t.Fatalf("%s keeps moving", cl.User())
}

func pct(d []time.Duration, q float64) time.Duration {
	s := slices.Clone(d)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[int(q*float64(len(s)-1))]
}

// TestRedirect_AffinityPlacesOnHomeLeader: with Clients.Affinity a user
// logging in at any node ends up at the node leading its home partition
// (reason "affinity"). With ROAM_AFFINITY_MEASURE=1 it also runs without
// affinity and logs the send-to-push latency of both (the measurement
// OPERATIONS.md quotes).
func TestRedirect_AffinityPlacesOnHomeLeader(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test")
	}
	perUser := 2
	if os.Getenv("ROAM_AFFINITY_MEASURE") != "" {
		perUser = 10
		offHome, offN, offLat := affinityRun(t, false, perUser)
		t.Logf("without affinity: %d of %d users at their home leader; send→push p50 %v p90 %v", offHome, offN, pct(offLat, 0.5), pct(offLat, 0.9))
	}
	onHome, onN, onLat := affinityRun(t, true, perUser)
	t.Logf("with affinity:    %d of %d users at their home leader; send→push p50 %v p90 %v", onHome, onN, pct(onLat, 0.5), pct(onLat, 0.9))
	if onN < 12 {
		t.Fatalf("leaderships kept moving: only %d of 24 logins saw the same leader before and after", onN)
	}
	if onHome*10 < onN*9 {
		t.Errorf("with affinity only %d of %d users are at their home partition's leader", onHome, onN)
	}
}
