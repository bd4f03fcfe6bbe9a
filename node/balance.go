package node

import (
	"slices"
	"sort"
)

// Leadership balance. Each partition's leader does its writes, so the
// number of partitions a node leads is its share of the write load. The
// ring's preferred replica (its first) is balanced only as a side effect
// of the replica cap: with five nodes and 64 partitions one node is the
// preferred replica of anything from about 7 to 23 partitions, and
// moving every leadership to its preferred replica is what left one node
// leading 23 and two leading 7.
//
// So every node gossips how many partitions it leads, and each leader
// decides, for each settled partition it leads, whether to hand it to
// another voter (transferTargets):
//
//   - never to a node that would not be better off: the receiver must
//     lead at least two fewer than this node, so every move lowers the
//     sum of squares of the counts and moves cannot go round in circles
//     (with current counts; stale ones cost a move or two more);
//   - never to a node at or above the limit, leadershipLimit: 1.15 times
//     the mean over the live nodes, rounded up — the same factor as the
//     ring's replica cap;
//   - to the preferred replica when it qualifies (so that, with the
//     counts even, leaderships go where placement says and stay there);
//   - and, when this node leads more than the limit, to the least loaded
//     voter that qualifies.
//
// The reconciler moves at most maxTransfersPerRound leaderships per round
// and at most one to each node, and only to a voter that has caught up,
// so the cluster does not churn.

// leadershipLimit is the most partitions one of live nodes should lead.
func leadershipLimit(partitions, live int) int {
	if live < 1 {
		return partitions
	}
	return min(partitions, max(1, (partitions*115+live*100-1)/(live*100)))
}

// transferTargets ranks the voters this node, leading mine partitions,
// should hand one of them to, best first; nil means keep it. voters are
// the partition's other voters that are alive; preferred is the
// placement's preferred replica; counts holds the leader counts the other
// nodes gossip (a node missing from it is not a candidate).
func transferTargets(mine int, voters []string, preferred string, counts map[string]int, limit int) []string {
	var ok []string
	for _, v := range voters {
		if c, known := counts[v]; known && c <= mine-2 && c < limit {
			ok = append(ok, v)
		}
	}
	if len(ok) == 0 {
		return nil
	}
	sort.Slice(ok, func(i, j int) bool {
		ci, cj := counts[ok[i]], counts[ok[j]]
		if ci != cj {
			return ci < cj
		}
		return ok[i] < ok[j]
	})
	if i := slices.Index(ok, preferred); i >= 0 {
		// The preferred replica first; the others only for a node over
		// the limit.
		if mine <= limit {
			return []string{preferred}
		}
		return append([]string{preferred}, slices.Delete(ok, i, i+1)...)
	}
	if mine <= limit {
		return nil
	}
	return ok
}
