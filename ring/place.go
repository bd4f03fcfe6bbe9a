package ring

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
)

// algorithmVersion is mixed into every Signature. Bump it whenever a change
// (to the hash, the score, the cap or the processing order) can change any
// placement, so nodes running different versions see different signatures.
const algorithmVersion = 1

// Cap factor: no member holds more than capNum/capDen of the mean load
// (unless the mean is so small that the ceiling of the mean is larger).
const (
	capNum = 115
	capDen = 100
)

// Member is one node that can hold partition replicas.
type Member struct {
	// ID names the member; it must be non-empty and unique. It is hashed, so
	// it must be stable for the member's lifetime (a node id, not an address
	// that may change).
	ID string

	// Room for later fields (zone, weight, ...). Any field that takes part in
	// placement must also be written into the signature and must bump
	// algorithmVersion.
}

// Errors returned by Place.
var (
	ErrPartitions  = errors.New("ring: partitions must be in [1, 65536]")
	ErrReplicas    = errors.New("ring: replicas must be at least 1")
	ErrNoMembers   = errors.New("ring: no members")
	ErrEmptyID     = errors.New("ring: member with empty id")
	ErrDuplicateID = errors.New("ring: duplicate member id")
)

// Placement is the replica set of every partition, computed by Place. It is
// immutable and safe for concurrent use.
type Placement struct {
	partitions int
	replicas   int      // requested replication factor
	width      int      // replicas per partition: min(replicas, len(members))
	members    []string // sorted member ids
	table      []string // partitions*width ids; table[p*width:(p+1)*width] is p's set in order
	loads      []int    // replicas per member, indexed like members
	leaders    []int    // first replicas per member, indexed like members
	sig        uint64
}

// LoadCap returns the most replicas Place gives one member when placing
// partitions*min(replicas, members) replicas on members nodes:
//
//	T   = partitions * min(replicas, members)    (total replicas)
//	cap = min(partitions, max(ceil(T / members), floor(1.15 * T / members)))
//
// computed exactly in integers (a member cannot hold a partition twice, hence
// the bound by partitions). With T/members >= 7 the ceiling is never the
// larger term, so no member holds more than 1.15 times the mean; below that
// the cap is the smallest load that can hold every replica. It returns 0 for
// arguments Place would reject.
func LoadCap(partitions, replicas, members int) int {
	if partitions < 1 || partitions > MaxPartitions || replicas < 1 || members < 1 {
		return 0
	}
	w := int64(min(replicas, members))
	t, n := int64(partitions)*w, int64(members)
	lo := (t + n - 1) / n
	hi := t * capNum / (capDen * n)
	return int(min(int64(partitions), max(lo, hi)))
}

// Place computes the replica sets of partitions partitions, each of
// min(replicas, len(members)) distinct members, by rendezvous hashing with a
// load cap. The order of members does not matter. The result depends only on
// the arguments: every node that calls Place with the same view of the
// membership gets the same Placement and the same Signature.
//
// The rule, for partitions p = 0, 1, ..., partitions-1 in that order:
//
//  1. Rank all members by score(member, p) (a fixed hash of the member id and
//     p), highest first; equal scores are ranked by id.
//  2. Walk the ranking and take a member unless it already holds LoadCap
//     replicas, or taking it would leave the partitions after p impossible to
//     place within the cap (see below). Stop at min(replicas, len(members)).
//  3. The replica set is in the order taken: the first is the preferred leader.
//
// Look-ahead: with q partitions after p, each needing w distinct members, and
// c_i the room left under the cap on member i, the rest can be placed iff
// sum_i min(c_i, q) >= q*w. Taking a member with c_i > q costs nothing; one
// with c_i <= q costs one unit of that slack, so step 2 takes at most slack
// such members for p. This only ever acts near the end of the walk, and it
// guarantees that Place never fails and never exceeds the cap.
func Place(partitions, replicas int, members []Member) (*Placement, error) {
	switch {
	case partitions < 1 || partitions > MaxPartitions:
		return nil, ErrPartitions
	case replicas < 1:
		return nil, ErrReplicas
	case len(members) == 0:
		return nil, ErrNoMembers
	}
	ids := make([]string, len(members))
	for i, m := range members {
		if m.ID == "" {
			return nil, ErrEmptyID
		}
		ids[i] = m.ID
	}
	slices.Sort(ids)
	for i := 1; i < len(ids); i++ {
		if ids[i] == ids[i-1] {
			return nil, fmt.Errorf("%w: %q", ErrDuplicateID, ids[i])
		}
	}

	n := len(ids)
	w := min(replicas, n)
	limit := LoadCap(partitions, replicas, n)
	pl := &Placement{
		partitions: partitions,
		replicas:   replicas,
		width:      w,
		members:    ids,
		table:      make([]string, 0, partitions*w),
		loads:      make([]int, n),
		leaders:    make([]int, n),
	}
	hashes := make([]uint64, n)
	for i, id := range ids {
		hashes[i] = HashString(id)
	}
	type cand struct {
		score uint64
		idx   int
	}
	ranked := make([]cand, n)
	picked := make([]int, 0, w)
	for p := 0; p < partitions; p++ {
		q := partitions - p - 1
		slack := -q * w
		for i := range n {
			slack += min(limit-pl.loads[i], q)
		}
		for i := range n {
			ranked[i] = cand{score(hashes[i], p), i}
		}
		slices.SortFunc(ranked, func(a, b cand) int {
			if a.score != b.score {
				if a.score > b.score {
					return -1
				}
				return 1
			}
			return a.idx - b.idx // ids are sorted and unique
		})
		picked = picked[:0]
		for _, c := range ranked {
			room := limit - pl.loads[c.idx]
			if room <= 0 {
				continue
			}
			if room <= q {
				if slack == 0 {
					continue
				}
				slack--
			}
			picked = append(picked, c.idx)
			if len(picked) == w {
				break
			}
		}
		if len(picked) != w {
			// Unreachable: the look-ahead keeps the remainder placeable.
			panic(fmt.Sprintf("ring: internal error: partition %d got %d of %d replicas", p, len(picked), w))
		}
		pl.leaders[picked[0]]++
		for _, i := range picked {
			pl.loads[i]++
			pl.table = append(pl.table, ids[i])
		}
	}
	pl.sig = pl.signature()
	return pl, nil
}

