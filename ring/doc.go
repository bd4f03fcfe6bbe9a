// Package ring decides where data lives: which partition is home to a user,
// and which members hold the replicas of each partition. It is pure and
// deterministic: no I/O, no clocks, no randomness, no Go map iteration order,
// no randomized hashing. Two nodes with the same inputs compute the same
// answers on any platform and with any Go version.
//
// # Users to partitions
//
// A cluster has a fixed number of partitions P, chosen when it is created
// (default 64, at most a few hundred in practice, MaxPartitions at most).
//
//	pid := ring.PartitionOf(user, P) // HashString(user) % P
//
// The user name must already be canonical. The hash is FNV-1a 64 followed by
// MurmurHash3's fmix64 finalizer (see Hash64); it is fixed forever, and the
// golden files in testdata/ pin it. PartitionOf does not allocate.
//
// # Partitions to replicas
//
// Given the live members, Place computes every partition's replica set:
//
//	pl, err := ring.Place(P, 3, []ring.Member{{ID: "n1"}, {ID: "n2"}, {ID: "n3"}, {ID: "n4"}})
//	reps := pl.Replicas(pid) // e.g. [n3 n1 n4]; reps[0] is the preferred leader
//	sig := pl.Signature()    // compare with peers' signatures
//
// Each partition gets min(R, len(members)) distinct members; the order of the
// members slice does not matter. Replicas does not allocate, and its result
// must not be modified. Load, LeaderLoad and PartitionsOf report how the
// partitions spread. A Placement is immutable: recompute it when membership
// changes, and let nodes gossip Signature to detect differing views (the
// signature covers the inputs, the result and an algorithm version).
//
// # Why rendezvous hashing with a load cap
//
// Rendezvous (highest-random-weight) hashing ranks the members for each
// partition by a hash of (member, partition) and takes the top R. It needs no
// virtual nodes or ring walk, and when a member joins it only takes partitions
// where it now ranks in the top R, so about 1/(N+1) of the replicas move; when
// a member leaves, only its replicas move. Its weakness is balance: with few
// partitions per member the loads scatter like a binomial: with P=64, R=3
// and 10 members, plain rendezvous gives the busiest member typically 30% more
// than the mean, and 45% more for one name set in ten.
//
// The cap fixes that at a small cost in movement. With T = P*min(R,N)
// replicas over N members, no member gets more than
//
//	LoadCap = min(P, max(ceil(T/N), floor(1.15*T/N)))
//
// replicas (so max <= 1.15 x mean whenever the mean is 7 or more). Partitions
// are processed in pid order; each takes its top-ranked members that are under
// the cap. A look-ahead (see Place) skips a member only when taking it would
// leave later partitions unplaceable, so Place never fails and never exceeds
// the cap. Because the cap moves with N, a membership change also shifts a few
// replicas among members that were near the cap ("spill"). The tests measure
// it: adding a member moves on average 1.00-1.11x the ideal T/(N+1), and at
// worst about 1.3x for the pinned names (up to ~1.55x for unlucky names at
// P=64); removing one moves its own replicas plus a spill under 5% of all
// replicas, and none at all while the cap does not bind. Run
//
//	go test -v -run 'Balance|Movement' ./ring
//
// to see the figures.
//
// Preferred leaders are the first replica of each set; they are not capped,
// so LeaderLoad is less even than Load. Raft elections decide actual
// leadership; the preferred leader is a hint for leadership transfer.
//
// # Stability
//
// PartitionOf, Hash64, and the placement rule are part of the cluster's
// durable contract. Changing them is a data migration, not a refactor: the
// golden tests fail on any change. Regenerate them (go test ./ring -update)
// only together with a deliberate, versioned migration.
package ring
