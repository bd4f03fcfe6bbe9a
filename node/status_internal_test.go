package node

import (
	"testing"
	"time"
)

// TestReadyState_GraceOnlyAfterReady: before the node has been ready
// nothing missing is forgiven; after, what stays missing for ReadyGrace
// is not, and a look that sees everything ends the grace.
func TestReadyState_GraceOnlyAfterReady(t *testing.T) {
	var r readyState
	t0 := time.Unix(1000, 0)
	steps := []struct {
		at   time.Duration
		ok   bool
		want bool
	}{
		{0, false, false},              // starting: not ready
		{time.Second, true, true},      // ready
		{2 * time.Second, false, true}, // a leader moving: still ready
		{2*time.Second + ReadyGrace - time.Millisecond, false, true},
		{2*time.Second + ReadyGrace, false, false}, // missing for the whole grace
		{10 * time.Second, true, true},
		{11 * time.Second, false, true}, // a new grace starts
	}
	for i, s := range steps {
		if got := r.graced(s.ok, t0.Add(s.at)); got != s.want {
			t.Fatalf("step %d (at %v, ok %v): ready %v, want %v", i, s.at, s.ok, got, s.want)
		}
	}
}
