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

// makeSimKinds are the fault kinds of `make sim`.
var makeSimKinds = []string{FaultKill, FaultPause, FaultLeave, FaultJoin, FaultPartition, FaultDisconnect, FaultGateDrop, FaultGateReset, FaultClientReset}

// The `make sim` scenario (seed 1, 95 s, 3 nodes) has every fault kind,
// node faults never overlap, the first gatedrop drops every item kind at
// p >= 0.5 and the first clientreset hits every node.
func TestPlanFaultsMakeSim(t *testing.T) {
	plan := PlanFaults(1, 95*time.Second, 3, makeSimKinds, 5*time.Second, 75)
	seen := map[string]bool{}
	var busyUntil time.Duration
	for _, f := range plan {
		if f.Kind == FaultGateDrop && !seen[f.Kind] && (f.Kinds != nil || f.P < 0.5) {
			t.Errorf("first gatedrop %v: want every kind at p >= 0.5", f)
		}
		if f.Kind == FaultClientReset && !seen[f.Kind] && f.Node != AllNodes {
			t.Errorf("first clientreset %v: want every node", f)
		}
		seen[f.Kind] = true
		if f.Kind == FaultDisconnect {
			continue
		}
		if f.At < busyUntil {
			t.Fatalf("%v overlaps the previous node fault", f)
		}
		busyUntil = f.At + f.Dur
		if (f.Kind == FaultGateReset || f.Kind == FaultClientReset) && f.Every <= 0 {
			t.Errorf("%v: no spacing", f)
		}
	}
	for _, k := range makeSimKinds {
		if !seen[k] {
			t.Errorf("no %s in the plan: %v", k, plan)
		}
	}
}

func TestParseKinds(t *testing.T) {
	k, err := ParseKinds("kill, gatedrop,gatereset,clientreset,")
	if err != nil || len(k) != 4 {
		t.Fatalf("%v %v", k, err)
	}
	if _, err := ParseKinds("kill,bogus"); err == nil {
		t.Fatal("accepted an unknown kind")
	}
}
