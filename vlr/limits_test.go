package vlr

import (
	"strconv"
	"testing"
	"time"
)

// TestBuckets_CheckSpendsNothingAndSpendAfterTheFact: check only looks;
// spend takes a token after the fact (and may overdraw, refilling later).
func TestBuckets_CheckSpendsNothingAndSpendAfterTheFact(t *testing.T) {
	b := newBuckets(1, 2)
	now := time.Unix(1000, 0)
	for i := 0; i < 5; i++ {
		if ok, _ := b.check("u", now); !ok {
			t.Fatal("check spent a token")
		}
	}
	b.spend("u", now)
	b.spend("u", now)
	ok, wait := b.check("u", now)
	if ok || wait <= 0 || wait > 1100*time.Millisecond {
		t.Fatalf("after two spends: ok=%v wait=%v", ok, wait)
	}
	b.spend("u", now) // a concurrent success overdraws
	if ok, _ := b.check("u", now.Add(1500*time.Millisecond)); ok {
		t.Fatal("an overdrawn bucket refilled too soon")
	}
	if ok, _ := b.check("u", now.Add(2100*time.Millisecond)); !ok {
		t.Fatal("the bucket did not refill")
	}
}

// TestLimiterTables_AreCapped: a flood of distinct keys at one instant
// (nothing can be pruned) keeps every table at most maxKeys entries.
func TestLimiterTables_AreCapped(t *testing.T) {
	b := newBuckets(0.001, 1)
	f := newFailures(3, time.Minute, time.Minute)
	now := time.Unix(1000, 0)
	for i := 0; i < maxKeys+5000; i++ {
		k := strconv.Itoa(i)
		b.take(k, now)
		f.fail(k, now)
	}
	if n := b.size(); n > maxKeys {
		t.Fatalf("%d buckets kept, cap %d", n, maxKeys)
	}
	if n := f.size(); n > maxKeys {
		t.Fatalf("%d failure records kept, cap %d", n, maxKeys)
	}
}
