package sim

import (
	"reflect"
	"testing"
	"time"
)

func TestPlanFaultsDeterministic(t *testing.T) {
	kinds := []string{FaultKill, FaultPause, FaultLeave, FaultJoin, FaultDisconnect}
	a := PlanFaults(7, 70*time.Second, 3, kinds, 5*time.Second, 32)
	b := PlanFaults(7, 70*time.Second, 3, kinds, 5*time.Second, 32)
	if !reflect.DeepEqual(a, b) {
		t.Fatal("same seed, different plans")
	}
	if c := PlanFaults(8, 70*time.Second, 3, kinds, 5*time.Second, 32); reflect.DeepEqual(a, c) {
		t.Fatal("different seeds, same plan")
	}
}

// The `make sim` scenario (seed 1, 70 s, 3 nodes) has every node fault,
// and node faults never overlap.
func TestPlanFaultsMakeSim(t *testing.T) {
	plan := PlanFaults(1, 70*time.Second, 3, []string{FaultKill, FaultPause, FaultLeave, FaultJoin, FaultDisconnect}, 5*time.Second, 32)
	seen := map[string]bool{}
	var busyUntil time.Duration
	for _, f := range plan {
		seen[f.Kind] = true
		if f.Kind == FaultDisconnect {
			continue
		}
		if f.At < busyUntil {
			t.Fatalf("%v overlaps the previous node fault", f)
		}
		busyUntil = f.At + f.Dur
	}
	for _, k := range []string{FaultKill, FaultPause, FaultLeave, FaultJoin, FaultDisconnect} {
		if !seen[k] {
			t.Errorf("no %s in the plan: %v", k, plan)
		}
	}
}
