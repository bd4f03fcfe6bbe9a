package vlr

import (
	"fmt"
	"testing"
	"time"
)

// TestTombstones_Table: a cancellation is found for its exact (user,
// device, epoch) until it expires; the bound drops the oldest first.
func TestTombstones_Table(t *testing.T) {
	t0 := time.Unix(1000, 0)
	k := func(u string, e uint64) tombKey { return tombKey{user: u, device: "d", epoch: e} }
	cases := []struct {
		name string
		run  func(ts *tombstones) (found []bool)
		want []bool
	}{
		{"found, other epochs and devices not", func(ts *tombstones) []bool {
			ts.add(k("ann", 3), "session_replaced", t0)
			_, a := ts.find(k("ann", 3), t0.Add(time.Second))
			_, b := ts.find(k("ann", 4), t0.Add(time.Second))
			_, c := ts.find(tombKey{"ann", "e", 3}, t0.Add(time.Second))
			return []bool{a, b, c}
		}, []bool{true, false, false}},
		{"expires after the ttl", func(ts *tombstones) []bool {
			ts.add(k("ann", 3), "x", t0)
			_, a := ts.find(k("ann", 3), t0.Add(29*time.Second))
			_, b := ts.find(k("ann", 3), t0.Add(30*time.Second))
			return []bool{a, b, ts.len() == 0}
		}, []bool{true, false, true}},
		{"the bound drops the oldest", func(ts *tombstones) []bool {
			for i := 0; i < 5; i++ {
				ts.add(k(fmt.Sprint("u", i), 1), "x", t0.Add(time.Duration(i)*time.Millisecond))
			}
			_, a := ts.find(k("u0", 1), t0.Add(time.Second))
			_, b := ts.find(k("u1", 1), t0.Add(time.Second))
			_, c := ts.find(k("u4", 1), t0.Add(time.Second))
			return []bool{a, b, c, ts.len() == 4}
		}, []bool{false, true, true, true}},
		{"a repeat does not take another slot", func(ts *tombstones) []bool {
			for i := 0; i < 10; i++ {
				ts.add(k("ann", 1), "x", t0)
			}
			return []bool{ts.len() == 1}
		}, []bool{true}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ts := newTombstones(30*time.Second, 4)
			if got := tc.run(&ts); fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
	ts := newTombstones(time.Minute, 4)
	ts.add(k("ann", 2), "password_changed", t0)
	if r, _ := ts.find(k("ann", 2), t0); r != "password_changed" {
		t.Fatalf("reason %q", r)
	}
}
