package ring

import (
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"slices"
	"testing"
)

// members returns n members named with one of a few naming schemes, so that
// the properties below are not an accident of one set of names.
func members(scheme, n int) []Member {
	ms := make([]Member, n)
	for i := range ms {
		switch scheme {
		case 0:
			ms[i].ID = fmt.Sprintf("node-%d", i+1)
		case 1:
			ms[i].ID = fmt.Sprintf("10.0.%d.%d:7946", i/4, 10+i)
		default:
			ms[i].ID = fmt.Sprintf("%016x", HashString(fmt.Sprint("seed", scheme, i)))
		}
	}
	return ms
}

const schemes = 3

func mustPlace(t testing.TB, p, r int, ms []Member) *Placement {
	t.Helper()
	pl, err := Place(p, r, ms)
	if err != nil {
		t.Fatalf("Place(%d, %d, %d members): %v", p, r, len(ms), err)
	}
	return pl
}

func TestHashIsFNV1aThenFmix(t *testing.T) {
	for _, s := range []string{"", "a", "alice", "user0", "userp", "ünïcødé", string(make([]byte, 300))} {
		f := fnv.New64a()
		f.Write([]byte(s))
		if got, want := fnv1a64(s), f.Sum64(); got != want {
			t.Errorf("fnv1a64(%q) = %#x, hash/fnv says %#x", s, got, want)
		}
		if Hash64([]byte(s)) != HashString(s) {
			t.Errorf("Hash64 and HashString differ on %q", s)
		}
	}
	// The finalizer separates names that differ only in bits 6-7 of a byte,
	// which plain FNV-1a cannot do modulo 64.
	if PartitionOf("user0", 64) == PartitionOf("userp", 64) &&
		PartitionOf("user1", 64) == PartitionOf("userq", 64) {
		t.Error("low-bit weakness of FNV-1a not removed")
	}
}

func TestPartitionOfRange(t *testing.T) {
	for _, n := range []int{1, 2, 3, 64, 100, 256, MaxPartitions} {
		for i := range 1000 {
			if p := PartitionOf(fmt.Sprint("u", i), n); int(p) >= n {
				t.Fatalf("PartitionOf(.., %d) = %d", n, p)
			}
		}
	}
	for _, n := range []int{0, -1, MaxPartitions + 1} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("PartitionOf(.., %d) did not panic", n)
				}
			}()
			PartitionOf("x", n)
		}()
	}
}

func TestPartitionOfSpread(t *testing.T) {
	const P, users = 64, 64000
	var count [P]int
	for i := range users {
		count[PartitionOf(fmt.Sprintf("user%d", i), P)]++
	}
	lo, hi := slices.Min(count[:]), slices.Max(count[:])
	t.Logf("%d users over %d partitions: min %d, max %d, mean %d", users, P, lo, hi, users/P)
	// mean 1000, sd ~31: 5 sd either side.
	if lo < 845 || hi > 1155 {
		t.Errorf("partition sizes %d..%d, want within 1000±155", lo, hi)
	}
}

func TestPartitionOfAllocs(t *testing.T) {
	user := "some.user@example"
	if n := testing.AllocsPerRun(100, func() { PartitionOf(user, 64) }); n != 0 {
		t.Errorf("PartitionOf allocates %v times", n)
	}
}

func TestPlaceErrors(t *testing.T) {
	ok := members(0, 3)
	for _, c := range []struct {
		p, r int
		ms   []Member
		want error
	}{
		{0, 3, ok, ErrPartitions},
		{-1, 3, ok, ErrPartitions},
		{MaxPartitions + 1, 3, ok, ErrPartitions},
		{64, 0, ok, ErrReplicas},
		{64, -2, ok, ErrReplicas},
		{64, 3, nil, ErrNoMembers},
		{64, 3, []Member{}, ErrNoMembers},
		{64, 3, []Member{{"a"}, {""}}, ErrEmptyID},
		{64, 3, []Member{{"a"}, {"b"}, {"a"}}, ErrDuplicateID},
	} {
		if _, err := Place(c.p, c.r, c.ms); !errors.Is(err, c.want) {
			t.Errorf("Place(%d, %d, %v) error %v, want %v", c.p, c.r, c.ms, err, c.want)
		}
	}
}

