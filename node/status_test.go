package node_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/roamhq/roam/node"
	"github.com/roamhq/roam/node/clustertest"
)

// TestStatus_ThreeNodes: each node's Status lists the three members alive
// and every partition hosted, led and with three voters; the reconciler
// counted the replicas it added and promoted to get there; Metrics reads
// the open partitions and Pebble; a node that has stopped says so and
// still answers.
func TestStatus_ThreeNodes(t *testing.T) {
	const P = 8
	c := clustertest.New(t, 3, clustertest.Options{Partitions: P})
	var ids []string
	for i := 0; i < 3; i++ {
		ids = append(ids, c.Node(i).ID())
	}
	slices.Sort(ids)
	// Readiness does not wait for the placement: a node is ready while the
	// last replicas are still being promoted. Wait for them.
	c.WaitVoters(3, 30*time.Second)
	c.WaitLeaders(30 * time.Second)
	for i := 0; i < 3; i++ {
		n := c.Node(i)
		deadline := time.Now().Add(10 * time.Second)
		for !n.Readiness().Ready {
			if time.Now().After(deadline) {
				t.Fatalf("%s not ready: %v", n.ID(), n.Readiness().Reasons)
			}
			time.Sleep(20 * time.Millisecond)
		}
		// A follower learns the last promotion with the leader's next
		// append or heartbeat: WaitVoters saw it at the leaders.
		st := n.Status()
		for deadline := time.Now().Add(10 * time.Second); !allVoters(st, ids) && time.Now().Before(deadline); st = n.Status() {
			time.Sleep(20 * time.Millisecond)
		}
		if st.Node != n.ID() || st.Partitions != P || st.Replicas != 3 || len(st.Members) != 3 || len(st.Parts) != P {
			t.Fatalf("%s: status %+v", n.ID(), st)
		}
		for _, m := range st.Members {
			if m.State != "alive" || m.Leaving || m.Client == "" || m.Internal == "" {
				t.Fatalf("%s sees member %+v", n.ID(), m)
			}
		}
		for _, p := range st.Parts {
			if !p.Hosted || p.Source != "raft" || !slices.Contains(ids, p.Leader) || !slices.Equal(p.Voters, ids) || p.Term == 0 || p.Apply == 0 {
				t.Fatalf("%s sees partition %+v", n.ID(), p)
			}
		}
		m := n.Metrics()
		if len(m.Partitions) != P || m.Storage == nil || m.Unled != 0 || !m.Readiness.Ready || m.Node != n.ID() {
			t.Fatalf("%s: metrics: %d partitions, storage %v, unled %d, ready %v", n.ID(), len(m.Partitions), m.Storage != nil, m.Unled, m.Readiness.Ready)
		}
	}
	// Node 0 created every partition alone; the other two were added to
	// each as non-voters and promoted, by whichever node led it then.
	sum := map[string]uint64{}
	for i := 0; i < 3; i++ {
		for k, v := range c.Node(i).ReconcilerChanges() {
			sum[k] += v
		}
	}
	if sum["add-nonvoter"] < 2*P || sum["promote"] < 2*P {
		t.Fatalf("reconciler changes %v, want at least %d adds and promotions", sum, 2*P)
	}
	if len(sum) != len(node.ChangeKinds) {
		t.Fatalf("changes %v do not list every kind of %v", sum, node.ChangeKinds)
	}

	n := c.Node(2)
	c.Kill(2)
	rd := n.Readiness()
	if rd.Ready || !strings.Contains(strings.Join(rd.Reasons, ";"), "shutting down") {
		t.Fatalf("a stopped node's readiness: %+v", rd)
	}
	if m := n.Metrics(); m.Storage != nil || m.Readiness.Ready {
		t.Fatalf("a stopped node's metrics: storage %v ready %v", m.Storage != nil, m.Readiness.Ready)
	}
	_ = n.Status() // answers, without its closed DB
}

// allVoters reports whether every partition in st lists exactly ids as
// its voters.
func allVoters(st node.Status, ids []string) bool {
	for _, p := range st.Parts {
		if !slices.Equal(p.Voters, ids) {
			return false
		}
	}
	return true
}
