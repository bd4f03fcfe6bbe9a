package hist

import (
	"slices"
	"sync"
	"testing"
)

func TestHistogram_BucketsAreUpperBoundsInclusive(t *testing.T) {
	h := New(1, 2, 4, 8)
	for _, v := range []int64{0, 1, 2, 3, 4, 5, 8, 9, 100} {
		h.Observe(v)
	}
	s := h.Snapshot()
	if want := []uint64{2, 1, 2, 2, 2}; !slices.Equal(s.Counts, want) {
		t.Fatalf("counts %v, want %v", s.Counts, want)
	}
	if want := []uint64{2, 3, 5, 7}; !slices.Equal(s.Cumulative(), want) {
		t.Fatalf("cumulative %v, want %v", s.Cumulative(), want)
	}
	if s.Count() != 9 || s.Sum != 132 {
		t.Fatalf("count %d sum %d, want 9 and 132", s.Count(), s.Sum)
	}
}

func TestHistogram_ConcurrentObservationsAllCounted(t *testing.T) {
	h := New(10, 100)
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 1000; i++ {
				h.Observe(int64(i % 200))
			}
		}()
	}
	wg.Wait()
	s := h.Snapshot()
	if s.Count() != 8000 {
		t.Fatalf("count %d, want 8000", s.Count())
	}
	// Per goroutine: 0..10 is 11 values of each 200, 5 rounds of 200.
	if s.Counts[0] != 8*5*11 {
		t.Fatalf("first bucket %d, want %d", s.Counts[0], 8*5*11)
	}
}

func TestSnapshot_Add(t *testing.T) {
	a, b := New(1, 2), New(1, 2)
	a.Observe(1)
	b.Observe(2)
	b.Observe(3)
	s := a.Snapshot().Add(b.Snapshot())
	if !slices.Equal(s.Counts, []uint64{1, 1, 1}) || s.Sum != 6 {
		t.Fatalf("sum of snapshots %+v", s)
	}
	if z := (Snapshot{}).Add(s); !slices.Equal(z.Counts, s.Counts) {
		t.Fatalf("zero + s = %+v", z)
	}
}

func TestNew_RefusesUnsortedBounds(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Fatal("no panic for descending bounds")
		}
	}()
	New(2, 1)
}