// checkPlacement asserts the structural invariants of a placement.
func checkPlacement(t *testing.T, pl *Placement, p, r int, ms []Member) {
	t.Helper()
	w := min(r, len(ms))
	valid := map[string]bool{}
	for _, m := range ms {
		valid[m.ID] = true
	}
	load := map[string]int{}
	for pid := range p {
		reps := pl.Replicas(uint16(pid))
		if len(reps) != w {
			t.Fatalf("P=%d R=%d N=%d: partition %d has %d replicas, want %d", p, r, len(ms), pid, len(reps), w)
		}
		seen := map[string]bool{}
		for _, id := range reps {
			if !valid[id] {
				t.Fatalf("partition %d on non-member %q", pid, id)
			}
			if seen[id] {
				t.Fatalf("partition %d has duplicate replica %q: %v", pid, id, reps)
			}
			seen[id] = true
			load[id]++
		}
		if pl.Leader(uint16(pid)) != reps[0] {
			t.Fatalf("Leader(%d) != Replicas[0]", pid)
		}
	}
	got := pl.Load()
	limit := LoadCap(p, r, len(ms))
	for _, m := range ms {
		if got[m.ID] != load[m.ID] {
			t.Fatalf("Load()[%q] = %d, counted %d", m.ID, got[m.ID], load[m.ID])
		}
		if load[m.ID] > limit {
			t.Fatalf("P=%d R=%d N=%d: %q holds %d > cap %d", p, r, len(ms), m.ID, load[m.ID], limit)
		}
	}
	if len(got) != len(ms) {
		t.Fatalf("Load() has %d entries, want %d", len(got), len(ms))
	}
	if pl.Replicas(uint16(p)) != nil && p < MaxPartitions {
		t.Fatalf("Replicas(%d) out of range not nil", p)
	}
}

func TestPlaceInvariants(t *testing.T) {
	for _, p := range []int{1, 2, 7, 64, 256} {
		for _, r := range []int{1, 2, 3, 5} {
			for n := 1; n <= 13; n++ {
				for s := range schemes {
					ms := members(s, n)
					checkPlacement(t, mustPlace(t, p, r, ms), p, r, ms)
				}
			}
		}
	}
}

// TestPlaceRandom checks the invariants, and that the cap is never exceeded
// (Place panics if its look-ahead fails), on random shapes and names.
func TestPlaceRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 300 {
		p, r, n := 1+rng.IntN(400), 1+rng.IntN(6), 1+rng.IntN(40)
		ms := make([]Member, n)
		for i := range ms {
			ms[i].ID = fmt.Sprintf("m%x-%d", rng.Uint64(), i)
		}
		checkPlacement(t, mustPlace(t, p, r, ms), p, r, ms)
	}
}

func TestLoadCap(t *testing.T) {
	for _, c := range []struct{ p, r, n, want int }{
		{64, 3, 3, 64},  // every member holds every partition
		{64, 3, 4, 55},  // T=192, mean 48, 1.15*48 = 55.2
		{64, 3, 12, 18}, // mean 16, 18.4
		{64, 3, 64, 3},  // mean 3: ceil(mean) = 3 = floor(3.45)
		{64, 3, 100, 2}, // mean 1.92: ceil wins
		{1, 1, 5, 1},
		{0, 3, 3, 0},
	} {
		if got := LoadCap(c.p, c.r, c.n); got != c.want {
			t.Errorf("LoadCap(%d, %d, %d) = %d, want %d", c.p, c.r, c.n, got, c.want)
		}
	}
}