// signature hashes, with Hash64, this encoding of the inputs and the result:
//
//	"roam/ring" algorithmVersion partitions replicas len(members)
//	for each member id (sorted): len(id) id
//	for each partition, for each replica: index of the member in the sorted ids
//
// with every number as a uvarint.
func (pl *Placement) signature() uint64 {
	buf := make([]byte, 0, 32+len(pl.members)*16+len(pl.table)*2)
	buf = append(buf, "roam/ring"...)
	buf = binary.AppendUvarint(buf, algorithmVersion)
	buf = binary.AppendUvarint(buf, uint64(pl.partitions))
	buf = binary.AppendUvarint(buf, uint64(pl.replicas))
	buf = binary.AppendUvarint(buf, uint64(len(pl.members)))
	for _, id := range pl.members {
		buf = binary.AppendUvarint(buf, uint64(len(id)))
		buf = append(buf, id...)
	}
	for _, id := range pl.table {
		i, _ := slices.BinarySearch(pl.members, id)
		buf = binary.AppendUvarint(buf, uint64(i))
	}
	return Hash64(buf)
}

// Partitions returns the partition count.
func (pl *Placement) Partitions() int { return pl.partitions }

// ReplicationFactor returns the replication factor asked of Place; each
// partition has min(ReplicationFactor(), len(Members())) replicas.
func (pl *Placement) ReplicationFactor() int { return pl.replicas }

// Members returns the member ids, sorted. The caller must not modify it.
func (pl *Placement) Members() []string { return pl.members[:len(pl.members):len(pl.members)] }

// Replicas returns the ids of the members holding partition pid, in order of
// preference: the first is the preferred leader. It returns nil if pid is out
// of range. It does not allocate; the caller must not modify the slice.
func (pl *Placement) Replicas(pid uint16) []string {
	p := int(pid)
	if p >= pl.partitions {
		return nil
	}
	lo, hi := p*pl.width, (p+1)*pl.width
	return pl.table[lo:hi:hi]
}

// Leader returns the preferred leader of partition pid (its first replica),
// or "" if pid is out of range.
func (pl *Placement) Leader(pid uint16) string {
	if int(pid) >= pl.partitions {
		return ""
	}
	return pl.table[int(pid)*pl.width]
}

// Signature returns a digest of the inputs (partitions, replication factor,
// member ids) and of every replica set, so that nodes can compare their views
// with one number. Equal inputs, in any order, give equal signatures; any
// change of membership changes it (up to 64-bit hash collisions).
func (pl *Placement) Signature() uint64 { return pl.sig }

// Load returns how many replicas each member holds. Every member is present,
// with 0 if it holds none. The map is a fresh copy.
func (pl *Placement) Load() map[string]int {
	m := make(map[string]int, len(pl.members))
	for i, id := range pl.members {
		m[id] = pl.loads[i]
	}
	return m
}

// LeaderLoad returns how many partitions each member is the preferred leader
// of. Every member is present. The map is a fresh copy.
func (pl *Placement) LeaderLoad() map[string]int {
	m := make(map[string]int, len(pl.members))
	for i, id := range pl.members {
		m[id] = pl.leaders[i]
	}
	return m
}

// PartitionsOf returns, in increasing order, the partitions of which member id
// holds a replica; nil if it holds none or is not a member.
func (pl *Placement) PartitionsOf(id string) []uint16 {
	var out []uint16
	for p := range pl.partitions {
		if slices.Contains(pl.table[p*pl.width:(p+1)*pl.width], id) {
			out = append(out, uint16(p))
		}
	}
	return out
}
