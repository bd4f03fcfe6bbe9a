package node

import (
	"testing"
)

// TestLeaderPartitions_SingleNodeLeadsEveryPartition: the one node of a
// new cluster leads all of its partitions, and says so in order; its
// gate has no connection to reset.
func TestLeaderPartitions_SingleNodeLeadsEveryPartition(t *testing.T) {
	n := startNode(t, testConfig(t, t.TempDir()))
	defer shutdown(t, n)
	got := n.LeaderPartitions()
	if len(got) != n.Partitions() {
		t.Fatalf("leads %v, want all %d partitions", got, n.Partitions())
	}
	for i, pid := range got {
		if int(pid) != i {
			t.Fatalf("leads %v, want 0..%d in order", got, n.Partitions()-1)
		}
	}
	if k := n.ResetGateConnections(); k != 0 {
		t.Fatalf("a lone node reset %d gate connections", k)
	}
}