func TestBalance(t *testing.T) {
	const R = 3
	for _, p := range []int{64, 256} {
		for n := 3; n <= 12; n++ {
			worst, worstLeader := 0.0, 0.0
			for s := range schemes {
				ms := members(s, n)
				pl := mustPlace(t, p, R, ms)
				mean := float64(p*min(R, n)) / float64(n)
				maxLoad := 0
				for _, l := range pl.Load() {
					maxLoad = max(maxLoad, l)
				}
				ratio := float64(maxLoad) / mean
				if ratio > 1.15 {
					t.Errorf("P=%d N=%d scheme %d: max load %d = %.3f x mean %.2f, want <= 1.15", p, n, s, maxLoad, ratio, mean)
				}
				worst = max(worst, ratio)
				maxLeader := 0
				for _, l := range pl.LeaderLoad() {
					maxLeader = max(maxLeader, l)
				}
				worstLeader = max(worstLeader, float64(maxLeader)*float64(n)/float64(p))
			}
			t.Logf("P=%3d R=%d N=%2d: cap %3d, mean %6.2f, worst max/mean %.3f (leaders: worst max/mean %.3f)",
				p, R, n, LoadCap(p, R, n), float64(p*R)/float64(n), worst, worstLeader)
		}
	}
}

// moved counts the replicas of b that a does not have: the copies that must
// be made to go from a to b.
func moved(a, b *Placement) (replicas, leaders int) {
	for pid := range a.Partitions() {
		ra, rb := a.Replicas(uint16(pid)), b.Replicas(uint16(pid))
		for _, id := range rb {
			if !slices.Contains(ra, id) {
				replicas++
			}
		}
		if ra[0] != rb[0] {
			leaders++
		}
	}
	return replicas, leaders
}

// TestMovementAdd adds one member to N and bounds the replicas that move.
//
// Ideal rendezvous hashing moves exactly the replicas the new member takes,
// T/(N+1) on average. The bound is 1.5 times that: the new member alone may
// take up to the cap (1.15 x its share), and the cap shifts some replicas
// among the old members (it drops from ~1.15*T/N to ~1.15*T/(N+1), so members
// near the old cap spill partitions to their next choices); the remaining
// 0.35 covers that spill. Measured worst here: 1.302 (P=64, N=9->10). The
// bound is about the pinned names below; TestMovementRandomNames shows the
// spread over many name sets, whose tail slightly exceeds 1.5 at P=64.
func TestMovementAdd(t *testing.T) {
	const R = 3
	for _, p := range []int{64, 256} {
		for n := 3; n <= 10; n++ {
			worst, worstLeaders := 0.0, 0.0
			for s := range schemes {
				all := members(s, n+1)
				before := mustPlace(t, p, R, all[:n])
				after := mustPlace(t, p, R, all)
				total := p * R
				ideal := float64(total) / float64(n+1)
				m, l := moved(before, after)
				if m == 0 {
					t.Errorf("P=%d N=%d->%d scheme %d: nothing moved", p, n, n+1, s)
				}
				if float64(m) > 1.5*ideal {
					t.Errorf("P=%d N=%d->%d scheme %d: moved %d replicas, want <= 1.5 x %.1f", p, n, n+1, s, m, ideal)
				}
				newLoad := after.Load()[all[n].ID]
				if extra := m - newLoad; extra < 0 {
					t.Errorf("moved %d < load of new member %d", m, newLoad)
				}
				worst = max(worst, float64(m)/ideal)
				worstLeaders = max(worstLeaders, float64(l)/(float64(p)/float64(n+1)))
			}
			t.Logf("add    P=%3d R=%d N=%2d->%2d: ideal %6.1f moved, worst moved/ideal %.3f (leader changes/ideal %.3f)",
				p, R, n, n+1, float64(p*R)/float64(n+1), worst, worstLeaders)
		}
	}
}

// TestMovementRemove removes each member in turn from N. The replicas it held
// must move ("forced"); anything else that moves is spill caused by the cap,
// which rises when N shrinks, so members that were full take back partitions
// they had to give up. The spill is asserted to stay under 5% of all replicas
// (measured worst here: 7 of 192, 3.6%, at P=64 N=12->11; for random names
// see TestMovementRandomNames). While the cap does not bind (N <= 5 here) the
// spill is zero: only the removed member's replicas move.
func TestMovementRemove(t *testing.T) {
	const R = 3
	for _, p := range []int{64, 256} {
		for n := 4; n <= 12; n++ {
			worstSpill, worstFrac, sumSpill, cases := 0, 0.0, 0, 0
			for s := range schemes {
				all := members(s, n)
				before := mustPlace(t, p, R, all)
				for x := range n {
					rest := slices.Delete(slices.Clone(all), x, x+1)
					after := mustPlace(t, p, R, rest)
					forced := before.Load()[all[x].ID]
					m, _ := moved(before, after)
					spill := m - forced
					if spill < 0 {
						t.Fatalf("moved %d < forced %d", m, forced)
					}
					if total := p * R; spill*20 > total {
						t.Errorf("P=%d N=%d->%d scheme %d remove %q: moved %d, forced %d, spill %d > 5%% of %d",
							p, n, n-1, s, all[x].ID, m, forced, spill, total)
					}
					worstSpill = max(worstSpill, spill)
					worstFrac = max(worstFrac, float64(spill)/float64(forced))
					sumSpill += spill
					cases++
				}
			}
			t.Logf("remove P=%3d R=%d N=%2d->%2d: forced ~%6.1f, spill mean %5.2f, worst %d (%.1f%% of all replicas, %.3f x forced)",
				p, R, n, n-1, float64(p*R)/float64(n), float64(sumSpill)/float64(cases),
				worstSpill, 100*float64(worstSpill)/float64(p*R), worstFrac)
		}
	}
}

// TestMovementRandomNames repeats the add and remove measurements over many
// seeded random member-name sets, to show the distribution rather than three
// fixed name sets. Assertions: mean moved/ideal on add <= 1.2 and worst <= 1.75
// (the 1.5 of TestMovementAdd is exceeded by a few name sets at P=64 N>=9,
// where the mean load is ~20 and a 15% cap is ~1 standard deviation); removal
// spill <= 5% of all replicas.
func TestMovementRandomNames(t *testing.T) {
	if testing.Short() {
		t.Skip("slow-ish")
	}
	const R, sets = 3, 300
	quant := func(xs []float64, f float64) float64 {
		xs = slices.Clone(xs)
		slices.Sort(xs)
		return xs[int(f*float64(len(xs)-1))]
	}
	for _, p := range []int{64, 256} {
		for n := 3; n <= 10; n++ {
			var add, spill []float64
			total := p * R
			for s := range sets {
				all := make([]Member, n+1)
				for i := range all {
					all[i].ID = fmt.Sprintf("%016x", HashString(fmt.Sprint("random-names", s, i)))
				}
				before := mustPlace(t, p, R, all[:n])
				m, _ := moved(before, mustPlace(t, p, R, all))
				add = append(add, float64(m)*float64(n+1)/float64(total))
				if n > R {
					x := s % n
					after := mustPlace(t, p, R, slices.Delete(slices.Clone(all[:n]), x, x+1))
					m, _ := moved(before, after)
					spill = append(spill, float64(m-before.Load()[all[x].ID])/float64(total))
				}
			}
			var sum float64
			for _, a := range add {
				sum += a
			}
			mean := sum / float64(len(add))
			if mean > 1.2 || quant(add, 1) > 1.75 {
				t.Errorf("P=%d N=%d->%d: moved/ideal mean %.3f max %.3f, want <= 1.2 and <= 1.75", p, n, n+1, mean, quant(add, 1))
			}
			line := fmt.Sprintf("random names P=%3d N=%2d: add moved/ideal mean %.3f p99 %.3f max %.3f",
				p, n, mean, quant(add, .99), quant(add, 1))
			if len(spill) > 0 {
				if quant(spill, 1) > 0.05 {
					t.Errorf("P=%d N=%d->%d: removal spill %.3f of all replicas, want <= 0.05", p, n, n-1, quant(spill, 1))
				}
				line += fmt.Sprintf(" | remove spill/total p99 %.3f max %.3f", quant(spill, .99), quant(spill, 1))
			}
			t.Log(line)
		}
	}
}

func TestSignature(t *testing.T) {
	ms := members(0, 5)
	base := mustPlace(t, 64, 3, ms)
	rng := rand.New(rand.NewPCG(3, 4))
	for range 20 {
		perm := slices.Clone(ms)
		rng.Shuffle(len(perm), func(i, j int) { perm[i], perm[j] = perm[j], perm[i] })
		pl := mustPlace(t, 64, 3, perm)
		if pl.Signature() != base.Signature() {
			t.Fatalf("permuted input %v: signature %#x != %#x", perm, pl.Signature(), base.Signature())
		}
		for pid := range 64 {
			if !slices.Equal(pl.Replicas(uint16(pid)), base.Replicas(uint16(pid))) {
				t.Fatalf("permuted input changed partition %d", pid)
			}
		}
	}
	seen := map[uint64]string{base.Signature(): "base"}
	check := func(name string, pl *Placement) {
		t.Helper()
		if prev, dup := seen[pl.Signature()]; dup {
			t.Errorf("%s has the same signature as %s", name, prev)
		}
		seen[pl.Signature()] = name
	}
	check("added member", mustPlace(t, 64, 3, append(slices.Clone(ms), Member{"node-6"})))
	check("removed member", mustPlace(t, 64, 3, ms[:4]))
	check("renamed member", mustPlace(t, 64, 3, append(slices.Clone(ms[:4]), Member{"node-5b"})))
	check("replicas 2", mustPlace(t, 64, 2, ms))
	check("partitions 65", mustPlace(t, 65, 3, ms))
	// replicas >= members: same sets, but the inputs differ and so does the view.
	a, b := mustPlace(t, 64, 5, ms), mustPlace(t, 64, 6, ms)
	if a.Signature() == b.Signature() {
		t.Error("replicas 5 and 6 on 5 members have the same signature")
	}
}

func TestPartitionsOf(t *testing.T) {
	ms := members(0, 5)
	pl := mustPlace(t, 64, 3, ms)
	total := 0
	for _, m := range ms {
		ps := pl.PartitionsOf(m.ID)
		if len(ps) != pl.Load()[m.ID] {
			t.Errorf("PartitionsOf(%q) has %d, load %d", m.ID, len(ps), pl.Load()[m.ID])
		}
		for _, p := range ps {
			if !slices.Contains(pl.Replicas(p), m.ID) {
				t.Errorf("PartitionsOf(%q) lists %d which it does not hold", m.ID, p)
			}
		}
		total += len(ps)
	}
	if total != 64*3 {
		t.Errorf("PartitionsOf covers %d replicas, want %d", total, 64*3)
	}
	if pl.PartitionsOf("stranger") != nil {
		t.Error("PartitionsOf(non-member) not nil")
	}
}

func TestReplicasNoAlloc(t *testing.T) {
	pl := mustPlace(t, 64, 3, members(0, 5))
	if n := testing.AllocsPerRun(100, func() { pl.Replicas(17) }); n != 0 {
		t.Errorf("Replicas allocates %v times", n)
	}
	// Appending to the result must not overwrite the next partition.
	next := slices.Clone(pl.Replicas(18))
	_ = append(pl.Replicas(17), "x")
	if !slices.Equal(pl.Replicas(18), next) {
		t.Error("append to Replicas(17) overwrote Replicas(18)")
	}
}

var sinkPID uint16
var sinkReps []string

func BenchmarkPartitionOf(b *testing.B) {
	users := []string{"alice", "bob@example.com", "a-rather-longer-user-name-0123456789"}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		sinkPID = PartitionOf(users[i%len(users)], 64)
	}
}

func BenchmarkReplicas(b *testing.B) {
	pl := mustPlace(b, 64, 3, members(0, 7))
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		sinkReps = pl.Replicas(uint16(i & 63))
	}
}

func BenchmarkUserToReplicas(b *testing.B) {
	pl := mustPlace(b, 64, 3, members(0, 7))
	b.ReportAllocs()
	for b.Loop() {
		sinkReps = pl.Replicas(PartitionOf("bob@example.com", 64))
	}
}

func BenchmarkPlace(b *testing.B) {
	for _, c := range []struct{ p, n int }{{64, 5}, {256, 12}, {1024, 50}} {
		ms := members(0, c.n)
		b.Run(fmt.Sprintf("P=%d/N=%d", c.p, c.n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Place(c.p, 3, ms); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
